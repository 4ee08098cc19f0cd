import path from 'node:path';
import { combineReps, type FigureSpec, type RepOutcome } from '../harness/results.ts';
import { evaluateTarget, type TargetSpec } from '../harness/targets.ts';
import { sleep, wallNow } from '../harness/time.ts';
import { UsageWindow } from '../harness/usageWindow.ts';
import type { WorkerProcess } from '../harness/workers.ts';
import { fleetNames, fleetStatus, startFleet } from './fleet.ts';
import { errorCheck, startNodeWorker, type NodeStatus } from './nodes.ts';
import type { Scenario } from './types.ts';

const FIGURES: Record<string, FigureSpec> = {
  allAckedSeconds: { label: 'accept → every node ACKed', unit: 's', higherIsBetter: false },
  acceptSeconds: { label: 'accept of the fanned-out input', unit: 's', higherIsBetter: false },
  allRunSeconds: { label: 'accept → run on every node', unit: 's', higherIsBetter: false },
};

/**
 * One input with `toNodes` naming the whole fleet: a new stream to every node at once.
 * Each repetition uses a fresh sender (its own node name and LevelDB), so every fan-out
 * opens its streams cold, as an operator's first command to the fleet would.
 */
export const fanout: Scenario = {
  name: 'fanout',
  summary: 'one REQNone message with toNodes naming every node of a simulated fleet: time until all ACKed',
  async run(ctx) {
    const count = ctx.quick ? 200 : 1000;
    const reps = ctx.repetitionsOverride ?? (ctx.quick ? 2 : 3);
    const specs: TargetSpec[] = [{ label: 'all ACKed within 2 s', figure: 'allAckedSeconds', op: '<=', target: 2, unit: 's', basis: 'fixed' }];
    const names = fleetNames(count);
    const dir = await ctx.tempDir('fanout');
    const outcomes: RepOutcome[] = [];
    let fleetWorkers: WorkerProcess[] = [];
    try {
      ctx.progress(`fanout: starting ${count} nodes`);
      fleetWorkers = await startFleet(ctx, names, 0);
      for (let rep = 1; rep <= reps; rep++) {
        const sender = `central-r${rep}`;
        const { worker } = await startNodeWorker(ctx, 'central', rep, { node: sender, dataDir: path.join(dir, sender), sync: true, servers: ctx.servers });
        try {
          ctx.progress(`fanout rep ${rep}: one message to ${count} nodes`);
          const ranBefore = (await fleetStatus(fleetWorkers)).totals.executed ?? 0;
          const window = await UsageWindow.open({ central: worker, ...Object.fromEntries(fleetWorkers.map((w, i) => [`fleet${i + 1}`, w])) }, ctx.natsPid);
          const r = await worker.call<{ accepted: number; acked: number; startedAt: number; acceptedAt: number; lastAckAt: number; allAcked: boolean }>({
            cmd: 'node.acceptFanout',
            node: sender,
            toNodes: names,
            method: 'REQNone',
            timeoutMs: 30_000,
          });
          let ran = 0;
          let allRunAt: number | undefined;
          const deadline = wallNow() + 30_000;
          while (wallNow() < deadline) {
            ran = ((await fleetStatus(fleetWorkers)).totals.executed ?? 0) - ranBefore;
            if (ran >= count) {
              allRunAt = wallNow();
              break;
            }
            await sleep(10);
          }
          const processes = await window.close(count);
          const st = await worker.call<NodeStatus>({ cmd: 'node.status', node: sender });
          const fs = await fleetStatus(fleetWorkers);
          outcomes.push({
            figures: {
              acceptSeconds: (r.acceptedAt - r.startedAt) / 1000,
              ...(r.allAcked ? { allAckedSeconds: (r.lastAckAt - r.startedAt) / 1000 } : {}),
              // Polled every ~10 ms from here, so an upper bound.
              ...(allRunAt !== undefined ? { allRunSeconds: (allRunAt - r.startedAt) / 1000 } : {}),
            },
            processes,
            checks: [
              { label: 'every node ACKed', ok: r.allAcked, ...(r.allAcked ? {} : { detail: `${r.acked} of ${r.accepted} within 30 s` }) },
              { label: 'every node ran it', ok: ran >= count, ...(ran >= count ? {} : { detail: `${ran} of ${count} within 30 s` }) },
              errorCheck('the sender', st),
              { label: 'no error reports on the simulated nodes', ok: fs.errorCount === 0, ...(fs.errorCount ? { detail: `${fs.errorCount}, first: ${fs.errors.map((e) => `${e.code} ${e.message}`).join(' | ')}` } : {}) },
            ],
          });
        } finally {
          await ctx.release(worker);
        }
      }
    } finally {
      await ctx.release(...fleetWorkers);
    }
    const combined = combineReps(outcomes, FIGURES);
    return {
      kind: 'scenario',
      scenario: 'fanout',
      summary: this.summary,
      quick: ctx.quick,
      ...(ctx.quick ? { scaleNote: `--quick: ${count} nodes instead of 1,000; ${reps} repetition(s)` } : {}),
      parameters: { nodes: count, method: 'REQNone', sync: true, transport: 'nats', helloIntervalSeconds: 0 },
      repetitions: reps,
      ...combined,
      notes: ['the simulated nodes are the fleet scenario\'s (memory stores, own NATS connections), with hellos off; each repetition is a fresh sender, so its 1 stream per node opens cold', 'CPU µs/msg is per node reached', ...combined.notes],
      baselines: {},
      targets: specs.map((s) => evaluateTarget(s, combined.figures)),
      errors: [],
    };
  },
};
