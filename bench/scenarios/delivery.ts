import path from 'node:path';
import type { AcceptResult } from '../harness/protocol.ts';
import { combineReps, type Check, type FigureSpec, type RepOutcome } from '../harness/results.ts';
import { baselineRef, baselinesOf, evaluateTarget, type BaselineRef, type TargetSpec } from '../harness/targets.ts';
import { UsageWindow } from '../harness/usageWindow.ts';
import type { WorkerProcess } from '../harness/workers.ts';
import { duplicateFrames, errorCheck, startNodeWorker, waitDelivered, type NodeStatus } from './nodes.ts';
import type { Scenario, ScenarioContext } from './types.ts';

/** How messages are handed to the sender: as a client would, in array inputs. */
export const ACCEPT_BATCH = 1000;
export const ACCEPT_LANES = 4;

const FIGURES: Record<string, FigureSpec> = {
  rate: { label: 'delivery rate (first accept → last run)', unit: 'msg/s', higherIsBetter: true },
  acceptRate: { label: 'accept rate (durable in the outbox)', unit: 'msg/s', higherIsBetter: true },
  ackedSeconds: { label: 'first accept → everything ACKed', unit: 's', higherIsBetter: false },
  duplicateFrames: { label: 'frames ship1 received twice (resends)', unit: 'frames', higherIsBetter: false },
};

interface Variant {
  name: string;
  summary: string;
  method: 'REQNone' | 'REQnNone';
  transport: 'nats' | 'embedded';
  /** fsync every group commit (default true). */
  sync?: boolean;
  /** Both nodes sign and check (`--secure`); embedded only. */
  secure?: boolean;
}

function scale(ctx: ScenarioContext) {
  return {
    count: ctx.quick ? 20_000 : 100_000,
    reps: ctx.repetitionsOverride ?? (ctx.quick ? 2 : 3),
    timeoutMs: ctx.quick ? 25_000 : 300_000,
  };
}

async function oneRep(ctx: ScenarioContext, v: Variant, rep: number, count: number, timeoutMs: number): Promise<RepOutcome> {
  const dir = await ctx.tempDir(`${v.name}-r${rep}`);
  const sync = v.sync ?? true;
  const workers: WorkerProcess[] = [];
  try {
    let central: WorkerProcess;
    let ship: WorkerProcess;
    let usageOf: Record<string, WorkerProcess>;
    if (v.transport === 'nats') {
      ship = (await startNodeWorker(ctx, 'ship1', rep, { node: 'ship1', dataDir: path.join(dir, 'ship1'), sync, servers: ctx.servers })).worker;
      workers.push(ship);
      central = (await startNodeWorker(ctx, 'central', rep, { node: 'central', dataDir: path.join(dir, 'central'), sync, servers: ctx.servers })).worker;
      workers.push(central);
      usageOf = { central, ship1: ship };
    } else {
      central = ship = await ctx.spawn('embedded', rep);
      workers.push(central);
      const secure = v.secure ? { secure: true } : {};
      const startShip = () => central.call({ cmd: 'node.start', spec: { node: 'ship1', dataDir: path.join(dir, 'ship1'), sync, ...secure } });
      const startCentral = () => central.call({ cmd: 'node.start', spec: { node: 'central', dataDir: path.join(dir, 'central'), sync, ...secure } });
      // A secure ship is allowed by its central, which must run first.
      if (v.secure) await startCentral().then(startShip);
      else await startShip().then(startCentral);
      usageOf = { 'central+ship1': central };
    }
    ctx.progress(`${v.name} rep ${rep}: ${count.toLocaleString('en-US')} ${v.method}`);
    const window = await UsageWindow.open(usageOf, v.transport === 'nats' ? ctx.natsPid : undefined);
    const delivered = waitDelivered(ctx, { worker: ship, node: 'ship1' }, { worker: central, node: 'central' }, count, { timeoutMs, source: 'counters', label: `${v.name} rep ${rep}` });
    const accepted = await central.call<AcceptResult>({ cmd: 'node.accept', node: 'central', plan: { toNode: 'ship1', method: v.method, count, batch: ACCEPT_BATCH, lanes: ACCEPT_LANES } });
    const d = await delivered;
    const idle = await central.call<{ idle: boolean; at: number }>({ cmd: 'node.waitIdle', node: 'central', timeoutMs: d.reached ? 30_000 : 0 });
    const processes = await window.close(count);
    const [cs, ss] = await Promise.all([
      central.call<NodeStatus>({ cmd: 'node.status', node: 'central' }),
      ship.call<NodeStatus>({ cmd: 'node.status', node: 'ship1' }),
    ]);
    const lastAt = d.lastAt ?? accepted.lastAt;
    const checks: Check[] = [
      {
        label: `all messages run on ship1`,
        ok: d.reached,
        ...(d.reached
          ? {}
          : { detail: `${(count - d.executed).toLocaleString('en-US')} of ${count.toLocaleString('en-US')} never ran (${d.senderIdle ? 'the sender had every message ACKed: they are lost' : d.reason})` }),
      },
      { label: 'sender drained (everything ACKed)', ok: idle.idle, ...(idle.idle ? {} : { detail: JSON.stringify(cs.senders) }) },
      { label: 'every accept succeeded', ok: accepted.refused === 0, ...(accepted.refused ? { detail: `${accepted.refused} refused` } : {}) },
      errorCheck('central', cs),
      errorCheck('ship1', ss),
    ];
    return {
      figures: {
        rate: (1000 * d.executed) / (lastAt - accepted.firstAt),
        acceptRate: (1000 * accepted.accepted) / (accepted.lastAt - accepted.firstAt),
        ...(idle.idle ? { ackedSeconds: (idle.at - accepted.firstAt) / 1000 } : {}),
        duplicateFrames: duplicateFrames(ss),
      },
      processes,
      checks,
    };
  } finally {
    await ctx.release(...workers);
  }
}

