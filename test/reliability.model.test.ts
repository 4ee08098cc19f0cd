import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { Harness, removeHarnessFiles } from './helpers/harness.ts';
import { FrameAttacker } from './helpers/frameAttacker.ts';
import { Advance, armArb, batchCrashArb, BusRestart, commandArbs, crashArb, NODES, replayArb, sendArb, seedArb, windowArb, type Cmd } from './helpers/reliabilityCommands.ts';
import { assertComplete, count, mayMiss, newModel, replyIdOf, totals, type Model } from './helpers/reliabilityModel.ts';

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
 * tenth of it, the batch-crash variant half, the attacked variant 100 unless BOSUN_FC_RUNS
 * is given). A failure prints fast-check's seed, path and the shrunk command list;
 * replay it with BOSUN_FC_SEED, BOSUN_FC_PATH and BOSUN_FC_REPLAY_PATH (and `-t` to pick
 * the variant).
 *
 * The model and its checks are in `helpers/reliabilityModel.ts`, the commands and their
 * arbitraries in `helpers/reliabilityCommands.ts`.
 */

const RUNS = Number(process.env.BOSUN_FC_RUNS ?? 1000);
/** Runs of the variant with an attacker on the bus: modest by default, BOSUN_FC_RUNS when given. */
const ATTACK_RUNS = process.env.BOSUN_FC_RUNS ? RUNS : 100;

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

function asyncProperty(replayPath: { replayPath?: string }, commands: Array<fc.Arbitrary<Cmd>> = commandArbs) {
  return fc.asyncProperty(seedArb, windowArb, fc.commands(commands, { maxCommands: 35, size: 'max', ...replayPath }), async (seed, windowSize, cmds) => {
    const harness = await Harness.create({ seed, windowSize, nodes: NODES });
    await runModel(harness, (setup) => fc.asyncModelRun(setup, cmds));
  });
}

/**
 * The same faults, and now and then a crash armed inside a batch followed by a burst of
 * ordered messages into it: the batch that takes several crashes after its first effect.
 * (A property of its own: adding a command to `commandArbs` would change what the stored
 * counterexamples replay.)
 */
function batchCrashProperty(replayPath: { replayPath?: string }) {
  return asyncProperty(replayPath, [...commandArbs, batchCrashArb, batchCrashArb]);
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
    'holds when crashes cut batches short after their first effect (asyncModelRun, batch crashes)',
    async () => {
      await fc.assert(batchCrashProperty(replayPath), { numRuns: Math.max(1, Math.round(RUNS / 2)), ...replay });
    },
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
