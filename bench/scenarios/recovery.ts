import path from 'node:path';
import type { AcceptResult, WaitResult, WorkerEvent } from '../harness/protocol.ts';
import { combineReps, type FigureSpec, type RepOutcome } from '../harness/results.ts';
import { evaluateTarget, type TargetSpec } from '../harness/targets.ts';
import { wallNow } from '../harness/time.ts';
import { UsageWindow } from '../harness/usageWindow.ts';
import type { WorkerProcess } from '../harness/workers.ts';
import { ORDER_CHECKED_METHOD } from '../worker/orderCheck.ts';
import { duplicateFrames, errorCheck, orderCheck, startNodeWorker, waitDelivered, type NodeStatus } from './nodes.ts';
import type { Scenario } from './types.ts';

const FIGURES: Record<string, FigureSpec> = {
  resumeSeconds: { label: 'restart (startNode) → first resumed run', unit: 's', higherIsBetter: false },
  startNodeSeconds: { label: 'startNode() on the restarted sender', unit: 's', higherIsBetter: false },
  processToResumeSeconds: { label: 'new process spawned → first resumed run', unit: 's', higherIsBetter: false },
  queuedAtKill: { label: 'messages not yet run when killed', unit: 'msg', higherIsBetter: false },
  rateAfterRestart: { label: 'delivery rate after restart', unit: 'msg/s', higherIsBetter: true },
  duplicateFrames: { label: 'frames ship1 received twice (resends)', unit: 'frames', higherIsBetter: false },
};

/** The fraction of the messages ship1 has run when central is killed. */
const KILL_AT = 0.1;

/**
 * The sender dies by SIGKILL with most of its queue undelivered and a window in flight;
 * started again on the same data, it must pick up where it was: nothing lost, nothing run
 * twice, and quickly.
 */
export const recovery: Scenario = {
  name: 'recovery',
  summary: 'central killed (SIGKILL) mid-stream with messages queued and in flight, restarted on the same LevelDB',
  async run(ctx) {
    const count = ctx.quick ? 20_000 : 100_000;
    const reps = ctx.repetitionsOverride ?? (ctx.quick ? 1 : 3);
    const timeoutMs = ctx.quick ? 25_000 : 300_000;
    const specs: TargetSpec[] = [{ label: 'first resumed delivery ≤ 2 s after restart', figure: 'resumeSeconds', op: '<=', target: 2, unit: 's', basis: 'fixed' }];
    const outcomes: RepOutcome[] = [];
    const notes = ['the killed process writes no CPU profile (SIGKILL); its restarted successor does'];
    for (let rep = 1; rep <= reps; rep++) {
      const dir = await ctx.tempDir(`recovery-r${rep}`);
      const centralSpec = { node: 'central', dataDir: path.join(dir, 'central'), sync: true, servers: ctx.servers };
      const workers: WorkerProcess[] = [];
      try {
        const ship = (await startNodeWorker(ctx, 'ship1', rep, { node: 'ship1', dataDir: path.join(dir, 'ship1'), sync: true, servers: ctx.servers, orderCheckFrom: 0 })).worker;
        workers.push(ship);
        const doomed = (await startNodeWorker(ctx, 'central-killed', rep, centralSpec)).worker;
        workers.push(doomed);
        ctx.progress(`recovery rep ${rep}: ${count.toLocaleString('en-US')} accepted in one input, SIGKILL at ${KILL_AT * 100}% run`);
        // One input: everything is in the outbox before the first frame leaves.
        const accepted = await doomed.call<AcceptResult>({ cmd: 'node.accept', node: 'central', plan: { toNode: 'ship1', method: ORDER_CHECKED_METHOD, count, batch: count, lanes: 1, dataFrom: 0 } });
        const before = await ship.call<WaitResult>({ cmd: 'node.waitExecuted', node: 'ship1', count: Math.floor(count * KILL_AT), timeoutMs: 60_000, stallMs: 30_000, source: 'orderCheck' });
        await doomed.kill();
        workers.splice(workers.indexOf(doomed), 1);
        const ranAtKill = before.executed;
        // Let what ship1 already holds run out, so the next run is a resumed one.
        const quiet = await ship.call<WaitResult>({ cmd: 'node.waitExecuted', node: 'ship1', count, timeoutMs: 30_000, stallMs: 500, source: 'orderCheck' });
        const ranBeforeRestart = quiet.executed;
        await ship.call({ cmd: 'node.armNextExecution', node: 'ship1' });
        const resumed = ship.nextEvent((e: WorkerEvent): e is Extract<WorkerEvent, { event: 'nextExecution' }> => e.event === 'nextExecution', 60_000);
        const spawnedAt = wallNow();
        const { worker: central, startedAt, readyAt } = await startNodeWorker(ctx, 'central', rep, centralSpec);
        workers.push(central);
        const window = await UsageWindow.open({ central, ship1: ship }, ctx.natsPid);
        const first = await resumed;
        const d = await waitDelivered(ctx, { worker: ship, node: 'ship1' }, { worker: central, node: 'central' }, count, { timeoutMs, source: 'orderCheck', label: `recovery rep ${rep}` });
        const processes = await window.close(count - ranBeforeRestart);
        const [cs, ss] = await Promise.all([
          central.call<NodeStatus>({ cmd: 'node.status', node: 'central' }),
          ship.call<NodeStatus>({ cmd: 'node.status', node: 'ship1' }),
        ]);
        outcomes.push({
          figures: {
            ...(first ? { resumeSeconds: (first.at - startedAt) / 1000, processToResumeSeconds: (first.at - spawnedAt) / 1000 } : {}),
            startNodeSeconds: (readyAt - startedAt) / 1000,
            queuedAtKill: accepted.accepted - ranAtKill,
            duplicateFrames: duplicateFrames(ss),
            ...(d.lastAt !== undefined ? { rateAfterRestart: (1000 * (d.executed - ranBeforeRestart)) / (d.lastAt - startedAt) } : {}),
          },
          processes,
          checks: [
            { label: 'delivery resumed after the restart', ok: first !== undefined, ...(first ? {} : { detail: 'no run within 60 s of the restart' }) },
            orderCheck(d.order, 0, count - 1, d),
            errorCheck('central (restarted)', cs),
            errorCheck('ship1', ss),
          ],
          notes: [`killed with ${ranAtKill.toLocaleString('en-US')} run; ${ranBeforeRestart.toLocaleString('en-US')} run before the restart`],
        });
      } finally {
        await ctx.release(...workers);
      }
    }
    const combined = combineReps(outcomes, FIGURES);
    return {
      kind: 'scenario',
      scenario: 'recovery',
      summary: this.summary,
      quick: ctx.quick,
      ...(ctx.quick ? { scaleNote: `--quick: ${count.toLocaleString('en-US')} messages instead of 100,000; ${reps} repetition(s)` } : {}),
      parameters: { messages: count, method: ORDER_CHECKED_METHOD, killAtFractionRun: KILL_AT, sync: true, transport: 'nats' },
      repetitions: reps,
      ...combined,
      notes: [...notes, ...combined.notes],
      baselines: {},
      targets: specs.map((s) => evaluateTarget(s, combined.figures)),
      errors: [],
    };
  },
};
