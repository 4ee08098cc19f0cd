import fc from 'fast-check';
import { type ReplayMode } from './frameAttacker.ts';
import type { Harness } from './harness.ts';
import { RECEIVER_CRASH_POINTS, SENDER_CRASH_POINTS, type CrashPoint, type StreamKind } from './harnessTypes.ts';
import { assertSafety, count, totals, type Model } from './reliabilityModel.ts';

// The commands of the reliability model test (test/reliability.model.test.ts): each one
// a step of a client or a fault, checked for safety after it runs, and the arbitraries
// that draw them.

export const NODES = ['a', 'b', 'c'] as const;

const all = <T,>(xs: readonly T[]) => fc.constantFrom(...xs);

function pairArb(): fc.Arbitrary<[string, string]> {
  return fc.tuple(all(NODES), all(NODES)).filter(([x, y]) => x !== y);
}

// ---- commands ------------------------------------------------------------------------

export type Cmd = fc.AsyncCommand<Model, Harness>;

class Send implements Cmd {
  constructor(
    readonly from: string,
    readonly to: string,
    readonly kind: StreamKind,
    readonly count: number,
    readonly reply: boolean,
    /** -1: forever; otherwise the message may end in the dead letters. */
    readonly retries: number,
    readonly crashAt?: 'beforePersist' | 'afterPersist',
    /** A node that relays the messages (`relayViaNode`). */
    readonly via?: string,
  ) {}
  check = () => true;
  async run(m: Model, h: Harness): Promise<void> {
    count(totals.commands, `${this.via ? 'send-relayed' : 'send'}${this.crashAt ? `+crash@${this.crashAt}` : ''}`);
    const ids = Array.from({ length: this.count }, () => `msg-${m.nextId++}`);
    const options = { reply: this.reply, retries: this.retries, ...(this.crashAt ? { crashAt: this.crashAt } : {}), ...(this.via ? { via: this.via } : {}) };
    for (const r of await h.send(this.from, this.to, this.kind, ids, options)) {
      if (r.outcome === 'accepted') {
        totals.accepted++;
        if (this.reply) m.wantsReply.add(r.id);
        const list = m.sent.get(r.stream) ?? [];
        list.push(r.id);
        m.sent.set(r.stream, list);
      } else {
        totals.refused++;
        m.refused.add(r.id);
        // Without an injected crash or storage fault, an accept of a valid message must not fail.
        if (!this.crashAt && !h.storeFaulty(this.from)) throw new Error(`${r.id} was refused without a fault: ${JSON.stringify(r.error)}`);
      }
    }
    assertSafety(m, h);
  }
  toString = () =>
    `send(${this.from}→${this.via ? `${this.via}→` : ''}${this.to},${this.kind}${this.count > 1 ? ` ×${this.count}` : ''}${this.reply ? ',reply' : ''}${this.retries >= 0 ? `,retries ${this.retries}` : ''}${this.crashAt ? `,crash@${this.crashAt}` : ''})`;
}

export class Advance implements Cmd {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(m: Model, h: Harness): Promise<void> {
    count(totals.commands, 'advance');
    await h.advance(this.ms);
    assertSafety(m, h);
  }
  toString = () => `advance(${this.ms})`;
}

class Crash implements Cmd {
  constructor(
    readonly node: string,
    readonly powerLoss: boolean,
    readonly downMs: number,
  ) {}
  check = () => true;
  async run(m: Model, h: Harness): Promise<void> {
    count(totals.commands, 'crash');
    count(totals.faults, this.powerLoss ? 'powerLoss' : 'processCrash');
    await h.crash(this.node, { powerLoss: this.powerLoss, downMs: this.downMs });
    assertSafety(m, h);
  }
  toString = () => `crash(${this.node}${this.powerLoss ? ',powerLoss' : ''}${this.downMs ? `,down ${this.downMs}ms` : ''})`;
}

