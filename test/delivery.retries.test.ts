import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../src/clock.ts';
import { startNode } from '../src/runtime/startNode.ts';
import type { NodeErrorReport } from '../src/runtime/Node.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { decodeFrame } from '../src/delivery/frames.ts';
import type { Transport } from '../src/transport/types.ts';
import { publishingThrough } from './helpers/publishingThrough.ts';
import { recorder } from './helpers/recorder.ts';

/** A bus transport that counts the data frames it publishes: each is one send attempt. */
function counting(inner: Transport): Transport & { dataFrames: number } {
  const t = Object.assign(
    publishingThrough(inner, (subject, payload) => {
      if (decodeFrame(payload)?.type === 'data' && subject.startsWith('ship1.')) t.dataFrames++;
      inner.publish(subject, payload);
    }),
    { dataFrames: 0 },
  );
  return t;
}

describe('retries survive a sender restart', () => {
  it('a message keeps the retries it was given across a crash of its sender, then is dead-lettered', async () => {
    const clock = new VirtualClock();
    const bus = new EmbeddedBus({ clock });
    const store = new MemoryStore();
    const reports: NodeErrorReport[] = [];
    const opts = { clock, helloIntervalSeconds: 0, onError: (r: NodeErrorReport) => reports.push(r) };
    const first = counting(bus.transport());
    const central = await startNode({ node: 'central', store, transport: first, ...opts });
    const attempts = () => first.dataFrames + second.dataFrames;
    const second = counting(bus.transport());
    await central.accept({ toNode: 'ship1', method: 'REQNone', ACKTimeout: 1, retryWait: 1, retries: 2 });
    await clock.advance(2500); // first send, its timeout, the retry wait, a second send
    expect(attempts()).toBe(2);

    await central.crash();
    const survived = store.crash({ powerLoss: false });
    const again = await startNode({ node: 'central', store: survived, transport: second, ...opts });
    await clock.advance(20_000);
    // Two sends before the crash, at most one retry left after it: three sends in all.
    expect(attempts()).toBe(3);
    expect(reports.filter((r) => r.code === 'BOSUN_DEAD_LETTER')).toHaveLength(1);
    await again.stop(0);
  });

  it('a node that is down receives the message when it starts within the retries given', async () => {
    const clock = new VirtualClock();
    const bus = new EmbeddedBus({ clock });
    const rec = recorder();
    const opts = { bus, clock, helloIntervalSeconds: 0, methods: rec.methods };
    const central = await startNode({ node: 'central', ...opts });
    await central.accept({ toNode: 'ship1', method: 'REQTestRecord', data: 'late', ACKTimeout: 2, retryWait: 1, retries: 10, replyMethod: 'none' });
    await clock.advance(10_000);
    const ship1 = await startNode({ node: 'ship1', ...opts });
    await clock.advance(5_000);
    expect(rec.runs.get('ship1')).toEqual(['late']);
    expect(central.idle).toBe(true);
    await Promise.all([central.stop(0), ship1.stop(0)]);
  });
});