function deliveryScenario(
  v: Variant,
  targets: (ctx: ScenarioContext) => Promise<TargetSpec[]>,
  comparisons: (ctx: ScenarioContext) => Promise<Array<BaselineRef | undefined>> = async () => [],
): Scenario {
  return {
    name: v.name,
    summary: v.summary,
    async run(ctx) {
      const { count, reps, timeoutMs } = scale(ctx);
      const specs = await targets(ctx);
      const extra = await comparisons(ctx);
      const outcomes: RepOutcome[] = [];
      for (let rep = 1; rep <= reps; rep++) outcomes.push(await oneRep(ctx, v, rep, count, timeoutMs));
      const combined = combineReps(outcomes, FIGURES);
      return {
        kind: 'scenario',
        scenario: v.name,
        summary: v.summary,
        quick: ctx.quick,
        ...(ctx.quick ? { scaleNote: `--quick: ${count.toLocaleString('en-US')} messages instead of 100,000; ${reps} repetition(s)` } : {}),
        parameters: { messages: count, method: v.method, acceptBatch: ACCEPT_BATCH, acceptLanes: ACCEPT_LANES, windowSize: 1000, sync: v.sync ?? true, transport: v.transport, secure: v.secure ?? false },
        repetitions: reps,
        ...combined,
        baselines: baselinesOf(specs, extra),
        targets: specs.map((s) => evaluateTarget(s, combined.figures)),
        errors: [],
      };
    },
  };
}

export const deliveryNats = deliveryScenario(
  {
    name: 'delivery-nats',
    summary: 'ordered REQNone, central → ship1, two worker processes over nats-server, LevelDB sync on both sides',
    method: 'REQNone',
    transport: 'nats',
  },
  async (ctx) => {
    const rr = baselineRef(await ctx.baseline('raw-request-reply'), 'rate');
    const pe = baselineRef(await ctx.baseline('raw-publish-echo'), 'rate');
    return [
      { label: 'rate ≥ 2 × raw request/reply', figure: 'rate', op: '>=', target: rr && 2 * rr.value, unit: 'msg/s', basis: '2 × raw-request-reply', ...(rr ? { baseline: rr } : {}) },
      { label: 'stretch: rate ≥ 25% of raw publish + echo', figure: 'rate', op: '>=', target: pe && 0.25 * pe.value, unit: 'msg/s', basis: '0.25 × raw-publish-echo', ...(pe ? { baseline: pe } : {}) },
    ];
  },
);

export const deliveryEmbedded = deliveryScenario(
  {
    name: 'delivery-embedded',
    summary: 'ordered REQNone, central → ship1 in one process on the in-process bus, LevelDB sync on both sides',
    method: 'REQNone',
    transport: 'embedded',
  },
  // Every message needs synced writes on two stores (outbox, inbox): half of what LevelDB
  // alone syncs in batches of 1,000 is the honest limit on this machine.
  async (ctx) => {
    const level = baselineRef(await ctx.baseline('raw-leveldb-sync'), 'rate');
    return [{ label: 'rate ≥ 0.5 × raw LevelDB synced batches', figure: 'rate', op: '>=', target: level && 0.5 * level.value, unit: 'msg/s', basis: '0.5 × raw-leveldb-sync', ...(level ? { baseline: level } : {}) }];
  },
  async (ctx) => [baselineRef(await ctx.baseline('raw-leveldb-sync'), 'rate4')],
);

export const deliveryUnordered = deliveryScenario(
  {
    name: 'delivery-unordered',
    summary: 'unordered REQnNone, central → ship1, two worker processes over nats-server, LevelDB sync on both sides',
    method: 'REQnNone',
    transport: 'nats',
  },
  async (ctx) => {
    const ordered = baselineRef(ctx.earlier('delivery-nats'), 'rate');
    return [
      {
        label: 'rate ≥ delivery-nats rate',
        figure: 'rate',
        op: '>=',
        target: ordered?.value,
        unit: 'msg/s',
        basis: 'delivery-nats (this run)',
        ...(ordered ? { baseline: ordered } : { missingBecause: 'delivery-nats did not run in this invocation' }),
      },
    ];
  },
);

/**
 * Diagnostic, not part of a full run (name it to run it): delivery-nats without fsync.
 * Its distance from delivery-nats is what waiting for the disk costs; what remains is CPU
 * and protocol.
 */
export const deliveryNatsNoSync = deliveryScenario(
  {
    name: 'delivery-nats-nosync',
    summary: 'diagnostic: delivery-nats with sync: false on both nodes (LevelDB without fsync)',
    method: 'REQNone',
    transport: 'nats',
    sync: false,
  },
  async () => [],
  async (ctx) => [baselineRef(ctx.earlier('delivery-nats'), 'rate')],
);

/**
 * Diagnostic, not part of a full run (name it to run it): delivery-embedded with both
 * nodes secure. Its distance from delivery-embedded is what signing and checking cost:
 * the message's signature and its delivery signature, made and checked, the seen-set of
 * message ids, and ACK signatures.
 */
export const deliveryEmbeddedSecure = deliveryScenario(
  {
    name: 'delivery-embedded-secure',
    summary: 'diagnostic: delivery-embedded with --secure on both nodes',
    method: 'REQNone',
    transport: 'embedded',
    secure: true,
  },
  async () => [],
  async (ctx) => [baselineRef(ctx.earlier('delivery-embedded'), 'rate')],
);
