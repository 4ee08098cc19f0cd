import { describe, expect, it } from 'vitest';
import { settle, VirtualClock } from '../src/clock.ts';
import { EmbeddedBus, type BusFaults } from '../src/transport/EmbeddedBus.ts';
import { createTransport } from '../src/transport/index.ts';
import type { Transport, TransportStatus } from '../src/transport/types.ts';
import { transportConformanceSuite } from './transport.conformance.ts';

transportConformanceSuite('embedded', () => {
  const bus = new EmbeddedBus({ seed: 1 });
  return {
    createTransport: () => createTransport({ kind: 'embedded', bus }),
    async disrupt() {
      bus.pause();
      bus.restart();
    },
    async restore() {
      bus.resume();
    },
  };
});

const FRAMES = 10_000;

interface Wired {
  bus: EmbeddedBus;
  clock: VirtualClock;
  a: Transport;
  b: Transport;
  c: Transport;
  /** Indexes of the frames b received, in arrival order. */
  atB: number[];
  atA: number[];
  atC: number[];
}

async function wire(seed = 42): Promise<Wired> {
  const clock = new VirtualClock();
  const bus = new EmbeddedBus({ seed, clock });
  const a = bus.transport();
  const b = bus.transport();
  const c = bus.transport();
  const atA: number[] = [];
  const atB: number[] = [];
  const atC: number[] = [];
  await a.start('a', (_s, p) => atA.push(indexOf(p)));
  await b.start('b', (_s, p) => atB.push(indexOf(p)));
  await c.start('c', (_s, p) => atC.push(indexOf(p)));
  return { bus, clock, a, b, c, atA, atB, atC };
}

/** Publishes FRAMES indexed frames from a to b under `faults` and lets them all arrive. */
async function runWithFaults(faults: BusFaults, seed = 42): Promise<Wired> {
  const wired = await wire(seed);
  wired.bus.setFaults(faults);
  for (let i = 0; i < FRAMES; i++) wired.a.publish('b.m.k', frame(i));
  await wired.clock.advance(1000);
  await settle();
  return wired;
}

describe('embedded bus delivery', () => {
  it('never delivers inside publish', async () => {
    const { a, atB } = await wire();
    a.publish('b.m.k', frame(0));
    expect(atB).toEqual([]);
    await settle(1);
    expect(atB).toEqual([0]);
  });

  it('delivers to every transport started for the same node', async () => {
    const { bus, a, atB } = await wire();
    const second: number[] = [];
    await bus.transport().start('b', (_s, p) => second.push(indexOf(p)));
    a.publish('b.m.k', frame(7));
    await settle();
    expect(atB).toEqual([7]);
    expect(second).toEqual([7]);
    expect(bus.stats.delivered).toBe(2);
  });

  it('counts frames nobody listens for as unroutable', async () => {
    const { bus, a } = await wire();
    a.publish('nobody.m.k', frame(0));
    a.publish('b', frame(1));
    await settle();
    expect(bus.stats).toMatchObject({ published: 2, delivered: 0, unroutable: 2 });
  });

  it('keeps the bus running when a handler throws, and reports the error', async () => {
    const errors: unknown[] = [];
    const bus = new EmbeddedBus({ seed: 1, onHandlerError: (error, subject) => errors.push([subject, (error as Error).message]) });
    const a = bus.transport();
    const b = bus.transport();
    const atB: number[] = [];
    await a.start('a', () => {});
    await b.start('b', (_s, p) => {
      if (indexOf(p) === 1) throw new Error('boom');
      atB.push(indexOf(p));
    });
    for (let i = 0; i < 3; i++) a.publish('b.m.k', frame(i));
    await settle();
    expect(atB).toEqual([0, 2]);
    expect(errors).toEqual([['b.m.k', 'boom']]);
  });

  it('drops frames queued for a transport that closes meanwhile', async () => {
    const { bus, a, b, atB } = await wire();
    a.publish('b.m.k', frame(0));
    await b.close();
    await settle();
    expect(atB).toEqual([]);
    expect(bus.stats.unroutable).toBe(1);
  });
});

