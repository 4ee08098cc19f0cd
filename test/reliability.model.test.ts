import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { Harness, removeHarnessFiles } from './helpers/harness.ts';
import { RECEIVER_CRASH_POINTS, SENDER_CRASH_POINTS, type CrashPoint, type StreamKind } from './helpers/harnessTypes.ts';
import { FrameAttacker, type ReplayMode } from './helpers/frameAttacker.ts';

/**
 * Model-based fault injection over real nodes (Jepsen's categories, fast-check's
 * `commands`). The model is what the inputs were told: which messages were accepted, on
 * which stream, in which order, and which were refused. The checker compares it with the
 * runs the nodes recorded:
 *
 * - after every command: nothing ran twice, nothing ran that was never accepted (a refused
 *   message included), no request got two replies, and each ordered stream ran an
 *   in-order subsequence of what it accepted whose gaps are only messages that may be
 *   missing: unknown ones (Jepsen's `:info`, a run a crash cut short: reported as
 *   interrupted, never re-run) and dead-lettered ones (out of retries, reported);
 * - at the end, after healing and draining: every other accepted message ran exactly
 *   once, every request that asked for a reply got exactly one, every unknown message was
 *   reported as interrupted, and no store read was retried in a hot loop.
 *
 * The ordered method runs in batches (up to four messages) with an effect the runtime can
 * reconcile, as file appends do: a batch cut short is cut back and run again, so its
 * messages run exactly once and are never reported interrupted; a batch holding a
 * message whose number is a multiple of three has no checkpoint and is reported
 * interrupted instead.
 *
 * Faults: process crashes and power losses (some with down time), crash points inside
 * the runtime (before/after the outbox write, after the inbox write before the ACK, after
 * the `started` record, inside a batch after its first effect, after the handler or
 * batch, after the run's outcome), graceful restarts,
 * failing store writes, and bus drop/duplicate/delay/reorder/partition/isolate/pause/
 * restart.
 *
 * The attacked variant adds someone on the bus who publishes captured frames again (as they
 * were, renumbered with their signatures kept, in reverse order); its nodes sign frames.
 *
 * `BOSUN_FC_RUNS` overrides the number of runs (default 1000; the race variant runs a
 * tenth of it, the attacked variant 100 unless BOSUN_FC_RUNS is given). A failure prints fast-check's seed, path and the shrunk command list;
 * replay it with BOSUN_FC_SEED, BOSUN_FC_PATH and BOSUN_FC_REPLAY_PATH (and `-t` to pick
 * the variant).
 */

const RUNS = Number(process.env.BOSUN_FC_RUNS ?? 1000);
/** Runs of the variant with an attacker on the bus: modest by default, BOSUN_FC_RUNS when given. */
const ATTACK_RUNS = process.env.BOSUN_FC_RUNS ? RUNS : 100;
const NODES = ['a', 'b', 'c'] as const;

interface Model {
  /** Accepted ids per stream, in acceptance order. */
  sent: Map<string, string[]>;
  /** Ids whose accept answered with an error: they must never run. */
  refused: Set<string>;
  /** Accepted ids whose sender asked for a reply: each must get exactly one. */
  wantsReply: Set<string>;
  nextId: number;
}

const totals = {
  /** Property runs, shrinking included. */
  runs: 0,
  commands: {} as Record<string, number>,
  /** Faults injected, by kind; `hit@…` counts armed crash points the runtime reached. */
  faults: {} as Record<string, number>,
  /** What the bus did to frames (its own counters, summed over runs). */
  frames: {} as Record<string, number>,
  accepted: 0,
  refused: 0,
  messagesChecked: 0,
  unknown: 0,
  /** Messages of a batch cut short by a crash and reconciled (cut back, run again). */
  reconciled: 0,
  /** Batches of the ordered method, and those of several messages. */
  batches: 0,
  batchesOfSeveral: 0,
  /** Messages that ran out of retries (reported), which the checker lets be missing. */
  deadLettered: 0,
  /** Violations found, by Jepsen's category (every failing run counts, shrinking included). */
  lost: 0,
  duplicated: 0,
  reordered: 0,
  unexpected: 0,
  virtualMsDraining: 0,
  stoppedActorWarnings: 0,
  /** The attacker's frames: captured, published again, and of those renumbered. */
  attack: { captured: 0, replayed: 0, renumbered: 0 },
};

