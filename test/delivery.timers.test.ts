import { describe, expect, it } from 'vitest';
import { VirtualClock, systemClock } from '../src/clock.ts';
import { DurableTimers } from '../src/delivery/DurableTimers.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';

describe('durable timers', () => {
  it('persists a deadline with the state that armed it and re-arms it after a restart', async () => {
    const clock = new VirtualClock();
    const store = new MemoryStore();
    await store.open();
    const timers = new DurableTimers(store, clock);
    const fired: string[] = [];
    await store.write(timers.arm({ id: 'retry~a~b~REQX', event: 'RETRY_DUE', dueAt: clock.now() + 5000 }, () => fired.push('first life')));
    await clock.advance(2000);
    timers.stopAll();

    const survived = store.crash({ powerLoss: true });
    await survived.open();
    const again = new DurableTimers(survived, clock);
    const loaded = await again.load();
    expect(loaded).toEqual([{ id: 'retry~a~b~REQX', event: 'RETRY_DUE', dueAt: clock.now() + 3000 }]);
    for (const t of loaded) again.rearm(t, () => fired.push('second life'));
    await clock.advance(2999);
    expect(fired).toEqual([]);
    await clock.advance(1);
    expect(fired).toEqual(['second life']);
    expect(await again.load()).toEqual([]);
  });

  it('fires a deadline that passed while the node was down once, at start-up', async () => {
    const clock = new VirtualClock();
    const store = new MemoryStore();
    await store.open();
    const before = new DurableTimers(store, clock);
    await store.write(before.arm({ id: 't', event: 'E', dueAt: clock.now() + 100 }, () => {}));
    before.stopAll(); // the node goes down before its deadline
    await clock.advance(60_000);
    const timers = new DurableTimers(store, clock);
    let fired = 0;
    for (const t of await timers.load()) timers.rearm(t, () => fired++);
    await clock.advance(0);
    expect(fired).toBe(1);
  });

  it('cancelling returns the delete of the record', async () => {
    const clock = new VirtualClock();
    const store = new MemoryStore();
    await store.open();
    const timers = new DurableTimers(store, clock);
    await store.write(timers.arm({ id: 't', event: 'E', dueAt: clock.now() + 100 }, () => {}));
    await store.write(timers.cancel('t'));
    expect(await timers.load()).toEqual([]);
    expect(timers.has('t')).toBe(false);
  });

  it('system clock timers beyond setTimeout’s 2^31-1 ms limit do not fire early', async () => {
    let fired = false;
    const handle = systemClock.setTimer(2 ** 31 + 10_000, () => (fired = true));
    await new Promise((r) => setTimeout(r, 50));
    handle.cancel();
    expect(fired).toBe(false);
  });
});