describe('embedded bus fault injection', () => {
  it('drops about the configured share of frames, and the same seed drops the same ones', async () => {
    const first = await runWithFaults({ drop: 0.3 });
    const { dropped, delivered } = first.bus.stats;
    expect(dropped + delivered).toBe(FRAMES);
    expect(dropped / FRAMES).toBeGreaterThan(0.27);
    expect(dropped / FRAMES).toBeLessThan(0.33);
    expect(first.atB).toEqual([...first.atB].sort((x, y) => x - y));

    const replay = await runWithFaults({ drop: 0.3 });
    expect(replay.atB).toEqual(first.atB);
    const otherSeed = await runWithFaults({ drop: 0.3 }, 43);
    expect(otherSeed.atB).not.toEqual(first.atB);
  });

  it('duplicates about the configured share of frames, each at most twice', async () => {
    const { bus, atB } = await runWithFaults({ duplicate: 0.2 });
    const { duplicated, delivered } = bus.stats;
    expect(delivered).toBe(FRAMES + duplicated);
    expect(duplicated / FRAMES).toBeGreaterThan(0.17);
    expect(duplicated / FRAMES).toBeLessThan(0.23);
    const copies = new Map<number, number>();
    for (const i of atB) copies.set(i, (copies.get(i) ?? 0) + 1);
    expect(copies.size).toBe(FRAMES);
    expect([...copies.values()].filter((n) => n === 2).length).toBe(duplicated);
    expect(Math.max(...copies.values())).toBe(2);
  });

  it('delays frames by the clock within [min, max]', async () => {
    const { bus, clock, a, atB } = await wire();
    bus.setFaults({ delayMs: [10, 20] });
    for (let i = 0; i < 100; i++) a.publish('b.m.k', frame(i));
    await settle();
    expect(atB).toEqual([]);
    await clock.advance(9);
    expect(atB).toEqual([]);
    expect(bus.inFlight).toBe(100);
    await clock.advance(6);
    const byMidpoint = atB.length;
    expect(byMidpoint).toBeGreaterThan(20);
    expect(byMidpoint).toBeLessThan(80);
    await clock.advance(5);
    expect(atB.length).toBe(100);
    expect(bus.stats.delayed).toBe(100);
    // independent delays reorder
    expect(atB).not.toEqual([...atB].sort((x, y) => x - y));
  });

  it('reorders about the configured share of frames without losing any', async () => {
    const { bus, atB } = await runWithFaults({ reorder: 0.1 });
    const { reordered } = bus.stats;
    expect(reordered / FRAMES).toBeGreaterThan(0.08);
    expect(reordered / FRAMES).toBeLessThan(0.12);
    expect([...atB].sort((x, y) => x - y)).toEqual(Array.from({ length: FRAMES }, (_, i) => i));
    let inversions = 0;
    for (let i = 1; i < atB.length; i++) if (atB[i]! < atB[i - 1]!) inversions++;
    expect(inversions).toBeGreaterThan(0);
    expect(inversions).toBeLessThanOrEqual(reordered);
  });

  it('becomes healthy again with setFaults({})', async () => {
    const { bus, a, atB } = await wire();
    bus.setFaults({ drop: 1 });
    a.publish('b.m.k', frame(0));
    bus.setFaults({});
    a.publish('b.m.k', frame(1));
    await settle();
    expect(atB).toEqual([1]);
  });

  it('rejects probabilities outside [0, 1] and inverted delays', () => {
    const bus = new EmbeddedBus({ seed: 1 });
    expect(() => bus.setFaults({ drop: 1.5 })).toThrow(expect.objectContaining({ code: 'BOSUN_BAD_CONFIG' }));
    expect(() => bus.setFaults({ delayMs: [20, 10] })).toThrow(expect.objectContaining({ code: 'BOSUN_BAD_CONFIG' }));
  });

  it('partitions two nodes both ways until healed, leaving others alone', async () => {
    const { bus, a, b, atA, atB, atC } = await wire();
    bus.partition('a', 'b');
    a.publish('b.m.k', frame(1));
    b.publish('a.m.k', frame(2));
    a.publish('c.m.k', frame(3));
    b.publish('c.m.k', frame(4));
    await settle();
    expect(atA).toEqual([]);
    expect(atB).toEqual([]);
    expect(atC).toEqual([3, 4]);
    expect(bus.stats.dropped).toBe(2);
    bus.heal();
    a.publish('b.m.k', frame(5));
    b.publish('a.m.k', frame(6));
    await settle();
    expect(atB).toEqual([5]);
    expect(atA).toEqual([6]);
  });

  it('drops frames already in flight when a partition starts', async () => {
    const { bus, a, atB } = await wire();
    a.publish('b.m.k', frame(1));
    bus.partition('b', 'a');
    await settle();
    expect(atB).toEqual([]);
  });

  it('isolates a node from everyone until healed', async () => {
    const { bus, a, b, c, atA, atB, atC } = await wire();
    bus.isolate('a');
    a.publish('b.m.k', frame(1));
    b.publish('a.m.k', frame(2));
    c.publish('a.m.k', frame(3));
    b.publish('c.m.k', frame(4));
    await settle();
    expect([atA, atB, atC]).toEqual([[], [], [4]]);
    bus.heal();
    c.publish('a.m.k', frame(5));
    await settle();
    expect(atA).toEqual([5]);
  });

  it('holds frames while paused and delivers them all, in order, on resume', async () => {
    const { bus, a, atB } = await wire();
    bus.pause();
    for (let i = 0; i < 50; i++) a.publish('b.m.k', frame(i));
    await settle();
    expect(atB).toEqual([]);
    expect(a.status).toBe('connected');
    bus.resume();
    await settle();
    expect(atB).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(bus.stats.dropped).toBe(0);
  });

  it('loses frames in flight on restart; transports see disconnected, then connected', async () => {
    const { bus, clock, a, b, atB } = await wire();
    const seen: TransportStatus[] = [];
    b.onStatus((s) => seen.push(s));
    bus.setFaults({ delayMs: [5, 5] });
    a.publish('b.m.k', frame(0));
    bus.setFaults({});
    a.publish('b.m.k', frame(1));
    bus.restart();
    expect(b.status).toBe('disconnected');
    a.publish('b.m.k', frame(2));
    await settle();
    expect(seen).toEqual(['disconnected', 'connected']);
    a.publish('b.m.k', frame(3));
    await clock.advance(10);
    expect(atB).toEqual([3]);
    expect(bus.stats.dropped).toBe(3);
    expect(bus.inFlight).toBe(0);
  });

  it('drops the rest of a batch when a handler restarts the bus', async () => {
    const bus = new EmbeddedBus({ seed: 1 });
    const a = bus.transport();
    const b = bus.transport();
    const atB: number[] = [];
    await a.start('a', () => {});
    await b.start('b', (_s, p) => {
      atB.push(indexOf(p));
      if (indexOf(p) === 1) bus.restart();
    });
    for (let i = 0; i < 5; i++) a.publish('b.m.k', frame(i));
    await settle();
    expect(atB).toEqual([0, 1]);
    expect(bus.stats.dropped).toBe(3);
  });
});

function frame(i: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, i);
  return bytes;
}

function indexOf(payload: Uint8Array): number {
  return new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0);
}
