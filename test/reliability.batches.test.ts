import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Harness, removeHarnessFiles } from './helpers/harness.ts';

/**
 * Batches cut short by a crash, on the harness's ordered method, whose effect is an
 * append-only log per sender that batches checkpoint the way file appends do (a batch
 * holding a message numbered a multiple of three has no checkpoint).
 */

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.dispose()));
});
afterAll(() => removeHarnessFiles());

async function sendThroughCrash(ids: string[]): Promise<{ h: Harness; ran: string[] }> {
  const h = await Harness.create({ nodes: ['a', 'b'], windowSize: 16 });
  harnesses.push(h);
  const stream = h.streamOf('a', 'b', 'ordered');
  // The first message opens the stream; the rest wait in b's inbox, then run as one batch.
  await h.send('a', 'b', 'ordered', ids.slice(0, 1));
  await h.healAndDrain({ maxVirtualMs: 10_000, done: () => h.appliedByStream().get(stream)?.length === 1 });
  const subscriber = h.node('b').subscribers().get('REQTestRecord')!;
  subscriber.pause();
  await h.send('a', 'b', 'ordered', ids.slice(1));
  await h.advance(3_000);
  expect((subscriber.info as { queued: number }).queued).toBe(ids.length - 1);
  // Time moves with the crash armed (a heal and drain disarms every crash point).
  h.arm('b', 'afterApply');
  subscriber.resume();
  await h.advance(3_000);
  await h.healAndDrain({ maxVirtualMs: 60_000, done: () => ids.every((id) => h.appliedByStream().get(stream)?.includes(id) || h.unknown.has(id)) });
  return { h, ran: h.appliedByStream().get(stream) ?? [] };
}

describe('a batch cut short by a crash', () => {
  it('after its first effect, with a checkpoint: is cut back and run again, each message once, in order, none reported interrupted', async () => {
    const ids = ['x1', 'x2', 'x4', 'x5', 'x7', 'x8'];
    const { h, ran } = await sendThroughCrash(ids);
    expect(h.stats.crashPointsHit.midBatch).toBe(1);
    expect(ran).toEqual(ids);
    expect(h.unknown.size).toBe(0);
    expect(h.interruptedReports()).toEqual([]);
  });

  it('after its first effect, without a checkpoint: is reported interrupted and never run again; the rest run once, in order', async () => {
    const ids = ['y1', 'y2', 'y3', 'y4', 'y5', 'y7'];
    const { h, ran } = await sendThroughCrash(ids);
    expect(h.stats.crashPointsHit.midBatch).toBe(1);
    expect(h.unknown.size).toBeGreaterThan(0);
    expect(new Set(ran).size).toBe(ran.length);
    expect(ran).toEqual(ids.filter((id) => ran.includes(id)));
    for (const id of ids.filter((id) => !ran.includes(id))) expect(h.unknown.has(id)).toBe(true);
    for (const id of h.unknown) expect(h.interruptedReports().some((r) => r.includes(` ${id} `))).toBe(true);
  });
});
