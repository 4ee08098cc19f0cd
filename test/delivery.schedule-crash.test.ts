import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../src/clock.ts';
import { streamIdOf } from '../src/delivery/frames.ts';
import type { MethodSpec } from '../src/methods/types.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { execKey, prefixRange, regKey } from '../src/store/keys.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';

/**
 * Scheduled runs across crashes of the node that runs them: each run of a schedule runs
 * once (or, if a crash cut it short, is reported interrupted), and the schedule goes on.
 */

/**
 * A non-idempotent method that records `<data>#<run>` for every run and never finishes
 * a run whose data is in `hold`, so a crash can strike while it runs.
 */
function gated(name: string): { method: MethodSpec; runs: string[]; hold: Set<string> } {
  const runs: string[] = [];
  const hold = new Set<string>();
  return {
    runs,
    hold,
    method: {
      name,
      summary: 'records its runs; holds some of them',
      async handler(ctx) {
        const data = ctx.message.data ?? '';
        runs.push(`${data}#${ctx.message.scheduled?.run ?? 0}`);
        if (hold.has(data)) await new Promise<never>(() => {});
        return {};
      },
    },
  };
}

const started: BosunNode[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.stop(0)));
});

async function fleet(method: MethodSpec, shipOptions: { unorderedConcurrency?: number } = {}) {
  const clock = new VirtualClock();
  const bus = new EmbeddedBus({ clock });
  const opts = { bus, clock, helloIntervalSeconds: 0, methods: [method] };
  const central = await startNode({ node: 'central', ...opts });
  let store = new MemoryStore();
  let ship1 = await startNode({ node: 'ship1', store, ...opts, ...shipOptions });
  started.push(central);
  return {
    clock,
    central,
    get ship1() {
      return ship1;
    },
    get store() {
      return store;
    },
    /** Kills ship1 as a crash would and starts it again on what its store kept (`edit` may change that first). */
    async crashShip1(powerLoss: boolean, edit?: (store: MemoryStore) => Promise<void>): Promise<void> {
      await ship1.crash();
      store = store.crash({ powerLoss });
      await edit?.(store);
      ship1 = await startNode({ node: 'ship1', store, ...opts, ...shipOptions });
      started.push(ship1);
    },
  };
}

function count(runs: string[], run: string): number {
  return runs.filter((r) => r === run).length;
}

