import { describe, expect, it } from 'vitest';
import { deadlineSignal } from '../src/deadlineSignal.ts';
import { garbageCollector } from './helpers/garbageCollector.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('deadlineSignal', () => {
  it('aborts at its deadline when only its signal is held, however often garbage is collected', async () => {
    const collect = garbageCollector();
    const parent = new AbortController();
    const { signal } = deadlineSignal(parent.signal, 300);
    let aborted = false;
    signal.addEventListener('abort', () => (aborted = true));
    for (let i = 0; i < 10 && !aborted; i++) {
      collect();
      await sleep(50);
    }
    await sleep(200);
    expect(aborted).toBe(true);
    expect(parent.signal.aborted).toBe(false);
  });

  it('aborts with its parent, says whether the deadline ended it, and clears its timer', async () => {
    const parent = new AbortController();
    const first = deadlineSignal(parent.signal, 10_000);
    parent.abort(new Error('stopped'));
    expect(first.signal.aborted).toBe(true);
    expect(first.expired).toBe(false);
    expect((first.signal.reason as Error).message).toBe('stopped');

    const second = deadlineSignal(new AbortController().signal, 20, () => new Error('too late'));
    await sleep(60);
    expect(second.expired).toBe(true);
    expect((second.signal.reason as Error).message).toBe('too late');

    const third = deadlineSignal(new AbortController().signal, 20);
    third.clear();
    await sleep(60);
    expect(third.signal.aborted).toBe(false);
  });
});