function count(bucket: Record<string, number>, key: string, by = 1): void {
  bucket[key] = (bucket[key] ?? 0) + by;
}

function newModel(): Model {
  return { sent: new Map(), refused: new Set(), wantsReply: new Set(), nextId: 1 };
}

class Violation extends Error {
  override name = 'Violation';
}

function fail(kind: 'lost' | 'duplicated' | 'reordered' | 'unexpected', what: string, h: Harness, m: Model): never {
  totals[kind]++;
  const sent = [...m.sent].map(([s, ids]) => `${s}: ${ids.join(',')}`).join('\n  ');
  const applied = [...h.appliedByStream()].map(([s, ids]) => `${s}: ${ids.join(',')}`).join('\n  ');
  const replies = [...h.replies].map(([id, r]) => `${id}: ${r.join(' | ')}`).join('\n  ');
  throw new Violation(
    `${kind}: ${what}\naccepted:\n  ${sent}\napplied:\n  ${applied}\nreplies:\n  ${replies}\nunknown: ${[...h.unknown].join(',')}\ndead-lettered: ${[...h.deadLettered()].join(',')}\nrefused: ${[...m.refused].join(',')}\n${h.describe()}`,
  );
}

/**
 * May this message be missing? Yes if it is unknown (its run was cut short by a crash)
 * or dead-lettered (out of retries, reported): lost, but never silently.
 */
function mayMiss(h: Harness, dead: ReadonlySet<string>, id: string): boolean {
  return h.unknown.has(id) || dead.has(id);
}

/** Must hold after every command. */
function assertSafety(m: Model, h: Harness): void {
  const dead = h.deadLettered();
  for (const [id, replies] of h.replies) {
    if (!m.wantsReply.has(id)) fail('unexpected', `a reply to ${id}, which asked for none or was never accepted`, h, m);
    if (replies.length > 1) fail('duplicated', `${id} got ${replies.length} replies: ${replies.join(' | ')}`, h, m);
  }
  const applied = h.appliedByStream();
  for (const [stream, ids] of applied) {
    const sent = m.sent.get(stream);
    const seen = new Set<string>();
    for (const id of ids) {
      if (seen.has(id)) fail('duplicated', `${id} ran twice on ${stream}`, h, m);
      seen.add(id);
      if (!sent?.includes(id)) fail('unexpected', `${id} ran on ${stream} but was never accepted there${m.refused.has(id) ? ' (its accept was refused)' : ''}`, h, m);
    }
    if (!stream.endsWith('~REQTestRecord')) continue;
    // In order, with gaps only where a message is unknown.
    let next = 0;
    for (const id of ids) {
      const at = sent!.indexOf(id);
      if (at < next) fail('reordered', `${id} ran after a message accepted later on ${stream}`, h, m);
      for (const skipped of sent!.slice(next, at)) {
        if (!mayMiss(h, dead, skipped)) fail('reordered', `${id} ran before ${skipped}, accepted earlier on ${stream}`, h, m);
      }
      next = at + 1;
    }
  }
}

