import { afterEach, describe, expect, it } from 'vitest';
import { startNode } from '../src/runtime/startNode.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { recorder, replyCollector } from './helpers/recorder.ts';
import { until } from './helpers/until.ts';

const nodes: BosunNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
});

describe('REQOpCommand on a running node', () => {
  it('lists subscribers, stops one (its messages wait), and starts it again for some senders only', async () => {
    const bus = new EmbeddedBus();
    const rec = recorder();
    const { method: inbox, replies } = replyCollector('REQTestInbox');
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: [inbox] });
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0, methods: rec.methods });
    const ship2 = await startNode({ node: 'ship2', bus, helloIntervalSeconds: 0 });
    nodes.push(central, ship1, ship2);
    const op = async (operation: object) => {
      const before = replies.length;
      await central.accept({ toNode: 'ship1', method: 'REQOpCommand', methodArgs: [JSON.stringify(operation)], replyMethod: 'REQTestInbox' });
      await until(() => replies.length > before);
      return replies[replies.length - 1]!;
    };

    const ps = await op({ opCmd: 'ps' });
    expect(ps.data).toContain('REQTestRecord');

    await op({ opCmd: 'stopProc', opArg: { method: 'REQTestRecord' } });
    await central.accept({ toNode: 'ship1', method: 'REQTestRecord', data: 'waits', replyMethod: 'none' });
    await new Promise((r) => setTimeout(r, 300));
    expect(rec.runs.get('ship1')).toBeUndefined();

    await op({ opCmd: 'startProc', opArg: { method: 'REQTestRecord', allowedNodes: ['central'] } });
    await until(() => rec.runs.get('ship1')?.length === 1);
    expect(rec.runs.get('ship1')).toEqual(['waits']);

    const refused = await ship2.send({ toNode: 'ship1', method: 'REQTestRecord', data: 'from ship2' });
    await refused.acked;
    await new Promise((r) => setTimeout(r, 300));
    expect(rec.runs.get('ship1')).toEqual(['waits']);
  });
});