class ArmCrash implements Cmd {
  constructor(
    readonly node: string,
    readonly point: CrashPoint,
  ) {}
  check = () => true;
  async run(m: Model, h: Harness): Promise<void> {
    count(totals.commands, 'armCrash');
    count(totals.faults, `armed@${this.point}`);
    h.arm(this.node, this.point);
    assertSafety(m, h);
  }
  toString = () => `armCrash(${this.node}@${this.point})`;
}

type FaultKind = 'drop' | 'duplicate' | 'delay' | 'reorder' | 'mixed' | 'none';

class BusFault implements Cmd {
  constructor(readonly kind: FaultKind) {}
  check = () => true;
  async run(m: Model, h: Harness): Promise<void> {
    count(totals.commands, 'busFault');
    count(totals.faults, `bus.${this.kind}`);
    const faults = {
      drop: { drop: 0.3 },
      duplicate: { duplicate: 0.4 },
      delay: { delayMs: [0, 1500] as const },
      reorder: { reorder: 0.5 },
      mixed: { drop: 0.15, duplicate: 0.15, reorder: 0.3, delayMs: [0, 400] as const },
      none: {},
    }[this.kind];
    h.setFaults(faults);
    await h.settle();
    assertSafety(m, h);
  }
  toString = () => `bus.faults(${this.kind})`;
}

class Partition implements Cmd {
  constructor(
    readonly x: string,
    readonly y: string | undefined,
  ) {}
  check = () => true;
  async run(m: Model, h: Harness): Promise<void> {
    count(totals.commands, 'partition');
    count(totals.faults, this.y ? 'partition' : 'isolate');
    if (this.y) h.partition(this.x, this.y);
    else h.isolate(this.x);
    await h.settle();
    assertSafety(m, h);
  }
  toString = () => (this.y ? `partition(${this.x}|${this.y})` : `isolate(${this.x})`);
}

class Heal implements Cmd {
  check = () => true;
  async run(m: Model, h: Harness): Promise<void> {
    count(totals.commands, 'heal');
    h.heal();
    h.resumeBus();
    await h.settle();
    assertSafety(m, h);
  }
  toString = () => 'heal';
}

export class BusRestart implements Cmd {
  check = () => true;
  async run(m: Model, h: Harness): Promise<void> {
    count(totals.commands, 'busRestart');
    count(totals.faults, 'bus.restart');
    await h.restartBus();
    assertSafety(m, h);
  }
  toString = () => 'bus.restart';
}

class GracefulRestart implements Cmd {
  constructor(readonly node: string) {}
  check = () => true;
  async run(m: Model, h: Harness): Promise<void> {
    count(totals.commands, 'gracefulRestart');
    await h.restartGracefully(this.node);
    assertSafety(m, h);
  }
  toString = () => `restart(${this.node},graceful)`;
}

class StoreFault implements Cmd {
  constructor(
    readonly node: string,
    readonly on: boolean,
  ) {}
  check = () => true;
  async run(m: Model, h: Harness): Promise<void> {
    count(totals.commands, 'storeFault');
    if (this.on) count(totals.faults, 'store.failWrites');
    h.failWrites(this.node, this.on);
    await h.settle();
    assertSafety(m, h);
  }
  toString = () => `store(${this.node}).${this.on ? 'failWrites' : 'heal'}`;
}

class BusPause implements Cmd {
  check = () => true;
  async run(m: Model, h: Harness): Promise<void> {
    count(totals.commands, 'busPause');
    count(totals.faults, 'bus.pause');
    h.pauseBus();
    await h.settle();
    assertSafety(m, h);
  }
  toString = () => 'bus.pause';
}

/** Someone on the bus publishes captured frames again: as they were, renumbered, or in reverse order. */
class Replay implements Cmd {
  constructor(
    readonly picks: number[],
    readonly mode: ReplayMode,
    readonly delta: number,
  ) {}
  check = () => true;
  async run(m: Model, h: Harness): Promise<void> {
    count(totals.commands, `replay.${this.mode}`);
    h.attacker!.replay(this.picks, this.mode, this.delta);
    await h.settle();
    assertSafety(m, h);
  }
  toString = () => `replay(${this.mode}${this.mode === 'renumber' ? ` ${this.delta > 0 ? '+' : ''}${this.delta}` : ''} ×${this.picks.length})`;
}

