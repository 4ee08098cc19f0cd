import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Harness, removeHarnessFiles } from './helpers/harness.ts';

/**
 * The smallest reproductions of what the reliability model found, one per fault. Each
 * was shrunk by fast-check from a random run and then written out by hand.
 */

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.dispose()));
});
afterAll(() => removeHarnessFiles());

async function harness(options: Parameters<typeof Harness.create>[0] = {}): Promise<Harness> {
  const h = await Harness.create({ nodes: ['a', 'b'], ...options });
  harnesses.push(h);
  return h;
}

/** Heals and drains until `ids` ran on b (or 60 s of virtual time passed); returns b's runs. */
async function drainUntilRan(h: Harness, ids: string[]): Promise<string[]> {
  await h.healAndDrain({ maxVirtualMs: 60_000, done: () => ids.every((id) => h.recorder.runs.get('b')?.includes(id)) });
  return h.recorder.runs.get('b') ?? [];
}

describe('reliability regressions: sequence numbers', () => {
  // Model counterexample: [send(a→c,unordered), crash(a), send(a→c,unordered)].
  it('keeps an unordered stream’s sequence numbers across a sender restart, so the next message is not taken for a duplicate', async () => {
    const h = await harness();
    await h.send('a', 'b', 'unordered', ['u1', 'u2']);
    await drainUntilRan(h, ['u1', 'u2']);
    await h.crash('a', { powerLoss: false });
    const [accepted] = await h.send('a', 'b', 'unordered', ['u3']);
    expect(accepted!.outcome).toBe('accepted');
    expect(await drainUntilRan(h, ['u3'])).toEqual(['u1', 'u2', 'u3']);
  });

  // Model counterexample: [bus.pause, send(c→b,unordered ×2,retries 0), advance(1000), crash(c), send(c→b,unordered ×2), restart(a,graceful)].
  it('keeps an unordered stream’s sequence numbers across a sender restart after its messages were dead-lettered', async () => {
    const h = await harness();
    h.pauseBus();
    await h.send('a', 'b', 'unordered', ['late1', 'late2'], { retries: 0 });
    await h.advance(2_000);
    expect([...h.deadLettered()].sort()).toEqual(['late1', 'late2']);
    // The receiver gets them after all (the sender no longer listens for the ACK).
    h.resumeBus();
    await drainUntilRan(h, ['late1', 'late2']);
    await h.crash('a', { powerLoss: false });
    await h.send('a', 'b', 'unordered', ['u3']);
    expect(await drainUntilRan(h, ['u3'])).toEqual(['late1', 'late2', 'u3']);
  });

  // Model counterexample: [send(b→c,ordered), store(b).failWrites, send(b→c,ordered), crash(b), send(b→c,ordered ×2)].
  it('does not hand out again, after a restart, the sequence number of an ordered message whose outbox write failed', async () => {
    const h = await harness();
    await h.send('a', 'b', 'ordered', ['o1']);
    await drainUntilRan(h, ['o1']);
    h.failWrites('a', true);
    const [refused] = await h.send('a', 'b', 'ordered', ['o2']);
    expect(refused!.outcome).toBe('refused');
    await h.advance(100);
    await h.crash('a', { powerLoss: false });
    const [accepted] = await h.send('a', 'b', 'ordered', ['o3']);
    expect(accepted!.outcome).toBe('accepted');
    expect(await drainUntilRan(h, ['o3'])).toEqual(['o1', 'o3']);
  });
});

describe('reliability regressions: dead letters', () => {
  // Model counterexample: [bus.pause, send(c→a,unordered ×4,retries 0,crash@afterPersist), send(c→a,unordered), advance(1000), bus.faults(drop)].
  it('sends what waited behind a full window of unordered messages once they are dead-lettered', async () => {
    const h = await harness({ windowSize: 2 });
    h.isolate('b');
    await h.send('a', 'b', 'unordered', ['doomed1', 'doomed2'], { retries: 0 });
    await h.send('a', 'b', 'unordered', ['u3']);
    await h.advance(3_000);
    expect([...h.deadLettered()].sort()).toEqual(['doomed1', 'doomed2']);
    expect(await drainUntilRan(h, ['u3'])).toEqual(['u3']);
  });
});

describe('reliability regressions: replies', () => {
  // Model counterexample: [armCrash(a@afterFinish), send(b→a,ordered ×2,reply), bus.pause].
  it('does not lose the first reply on a stream when the node crashes right after recording the run', async () => {
    const h = await harness();
    h.arm('b', 'afterFinish');
    await h.send('a', 'b', 'ordered', ['o1'], { reply: true });
    await h.healAndDrain({ maxVirtualMs: 60_000, done: () => h.replies.has('o1') });
    expect(h.stats.crashPointsHit.afterFinish).toBe(1);
    expect(h.recorder.runs.get('b')).toEqual(['o1']);
    expect(h.replies.get('o1')).toEqual(['ran o1']);
  });
});

describe('reliability regressions: timers', () => {
  it('accepts a retryWait that is not a whole number of milliseconds without crashing the stream', async () => {
    const h = await harness({ retryWaitSeconds: 0.0015 });
    h.isolate('b');
    await h.send('a', 'b', 'ordered', ['o1']);
    await h.advance(5_000);
    expect(h.reports.filter((r) => r.code.startsWith('BOSUN_SUP_')).map((r) => `${r.code}: ${r.message}`)).toEqual([]);
    expect(await drainUntilRan(h, ['o1'])).toEqual(['o1']);
  });
});
