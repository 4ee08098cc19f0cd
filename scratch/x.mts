import { messageMachine } from '/work/wt-tree/actors/messageMachine.ts';
const n = messageMachine.getStateNodeById('message.awaitingAck');
console.log(Object.keys(n.on), n.on['ACK_TIMEOUT'].map((t: any) => [!!t.guard, t.target?.map((x: any) => x.key)]), n.on['ACKED'].map((t: any) => [!!t.guard]));
const f = messageMachine.getStateNodeById('message.acked'); console.log(f.on, f.type);