const crashAtArb = fc.oneof({ arbitrary: fc.constant(undefined), weight: 8 }, { arbitrary: all(SENDER_CRASH_POINTS), weight: 1 });
const countArb = fc.oneof({ arbitrary: fc.constant(1), weight: 4 }, { arbitrary: fc.integer({ min: 2, max: 9 }), weight: 1 });
const retriesArb = fc.oneof({ arbitrary: fc.constant(-1), weight: 5 }, { arbitrary: fc.constantFrom(0, 1, 3), weight: 1 });
export const sendArb = fc
  .tuple(pairArb(), all(['ordered', 'unordered'] as const), countArb, fc.boolean(), retriesArb, crashAtArb, fc.integer({ min: 0, max: 3 }))
  // One send in four goes through the third node (relayViaNode).
  .map(([[from, to], kind, n, reply, retries, crashAt, route]) => {
    const via = route === 0 ? NODES.find((x) => x !== from && x !== to) : undefined;
    return new Send(from, to, kind, n, reply, retries, crashAt, via);
  });
const advanceArb = fc.integer({ min: 1, max: 4000 }).map((ms) => new Advance(ms));
export const crashArb = fc
  .tuple(all(NODES), fc.boolean(), fc.constantFrom(0, 0, 500, 3000))
  .map(([node, powerLoss, downMs]) => new Crash(node, powerLoss, downMs));
export const armArb = fc.tuple(all(NODES), all(RECEIVER_CRASH_POINTS)).map(([node, point]) => new ArmCrash(node, point));
/**
 * A crash armed inside a batch, then a burst of ordered messages to that node: the first
 * batch that takes several of them crashes after the first one's effect, before the rest's.
 */
class BurstIntoBatchCrash implements Cmd {
  readonly #send: Send;
  constructor(
    readonly from: string,
    readonly to: string,
    readonly count: number,
    readonly reply: boolean,
  ) {
    this.#send = new Send(from, to, 'ordered', count, reply, -1);
  }
  check = () => true;
  async run(m: Model, h: Harness): Promise<void> {
    count(totals.faults, 'armed@midBatch');
    h.arm(this.to, 'midBatch');
    await this.#send.run(m, h);
  }
  toString = () => `armCrash(${this.to}@midBatch) + ${this.#send.toString()}`;
}
export const batchCrashArb = fc
  .tuple(pairArb(), fc.integer({ min: 3, max: 9 }), fc.boolean())
  .map(([[from, to], n, reply]) => new BurstIntoBatchCrash(from, to, n, reply));
const busFaultArb = all(['drop', 'duplicate', 'delay', 'reorder', 'mixed', 'none'] as const).map((k) => new BusFault(k));
const partitionArb = fc.tuple(all(NODES), fc.option(all(NODES), { nil: undefined })).map(([x, y]) => new Partition(x, y === x ? undefined : y));

export const commandArbs: Array<fc.Arbitrary<Cmd>> = [
  sendArb,
  sendArb,
  sendArb,
  advanceArb,
  advanceArb,
  crashArb,
  armArb,
  busFaultArb,
  partitionArb,
  fc.constant(new Heal()),
  fc.constant(new BusRestart()),
  fc.constant(new BusPause()),
  all(NODES).map((n) => new GracefulRestart(n)),
  fc.tuple(all(NODES), fc.boolean()).map(([n, on]) => new StoreFault(n, on)),
];

export const replayArb = fc
  .tuple(fc.array(fc.nat({ max: 10_000 }), { minLength: 1, maxLength: 12 }), all(['asIs', 'renumber', 'reorder'] as const), fc.constantFrom(-2, -1, 1, 2, 3, 50))
  .map(([picks, mode, delta]) => new Replay(picks, mode, delta));

/** The bus's fault seed. */
export const seedArb = fc.integer({ min: 1, max: 2 ** 30 });
/** Frames in flight per stream: 1 and 2 make refills from the outbox and full windows common. */
export const windowArb = fc.constantFrom(1, 2, 4, 16);
