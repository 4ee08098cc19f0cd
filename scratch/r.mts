import { stepReceiver } from '/work/wt-tree/actors/receiverMachine.ts';
import { restoreMessage, persistMessage, applyMessageEvent } from '/work/wt-tree/actors/messageMachine.ts';
console.log(stepReceiver('idle', { type: 'WRITE' }), stepReceiver('writing', { type: 'COMMITTED' }), stepReceiver('writing', { type: 'FAILED' }), stepReceiver('idle', { type: 'COMMITTED' }));
const r = applyMessageEvent({ state: 'sending', attempts: 0, retries: 1 } as any, { type: 'SENT' });
console.log(r, restoreMessage(persistMessage(applyMessageEvent({ ...r }, { type: 'ACK_TIMEOUT' }))));
