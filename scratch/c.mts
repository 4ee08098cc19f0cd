import { startNode } from '/work/wt-tree/src/runtime/startNode.ts';
import { EmbeddedBus } from '/work/wt-tree/src/transport/EmbeddedBus.ts';
const bus = new EmbeddedBus();
const reports: string[] = [];
const a = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, onError: (r) => reports.push(`${r.code} ${r.source} ${r.action}`) });
const b = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0 });
await (await a.send({ toNode: 'ship1', method: 'REQPing', replyMethod: 'REQPong' })).reply;
console.log(await a.crashChild('outbound/central~ship1~REQPing'));
console.log(await a.crashChild('inbound/REQPong'));
await new Promise((r) => setTimeout(r, 200));
await (await a.send({ toNode: 'ship1', method: 'REQPing', replyMethod: 'REQPong' })).reply;
const t = a.tree();
console.log(t.children.find((c) => c.id === 'outbound')!.children.map((c) => [c.id, c.restarts]), t.children.find((c) => c.id === 'inbound')!.children.filter((c) => c.restarts > 0).map((c) => [c.id, c.restarts]));
console.log(reports);
try { await a.crashChild('nothing/here'); } catch (e) { console.log(String(e)); }
await a.stop(100); await b.stop(100);