describe('scheduled runs across crashes', () => {
  it('does not run a scheduled run twice when the write that retired its fired timer failed and the node crashes later', async () => {
    const g = gated('REQTestGate');
    const f = await fleet(g.method);
    await f.central.accept({ toNode: 'ship1', method: 'REQTestGate', data: 'a', schedule: [10, 100], replyMethod: 'none' });
    await f.clock.advance(100);
    expect(g.runs).toEqual(['a#0']);

    // The store fails every write while the first timer fires, then recovers.
    await f.clock.advance(9_800);
    f.store.failWrites(new Error('disk full'));
    await f.clock.advance(300);
    f.store.failWrites(null);
    await f.clock.advance(5_000);
    expect(g.runs).toEqual(['a#0', 'a#1']);

    // The next run is cut short by a crash.
    g.hold.add('a');
    await f.clock.advance(10_000);
    expect(g.runs).toEqual(['a#0', 'a#1', 'a#2']);
    await f.crashShip1(false);
    g.hold.clear();
    await f.clock.advance(25_000);

    // Run 2 was running when the node died: it is reported, never run again; the
    // schedule goes on with run 3.
    expect(count(g.runs, 'a#2')).toBe(1);
    expect(g.runs).toContain('a#3');
    expect(new Set(g.runs).size).toBe(g.runs.length);
  });

  it('does not run a scheduled run twice when the node loses power right after its timer fired', async () => {
    const g = gated('REQTestGate');
    const f = await fleet(g.method);
    await f.central.accept({ toNode: 'ship1', method: 'REQTestGate', data: 'a', schedule: [10, 100], replyMethod: 'none' });
    await f.clock.advance(100);
    g.hold.add('a');
    await f.clock.advance(10_000);
    expect(g.runs).toEqual(['a#0', 'a#1']);
    await f.crashShip1(true);
    g.hold.clear();
    await f.clock.advance(25_000);
    expect(count(g.runs, 'a#1')).toBe(1);
    expect(g.runs).toContain('a#2');
  });

  it('runs a scheduled run that waited while another schedule of the same stream ran, when a crash cut that one short', async () => {
    // One run at a time: the second schedule's run waits behind the first one's.
    const g = gated('REQnTestGate');
    const f = await fleet(g.method, { unorderedConcurrency: 1 });
    // The ids put the waiting schedule first in the store, so the start looks at it first.
    await f.central.accept({ id: 'sched-running', toNode: 'ship1', method: 'REQnTestGate', data: 'a', schedule: [10, 100], replyMethod: 'none' });
    await f.clock.advance(1_000);
    await f.central.accept({ id: 'sched-due', toNode: 'ship1', method: 'REQnTestGate', data: 'b', schedule: [10, 100], replyMethod: 'none' });
    await f.clock.advance(1_000);
    expect(g.runs).toEqual(['a#0', 'b#0']);

    // a's run 1 starts at ~10 s and holds; b's run 1 is due at ~11 s and waits.
    g.hold.add('a');
    await f.clock.advance(9_500);
    expect(g.runs).toEqual(['a#0', 'b#0', 'a#1']);
    await f.crashShip1(true);
    g.hold.clear();
    await f.clock.advance(25_000);

    // a's run 1 was cut short: reported, not run again. b's had not started: it runs.
    expect(count(g.runs, 'a#1')).toBe(1);
    expect(count(g.runs, 'b#1')).toBe(1);
    expect(g.runs).toEqual(expect.arrayContaining(['a#2', 'b#2']));
    expect(new Set(g.runs).size).toBe(g.runs.length);
  });

  it('keeps each scheduled run’s started record apart from the other schedules’ of the same stream', async () => {
    const g = gated('REQnTestGate');
    const f = await fleet(g.method, { unorderedConcurrency: 1 });
    await f.central.accept({ toNode: 'ship1', method: 'REQnTestGate', data: 'a', schedule: [10, 100], replyMethod: 'none' });
    await f.clock.advance(1_000);
    g.hold.add('a');
    await f.clock.advance(10_000);
    expect(g.runs).toEqual(['a#0', 'a#1']);
    // The stream's own sequence 0, which the runs of every schedule on it used to share.
    expect(await f.store.get(execKey(streamIdOf('central', 'ship1', 'REQnTestGate'), 0))).toBeUndefined();
    expect(await f.store.range(prefixRange('exec'))).toHaveLength(1);
  });
});

describe('scheduled runs recorded by an earlier version', () => {
  /**
   * What an earlier version left when it died after a schedule's timer fired: the
   * schedule's next run and no timer; with `started`, the stream's shared started record.
   */
  async function leftByEarlierVersion(store: MemoryStore, started: boolean): Promise<void> {
    await store.open();
    const stale = [...(await store.range(prefixRange('timer'))), ...(await store.range(prefixRange('in'))), ...(await store.range(prefixRange('exec')))];
    await store.write([
      ...stale.map(([key]) => ({ type: 'del' as const, key })),
      ...(started ? [{ type: 'put' as const, key: execKey(streamIdOf('central', 'ship1', 'REQTestGate'), 0), value: { startedAt: 0 } }] : []),
    ]);
    expect(await store.range(prefixRange(regKey('sched')))).toHaveLength(1);
    await store.close();
  }

  it('runs the due run at the next start, and the schedule goes on', async () => {
    const g = gated('REQTestGate');
    const f = await fleet(g.method);
    await f.central.accept({ toNode: 'ship1', method: 'REQTestGate', data: 'a', schedule: [10, 100], replyMethod: 'none' });
    await f.clock.advance(100);
    await f.crashShip1(true, (store) => leftByEarlierVersion(store, false));
    await f.clock.advance(15_000);
    expect(g.runs).toEqual(['a#0', 'a#1', 'a#2']);
    expect(await f.store.range(prefixRange('exec'))).toEqual([]);
  });

  it('reports the due run interrupted when it was recorded as started, and the schedule goes on', async () => {
    const g = gated('REQTestGate');
    const f = await fleet(g.method);
    await f.central.accept({ toNode: 'ship1', method: 'REQTestGate', data: 'a', schedule: [10, 100], replyMethod: 'none' });
    await f.clock.advance(100);
    await f.crashShip1(true, (store) => leftByEarlierVersion(store, true));
    await f.clock.advance(15_000);
    expect(g.runs).toEqual(['a#0', 'a#2']);
    expect(await f.store.range(prefixRange('exec'))).toEqual([]);
  });
});
