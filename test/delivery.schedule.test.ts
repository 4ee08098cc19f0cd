import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../src/clock.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { recorder } from './helpers/recorder.ts';

describe('scheduled messages', () => {
  it('re-runs the method every interval until the total has passed, and the schedule survives a restart of the receiver', async () => {
    const clock = new VirtualClock();
    const bus = new EmbeddedBus({ clock });
    const rec = recorder();
    const store = new MemoryStore();
    const opts = { bus, clock, helloIntervalSeconds: 0, methods: rec.methods };
    const central = await startNode({ node: 'central', ...opts });
    const ship1 = await startNode({ node: 'ship1', store, ...opts });
    await central.accept({ toNode: 'ship1', method: 'REQTestRecord', data: 'tick', schedule: [10, 35], replyMethod: 'none' });
    await clock.advance(100);
    expect(rec.runs.get('ship1')).toEqual(['tick']);
    await clock.advance(10_000);
    expect(rec.runs.get('ship1')).toHaveLength(2);

    await ship1.crash();
    const again = await startNode({ node: 'ship1', store: store.crash({ powerLoss: true }), ...opts });
    await clock.advance(60_000);
    // First run at ~0 s, then 10, 20 and 30 s: 40 s would be past the 35 s total.
    expect(rec.runs.get('ship1')).toEqual(['tick', 'tick', 'tick', 'tick']);
    await Promise.all([central.stop(0), again.stop(0)]);
  });

  it('refuses a malformed schedule', async () => {
    const central = await startNode({ node: 'central', bus: new EmbeddedBus(), helloIntervalSeconds: 0 });
    const [result] = await central.accept({ toNode: 'ship1', method: 'REQNone', schedule: [10] });
    expect(result).toMatchObject({ error: { code: 'BOSUN_BAD_MESSAGE' } });
    await central.stop(0);
  });
});