/** After the drain: every accepted message that is not unknown ran exactly once. */
function assertComplete(m: Model, h: Harness): void {
  assertSafety(m, h);
  const dead = h.deadLettered();
  if (h.readSpins.length > 0) throw new Violation(`a failing store read was retried in a hot loop on ${h.readSpins.join(', ')}\n${h.describe()}`);
  const applied = h.appliedByStream();
  for (const [stream, sent] of m.sent) {
    const ran = new Set(applied.get(stream) ?? []);
    for (const id of sent) {
      totals.messagesChecked++;
      if (mayMiss(h, dead, id)) continue;
      if (!ran.has(id)) fail('lost', `${id}, accepted on ${stream}, never ran`, h, m);
    }
  }
  // Every request that asked for a reply got one: its result, or the error that it was
  // interrupted.
  for (const id of m.wantsReply) {
    const replies = h.replies.get(id) ?? [];
    // A reply is a message too: its own run may be cut short by a crash of the requester.
    if (replies.length === 0 && !dead.has(id) && !mayMiss(h, dead, replyIdOf(id))) fail('lost', `the reply to ${id} never came back`, h, m);
    if (replies.length > 0 && !h.unknown.has(id) && replies[0] !== `ran ${id}`) fail('unexpected', `the reply to ${id}, which ran, says "${replies[0]}"`, h, m);
  }
  // Nothing dropped silently: every unknown message was reported as interrupted.
  const reports = h.interruptedReports();
  // A batch with an exact effect (a file append's) is reconciled, never reported interrupted.
  for (const id of h.reconciled) {
    if (!h.unknown.has(id) && reports.some((r) => r.includes(` ${id} `))) fail('unexpected', `${id} was in a batch cut back after a crash, yet reported interrupted`, h, m);
  }
  for (const id of h.unknown) {
    if (!reports.some((r) => r.includes(` ${id} `))) fail('lost', `${id} was cut short by a crash but never reported as interrupted`, h, m);
  }
}

/** The id the runtime gives the reply to request `id`. */
const replyIdOf = (id: string) => `${id}.reply`;

const all = <T,>(xs: readonly T[]) => fc.constantFrom(...xs);

function pairArb(): fc.Arbitrary<[string, string]> {
  return fc.tuple(all(NODES), all(NODES)).filter(([x, y]) => x !== y);
}

// ---- commands ------------------------------------------------------------------------

type Cmd = fc.AsyncCommand<Model, Harness>;

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

