import path from 'node:path';
import type { AcceptResult, WaitResult } from '../harness/protocol.ts';
import { combineReps, type FigureSpec, type RepOutcome } from '../harness/results.ts';
import { baselineRef, baselinesOf, evaluateTarget, type TargetSpec } from '../harness/targets.ts';
import { UsageWindow } from '../harness/usageWindow.ts';
import type { WorkerProcess } from '../harness/workers.ts';
import { ORDER_CHECKED_METHOD } from '../worker/orderCheck.ts';
import { ACCEPT_BATCH, ACCEPT_LANES } from './delivery.ts';
import { duplicateFrames, errorCheck, orderCheck, startNodeWorker, waitDelivered, type NodeStatus } from './nodes.ts';
import type { Scenario } from './types.ts';

const FIGURES: Record<string, FigureSpec> = {
  acceptRate: { label: 'accept rate while ship1 is down', unit: 'msg/s', higherIsBetter: true },
  senderRssMB: { label: 'central peak RSS with everything queued', unit: 'MB', higherIsBetter: false },
  drainRate: { label: 'delivery rate (ship1 start → last run)', unit: 'msg/s', higherIsBetter: true },
  steadyRate: { label: 'delivery rate (first run → last run)', unit: 'msg/s', higherIsBetter: true },
  firstRunSeconds: { label: 'ship1 start → first run', unit: 's', higherIsBetter: false },
  duplicateFrames: { label: 'frames ship1 received twice (resends)', unit: 'frames', higherIsBetter: false },
};

/**
 * A node that was known, went down, and comes back to a long queue: the outbox must hold
 * the queue on disk (not in memory), and deliver it, in order, once the node is back.
 */
