import path from 'node:path';
import { combineReps, type FigureSpec, type RepOutcome } from '../harness/results.ts';
import { percentiles } from '../harness/stats.ts';
import { baselineRef, baselinesOf, evaluateTarget, type TargetSpec } from '../harness/targets.ts';
import { UsageWindow } from '../harness/usageWindow.ts';
import type { WorkerProcess } from '../harness/workers.ts';
import { errorCheck, startNodeWorker, type NodeStatus } from './nodes.ts';
import type { Scenario } from './types.ts';

const FIGURES: Record<string, FigureSpec> = {
  p50: { label: 'round trip p50 (send → reply resolves)', unit: 'ms', higherIsBetter: false },
  p99: { label: 'round trip p99', unit: 'ms', higherIsBetter: false },
  max: { label: 'round trip max', unit: 'ms', higherIsBetter: false },
  rate: { label: 'sequential round trips', unit: '/s', higherIsBetter: true },
};

/**
 * Synced writes a REQPing round trip waits for, one after another: central's outbox
 * (accept), ship1's inbox (before its ACK), ship1's run record with the REQPong in its
 * outbox, central's inbox. The ACKs' writes (deletes of ACKed outbox rows, not synced) and
 * the runs' finishes on central are off the path.
 */
const SYNCED_WRITES_PER_ROUND_TRIP = 4;

/** Sequential REQPing round trips between two daemons, against sequential nats.js requests. */
export const latency: Scenario = {
  name: 'latency',
  summary: 'sequential REQPing round trips central → ship1 → central (reply REQPong) over nats-server, LevelDB sync',
  async run(ctx) {
    const count = ctx.quick ? 300 : 1000;
    const warmup = ctx.quick ? 30 : 100;
    const reps = ctx.repetitionsOverride ?? (ctx.quick ? 2 : 3);
    const raw = await ctx.baseline('raw-latency');
    const p50 = baselineRef(raw, 'p50');
    const p99 = baselineRef(raw, 'p99');
    const put = baselineRef(await ctx.baseline('raw-leveldb-sync'), 'putP50');
    const limit = p50 && put ? p50.value + SYNCED_WRITES_PER_ROUND_TRIP * put.value : undefined;
    const specs: TargetSpec[] = [
      {
        label: `p50 ≤ raw request p50 + ${SYNCED_WRITES_PER_ROUND_TRIP} × one synced put`,
        figure: 'p50',
        op: '<=',
        target: limit,
        unit: 'ms',
        basis: `raw-latency p50 + ${SYNCED_WRITES_PER_ROUND_TRIP} × raw-leveldb-sync putP50`,
        ...(p50 ? { baseline: p50 } : {}),
        ...(limit === undefined ? { missingBecause: 'raw-latency or raw-leveldb-sync failed' } : {}),
      },
      { label: 'p99 ≤ 3 × raw request p99', figure: 'p99', op: '<=', target: p99 && 3 * p99.value, unit: 'ms', basis: '3 × raw-latency p99', ...(p99 ? { baseline: p99 } : {}) },
    ];
    const outcomes: RepOutcome[] = [];
    for (let rep = 1; rep <= reps; rep++) {
      const dir = await ctx.tempDir(`latency-r${rep}`);
      const workers: WorkerProcess[] = [];
      try {
        const ship = (await startNodeWorker(ctx, 'ship1', rep, { node: 'ship1', dataDir: path.join(dir, 'ship1'), sync: true, servers: ctx.servers })).worker;
        workers.push(ship);
        const central = (await startNodeWorker(ctx, 'central', rep, { node: 'central', dataDir: path.join(dir, 'central'), sync: true, servers: ctx.servers })).worker;
        workers.push(central);
        ctx.progress(`latency rep ${rep}: ${count} round trips after ${warmup} to warm up`);
        const window = await UsageWindow.open({ central, ship1: ship }, ctx.natsPid);
        const samples = await central.call<number[]>({ cmd: 'node.ping', node: 'central', toNode: 'ship1', count, warmup });
        const processes = await window.close(count + warmup);
        const [cs, ss] = await Promise.all([
          central.call<NodeStatus>({ cmd: 'node.status', node: 'central' }),
          ship.call<NodeStatus>({ cmd: 'node.status', node: 'ship1' }),
        ]);
        const p = percentiles(samples);
        outcomes.push({
          figures: { p50: p.p50, p99: p.p99, max: p.max, rate: 1000 / p.mean },
          processes,
          checks: [{ label: `every ping answered`, ok: samples.length === count }, errorCheck('central', cs), errorCheck('ship1', ss)],
        });
      } finally {
        await ctx.release(...workers);
      }
    }
    const combined = combineReps(outcomes, FIGURES);
    return {
      kind: 'scenario',
      scenario: 'latency',
      summary: this.summary,
      quick: ctx.quick,
      ...(ctx.quick ? { scaleNote: `--quick: ${count} round trips instead of 1,000; ${reps} repetition(s)` } : {}),
      parameters: { roundTrips: count, warmup, sync: true, transport: 'nats', syncedWritesPerRoundTrip: SYNCED_WRITES_PER_ROUND_TRIP },
      repetitions: reps,
      ...combined,
      baselines: baselinesOf(specs, [put]),
      targets: specs.map((s) => evaluateTarget(s, combined.figures)),
      errors: [],
    };
  },
};