class Advance implements Cmd {
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

class BusRestart implements Cmd {
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
const sendArb = fc
  .tuple(pairArb(), all(['ordered', 'unordered'] as const), countArb, fc.boolean(), retriesArb, crashAtArb, fc.integer({ min: 0, max: 3 }))
  // One send in four goes through the third node (relayViaNode).
  .map(([[from, to], kind, n, reply, retries, crashAt, route]) => {
    const via = route === 0 ? NODES.find((x) => x !== from && x !== to) : undefined;
    return new Send(from, to, kind, n, reply, retries, crashAt, via);
  });
const advanceArb = fc.integer({ min: 1, max: 4000 }).map((ms) => new Advance(ms));
const crashArb = fc
  .tuple(all(NODES), fc.boolean(), fc.constantFrom(0, 0, 500, 3000))
  .map(([node, powerLoss, downMs]) => new Crash(node, powerLoss, downMs));
const armArb = fc.tuple(all(NODES), all(RECEIVER_CRASH_POINTS)).map(([node, point]) => new ArmCrash(node, point));
const busFaultArb = all(['drop', 'duplicate', 'delay', 'reorder', 'mixed', 'none'] as const).map((k) => new BusFault(k));
const partitionArb = fc.tuple(all(NODES), fc.option(all(NODES), { nil: undefined })).map(([x, y]) => new Partition(x, y === x ? undefined : y));

const commandArbs: Array<fc.Arbitrary<Cmd>> = [
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

const replayArb = fc
  .tuple(fc.array(fc.nat({ max: 10_000 }), { minLength: 1, maxLength: 12 }), all(['asIs', 'renumber', 'reorder'] as const), fc.constantFrom(-2, -1, 1, 2, 3, 50))
  .map(([picks, mode, delta]) => new Replay(picks, mode, delta));

/** The bus's fault seed. */
const seedArb = fc.integer({ min: 1, max: 2 ** 30 });
/** Frames in flight per stream: 1 and 2 make refills from the outbox and full windows common. */
const windowArb = fc.constantFrom(1, 2, 4, 16);

/** One run: the commands, then heal and drain, then the completeness check. */
async function runModel(harness: Harness, run: (setup: () => { model: Model; real: Harness }) => Promise<void>): Promise<void> {
  totals.runs++;
  const model = newModel();
  try {
    await run(() => ({ model, real: harness }));
    harness.scheduler = undefined;
    totals.virtualMsDraining += await harness.healAndDrain({
      maxVirtualMs: 180_000,
      done: () => {
        const dead = harness.deadLettered();
        for (const id of model.wantsReply) if (!harness.replies.has(id) && !dead.has(id) && !mayMiss(harness, dead, replyIdOf(id))) return false;
        const applied = harness.appliedByStream();
        for (const [stream, sent] of model.sent) {
          const ran = new Set(applied.get(stream) ?? []);
          if (sent.some((id) => !ran.has(id) && !mayMiss(harness, dead, id))) return false;
        }
        return true;
      },
    });
    assertComplete(model, harness);
    totals.unknown += harness.unknown.size;
    totals.reconciled += [...harness.reconciled].filter((id) => !harness.unknown.has(id)).length;
    totals.batches += harness.batched.stats.batches;
    totals.batchesOfSeveral += harness.batched.stats.batchesOfSeveral;
    totals.deadLettered += harness.deadLettered().size;
  } finally {
    for (const [k, v] of Object.entries(harness.stats.crashPointsHit)) if (v) count(totals.faults, `hit@${k}`, v);
    const bus = harness.bus.stats;
    count(totals.frames, 'published', bus.published);
    count(totals.frames, 'dropped', bus.dropped);
    count(totals.frames, 'duplicated', bus.duplicated);
    count(totals.frames, 'delayed', bus.delayed);
    count(totals.frames, 'reordered', bus.reordered);
    count(totals.frames, 'viaScheduler', harness.stats.scheduledFrames);
    await harness.dispose();
  }
}

/**
 * Replaying a failure: fast-check prints `seed`, `path` and the command list's
 * `replayPath`; pass them back as BOSUN_FC_SEED, BOSUN_FC_PATH and BOSUN_FC_REPLAY_PATH.
 */
const replay = process.env.BOSUN_FC_SEED
  ? { seed: Number(process.env.BOSUN_FC_SEED), ...(process.env.BOSUN_FC_PATH ? { path: process.env.BOSUN_FC_PATH } : {}) }
  : {};
const replayPath = process.env.BOSUN_FC_REPLAY_PATH ? { replayPath: process.env.BOSUN_FC_REPLAY_PATH } : {};

// A crashed node's code runs on after `crash()` (a process would not) and sends events to
// actors that are stopped; xstate warns about each. Counted, not printed.
const warn = console.warn;
beforeAll(() => {
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes('was sent to stopped actor')) totals.stoppedActorWarnings++;
    else warn(...args);
  };
});

afterAll(async () => {
  console.warn = warn;
  await removeHarnessFiles();
  console.log(`reliability model totals: ${JSON.stringify(totals, null, 2)}`);
});

function asyncProperty(replayPath: { replayPath?: string }) {
  return fc.asyncProperty(seedArb, windowArb, fc.commands(commandArbs, { maxCommands: 35, size: 'max', ...replayPath }), async (seed, windowSize, cmds) => {
    const harness = await Harness.create({ seed, windowSize, nodes: NODES });
    await runModel(harness, (setup) => fc.asyncModelRun(setup, cmds));
  });
}

/** The same faults, and an attacker who replays captured frames and ACKs; the nodes sign their frames. */
function attackedProperty(replayPath: { replayPath?: string }) {
  const commands = [...commandArbs, replayArb, replayArb, replayArb];
  return fc.asyncProperty(seedArb, windowArb, fc.commands(commands, { maxCommands: 35, size: 'max', ...replayPath }), async (seed, windowSize, cmds) => {
    const attacker = new FrameAttacker();
    const harness = await Harness.create({ seed, windowSize, nodes: NODES, attacker });
    try {
      await runModel(harness, (setup) => fc.asyncModelRun(setup, cmds));
    } finally {
      for (const [k, v] of Object.entries(attacker.stats)) totals.attack[k as keyof typeof attacker.stats] += v;
    }
  });
}

function scheduledProperty(replayPath: { replayPath?: string }) {
  const raceCommands: Array<fc.Arbitrary<Cmd>> = [
    sendArb,
    sendArb,
    fc.integer({ min: 0, max: 1500 }).map((ms) => new Advance(ms)),
    fc.integer({ min: 0, max: 1500 }).map((ms) => new Advance(ms)),
    crashArb,
    armArb,
    fc.constant(new BusRestart()),
  ];
  return fc.asyncProperty(seedArb, windowArb, fc.scheduler(), fc.commands(raceCommands, { maxCommands: 25, size: 'max', ...replayPath }), async (seed, windowSize, s, cmds) => {
    const harness = await Harness.create({ seed, windowSize, nodes: NODES, scheduler: s });
    await runModel(harness, (setup) => fc.scheduledModelRun(s, setup, cmds));
  });
}

/**
 * Counterexamples the model once found, replayed on every run. A change to the command
 * arbitraries changes what a seed and path produce: find them again then (the fix they
 * guard stays covered by the random runs only until they are replaced).
 */
const KNOWN_COUNTEREXAMPLES = [
  {
    // An interrupted run's error reply, on a stream not open yet, was written after the
    // batch that recorded the run; a crash right after that batch lost it.
    property: 'async',
    seed: -1632565398,
    path: '557:0:5:5:10:15:20:20:24:25:30:20:28:25:31:32:30:28:30:31:30:33:34:33:37:37:36:37:36:36:36:37:42',
    replayPath: '////////N:/H',
  },
  {
    // The same, for a reply going back through a relay.
    property: 'scheduled',
    seed: -1584241274,
    path: '31:0:9:5:29:4:31:0:3:15:22:2:16',
    replayPath: '//S:H',
  },
  {
    // An ordered stream's message given up (dead letter) after its receiver took it: the
    // receiver's ACKs name the message, the sender's window holds a skip at its place, and
    // the ACK was taken for one of another message, forever.
    property: 'attacked',
    seed: -2316936,
    path: '356:1:0:4:0:0:3:3:2:0:5:5:3:4:4',
    replayPath: '/Y:D',
  },
] as const;

describe('reliability model: accepted messages run once, in order per stream, despite faults', () => {
  it(
    'holds under random crashes, crash points and bus faults (asyncModelRun)',
    async () => {
      await fc.assert(asyncProperty(replayPath), { numRuns: RUNS, ...replay });
    },
    // About a minute on an idle 2-core machine; the margin is for a loaded one.
    900_000,
  );

  it(
    'holds when a scheduler picks the order of frames, retries and crashes (scheduledModelRun)',
    async () => {
      await fc.assert(scheduledProperty(replayPath), { numRuns: Math.max(1, Math.round(RUNS / 10)), ...replay });
    },
    900_000,
  );

  it(
    'holds when someone on the bus replays, renumbers and reorders captured frames and ACKs (signed frames)',
    async () => {
      await fc.assert(attackedProperty(replayPath), { numRuns: ATTACK_RUNS, ...replay });
    },
    900_000,
  );

  it.each(KNOWN_COUNTEREXAMPLES)('holds for the counterexample $property/$seed it once found', async ({ property, seed, path, replayPath }) => {
    const settings = { seed, path, numRuns: 1 };
    if (property === 'async') await fc.assert(asyncProperty({ replayPath }), settings);
    else if (property === 'attacked') await fc.assert(attackedProperty({ replayPath }), settings);
    else await fc.assert(scheduledProperty({ replayPath }), settings);
  }, 120_000);
});