export const offlineQueue: Scenario = {
  name: 'offline-queue',
  summary: 'messages accepted for a node that is down (outbox on disk), then delivered in order when it comes back',
  async run(ctx) {
    const count = ctx.quick ? 50_000 : 1_000_000;
    // One repetition by default even in a full run: a million messages take minutes each way.
    const reps = ctx.repetitionsOverride ?? 1;
    const timeoutMs = ctx.quick ? 30_000 : 600_000;
    const ordered = baselineRef(ctx.earlier('delivery-nats'), 'rate');
    const level = await ctx.baseline('raw-leveldb-sync');
    const specs: TargetSpec[] = [
      { label: 'accept rate ≥ 100,000 msg/s', figure: 'acceptRate', op: '>=', target: 100_000, unit: 'msg/s', basis: 'fixed' },
      { label: 'sender RSS ≤ 256 MB with everything queued', figure: 'senderRssMB', op: '<=', target: 256, unit: 'MB', basis: 'fixed' },
      {
        label: 'delivery after restart ≥ delivery-nats rate',
        figure: 'drainRate',
        op: '>=',
        target: ordered?.value,
        unit: 'msg/s',
        basis: 'delivery-nats (this run)',
        ...(ordered ? { baseline: ordered } : { missingBecause: 'delivery-nats did not run in this invocation' }),
      },
    ];
    const outcomes: RepOutcome[] = [];
    for (let rep = 1; rep <= reps; rep++) {
      const dir = await ctx.tempDir(`offline-queue-r${rep}`);
      const shipSpec = { node: 'ship1', dataDir: path.join(dir, 'ship1'), sync: true, servers: ctx.servers };
      const workers: WorkerProcess[] = [];
      try {
        // ship1 exists and has received from central before: it knows the stream.
        const firstShip = (await startNodeWorker(ctx, 'ship1-before', rep, { ...shipSpec, orderCheckFrom: 0 })).worker;
        workers.push(firstShip);
        const central = (await startNodeWorker(ctx, 'central', rep, { node: 'central', dataDir: path.join(dir, 'central'), sync: true, servers: ctx.servers })).worker;
        workers.push(central);
        await central.call({ cmd: 'node.accept', node: 'central', plan: { toNode: 'ship1', method: ORDER_CHECKED_METHOD, count: 1, batch: 1, lanes: 1, dataFrom: 0 } });
        const primed = await firstShip.call<WaitResult>({ cmd: 'node.waitExecuted', node: 'ship1', count: 1, timeoutMs: 10_000, stallMs: 10_000, source: 'orderCheck' });
        if (!primed.reached) throw new Error('ship1 did not run the first message');
        await central.call({ cmd: 'node.waitIdle', node: 'central', timeoutMs: 10_000 });
        await ctx.release(firstShip);
        workers.splice(workers.indexOf(firstShip), 1);

        ctx.progress(`offline-queue rep ${rep}: accepting ${count.toLocaleString('en-US')} for ship1, which is down`);
        const acceptWindow = await UsageWindow.open({ central }, ctx.natsPid);
        const accepted = await central.call<AcceptResult>({
          cmd: 'node.accept',
          node: 'central',
          plan: { toNode: 'ship1', method: ORDER_CHECKED_METHOD, count, batch: ACCEPT_BATCH, lanes: ACCEPT_LANES, dataFrom: 1 },
        });
        const acceptUsage = await acceptWindow.close(count);

        ctx.progress(`offline-queue rep ${rep}: ship1 is back`);
        const { worker: ship, startedAt } = await startNodeWorker(ctx, 'ship1', rep, { ...shipSpec, orderCheckFrom: 1 });
        workers.push(ship);
        const window = await UsageWindow.open({ central, ship1: ship }, ctx.natsPid);
        const d = await waitDelivered(ctx, { worker: ship, node: 'ship1' }, { worker: central, node: 'central' }, count, { timeoutMs, source: 'orderCheck', label: `offline-queue rep ${rep}` });
        const processes = await window.close(count);
        const [cs, ss] = await Promise.all([
          central.call<NodeStatus>({ cmd: 'node.status', node: 'central' }),
          ship.call<NodeStatus>({ cmd: 'node.status', node: 'ship1' }),
        ]);
        const lastAt = d.lastAt ?? startedAt;
        outcomes.push({
          figures: {
            acceptRate: (1000 * accepted.accepted) / (accepted.lastAt - accepted.firstAt),
            senderRssMB: acceptUsage.central!.peakRssBytes / 2 ** 20,
            drainRate: (1000 * d.executed) / (lastAt - startedAt),
            duplicateFrames: duplicateFrames(ss),
            ...(d.firstAt !== undefined ? { steadyRate: (1000 * d.executed) / (lastAt - d.firstAt), firstRunSeconds: (d.firstAt - startedAt) / 1000 } : {}),
          },
          processes: { 'central (accepting)': acceptUsage.central!, ...processes },
          checks: [
            orderCheck(d.order, 1, count, d),
            { label: 'every accept succeeded', ok: accepted.refused === 0, ...(accepted.refused ? { detail: `${accepted.refused} refused` } : {}) },
            errorCheck('central', cs),
            errorCheck('ship1', ss),
          ],
        });
      } finally {
        await ctx.release(...workers);
      }
    }
    const combined = combineReps(outcomes, FIGURES);
    return {
      kind: 'scenario',
      scenario: 'offline-queue',
      summary: this.summary,
      quick: ctx.quick,
      scaleNote: ctx.quick
        ? `--quick: ${count.toLocaleString('en-US')} messages instead of 1,000,000 (the suggested 100,000 take over a minute at the rates measured so far); ${reps} repetition(s)`
        : `${reps} repetition(s) unless --reps says otherwise: a million messages take minutes each way`,
      parameters: { messages: count, method: ORDER_CHECKED_METHOD, acceptBatch: ACCEPT_BATCH, acceptLanes: ACCEPT_LANES, sync: true, transport: 'nats' },
      repetitions: reps,
      ...combined,
      baselines: baselinesOf(specs, [baselineRef(level, 'rate'), baselineRef(level, 'rate4')]),
      targets: specs.map((s) => evaluateTarget(s, combined.figures)),
      errors: [],
    };
  },
};
