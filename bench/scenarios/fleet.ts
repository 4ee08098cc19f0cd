import path from 'node:path';
import { combineReps, type FigureSpec, type RepOutcome } from '../harness/results.ts';
import { evaluateTarget, type TargetSpec } from '../harness/targets.ts';
import { sleep, wallNow } from '../harness/time.ts';
import { UsageWindow } from '../harness/usageWindow.ts';
import type { WorkerProcess } from '../harness/workers.ts';
import { errorCheck, startNodeWorker, type NodeStatus } from './nodes.ts';
import type { Scenario, ScenarioContext } from './types.ts';

/** Simulated nodes per worker process: each is a full bosun node with a memory store. */
const NODES_PER_WORKER = 500;

export interface FleetStatus {
  nodes: number;
  connected: number;
  totals: Record<string, number>;
  errorCount: number;
  errors: Array<{ source: string; code: string; message: string }>;
}

export function fleetNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `node${String(i + 1).padStart(4, '0')}`);
}

/**
 * Starts `names` as bosun nodes (memory stores, NATS) spread over worker processes, and
 * waits until every one of them is connected.
 */
export async function startFleet(
  ctx: ScenarioContext,
  names: string[],
  helloIntervalSeconds: number,
  /** The NATS server(s) of each worker's nodes, by worker index. */
  serversOf: (worker: number) => string = () => ctx.servers,
  nodesPerWorker = NODES_PER_WORKER,
): Promise<WorkerProcess[]> {
  const workers: WorkerProcess[] = [];
  const groups: string[][] = [];
  for (let i = 0; i < names.length; i += nodesPerWorker) groups.push(names.slice(i, i + nodesPerWorker));
  try {
    for (const [i] of groups.entries()) workers.push(await ctx.spawn(`fleet${i + 1}`, 0));
    await Promise.all(workers.map((w, i) => w.call({ cmd: 'fleet.start', servers: serversOf(i), names: groups[i]!, helloIntervalSeconds, spreadMs: 1000 })));
    const deadline = wallNow() + 60_000;
    for (;;) {
      const st = await Promise.all(workers.map((w) => w.call<FleetStatus>({ cmd: 'fleet.status' })));
      const connected = st.reduce((a, s) => a + s.connected, 0);
      if (connected === names.length) break;
      if (wallNow() > deadline) throw new Error(`only ${connected} of ${names.length} fleet nodes connected after 60 s`);
      await sleep(200);
    }
  } catch (e) {
    await ctx.release(...workers);
    throw e;
  }
  return workers;
}

export async function fleetStatus(workers: WorkerProcess[]): Promise<FleetStatus> {
  const all = await Promise.all(workers.map((w) => w.call<FleetStatus>({ cmd: 'fleet.status' })));
  const totals: Record<string, number> = {};
  for (const s of all) for (const [k, v] of Object.entries(s.totals)) totals[k] = (totals[k] ?? 0) + v;
  return {
    nodes: all.reduce((a, s) => a + s.nodes, 0),
    connected: all.reduce((a, s) => a + s.connected, 0),
    totals,
    errorCount: all.reduce((a, s) => a + s.errorCount, 0),
    errors: all.flatMap((s) => s.errors).slice(0, 5),
  };
}

const FIGURES: Record<string, FigureSpec> = {
  centralCpuPercent: { label: 'central CPU (% of one core)', unit: '%', higherIsBetter: false },
  centralRssMB: { label: 'central peak RSS', unit: 'MB', higherIsBetter: false },
  hellosPerSecond: { label: 'hellos run on central', unit: '/s', higherIsBetter: true },
  hellosWaiting: { label: 'hellos received, waiting to run (end of window)', unit: 'msg', higherIsBetter: false },
  brokerMsgsPerSecond: { label: 'messages into the NATS server(s)', unit: '/s', higherIsBetter: true },
};

/** Where a fleet runs: its NATS server(s), and how to read what they carried. */
export interface FleetBrokers {
  /** central's server(s). */
  central: string;
  /** The server(s) of each fleet worker's nodes, by worker index. */
  serversOf: (worker: number) => string;
  /** Messages the servers took in so far, summed (their `/varz` `in_msgs`). */
  messagesIn: () => Promise<number>;
  /** A nats-server PID whose CPU and memory go into the report. */
  natsPid: number;
  /** What the report says of them. */
  description: string;
}

export interface FleetRun {
  name: string;
  summary: string;
  count: number;
  quickCount: number;
  /** Default 500; fewer spread a small fleet over more workers (and so more servers). */
  nodesPerWorker?: number;
  brokers: FleetBrokers;
}

/**
 * A fleet saying hello every second to central, measured over consecutive windows: what it
 * costs central to keep up, and what went through the broker(s).
 */
export async function runFleet(ctx: ScenarioContext, run: FleetRun): ReturnType<Scenario['run']> {
  const count = ctx.quick ? run.quickCount : run.count;
  const windows = ctx.repetitionsOverride ?? (ctx.quick ? 1 : 3);
  const windowSeconds = ctx.quick ? 8 : 10;
  const warmupSeconds = ctx.quick ? 4 : 5;
  const specs: TargetSpec[] = [
    { label: 'central CPU ≤ 25% of one core', figure: 'centralCpuPercent', op: '<=', target: 25, unit: '%', basis: 'fixed' },
    { label: 'central RSS ≤ 200 MB', figure: 'centralRssMB', op: '<=', target: 200, unit: 'MB', basis: 'fixed' },
  ];
  const dir = await ctx.tempDir(run.name);
  const workers: WorkerProcess[] = [];
  const outcomes: RepOutcome[] = [];
  try {
    const central = (await startNodeWorker(ctx, 'central', 0, { node: 'central', dataDir: path.join(dir, 'central'), sync: true, servers: run.brokers.central })).worker;
    workers.push(central);
    ctx.progress(`${run.name}: starting ${count} nodes`);
    const perWorker = run.nodesPerWorker ?? NODES_PER_WORKER;
    const fleetWorkers = await startFleet(ctx, fleetNames(count), 1, run.brokers.serversOf, perWorker);
    workers.push(...fleetWorkers);
    ctx.progress(`${run.name}: all ${count} connected; ${warmupSeconds} s to settle, then ${windows} window(s) of ${windowSeconds} s`);
    await sleep(warmupSeconds * 1000);
    for (let rep = 1; rep <= windows; rep++) {
      const before = await central.call<NodeStatus>({ cmd: 'node.status', node: 'central' });
      const inBefore = await run.brokers.messagesIn();
      const usageOf: Record<string, WorkerProcess> = { central };
      fleetWorkers.forEach((w, i) => (usageOf[`fleet${i + 1} (${Math.min(perWorker, count - i * perWorker)} nodes)`] = w));
      const window = await UsageWindow.open(usageOf, run.brokers.natsPid);
      const t0 = wallNow();
      await sleep(windowSeconds * 1000);
      const after = await central.call<NodeStatus>({ cmd: 'node.status', node: 'central' });
      const seconds = (wallNow() - t0) / 1000;
      const messagesIn = (await run.brokers.messagesIn()) - inBefore;
      const hellos = after.counters.executed! - before.counters.executed!;
      const processes = await window.close(hellos);
      const c = processes.central!;
      const fs = await fleetStatus(fleetWorkers);
      outcomes.push({
        figures: {
          centralCpuPercent: (100 * c.cpuUs!) / 1000 / c.wallMs!,
          centralRssMB: c.peakRssBytes / 2 ** 20,
          hellosPerSecond: hellos / seconds,
          hellosWaiting: Number(after.subscribers.find((sub) => sub.id === 'REQHello')?.queued ?? 0),
          brokerMsgsPerSecond: messagesIn / seconds,
        },
        processes,
        checks: [
          { label: 'hellos keep up (≥ 90% of the nodes each second)', ok: hellos / seconds >= 0.9 * count, detail: `${Math.round(hellos / seconds)} per second from ${count} nodes` },
          { label: 'every simulated node stays connected', ok: fs.connected === count, ...(fs.connected === count ? {} : { detail: `${fs.connected} of ${count}` }) },
          errorCheck('central', after),
          { label: 'no error reports on the simulated nodes', ok: fs.errorCount === 0, ...(fs.errorCount ? { detail: `${fs.errorCount}, first: ${fs.errors.map((e) => `${e.code} ${e.message}`).join(' | ')}` } : {}) },
        ],
      });
    }
  } finally {
    await ctx.release(...workers);
  }
  const combined = combineReps(outcomes, FIGURES);
  return {
    kind: 'scenario',
    scenario: run.name,
    summary: run.summary,
    quick: ctx.quick,
    ...(ctx.quick ? { scaleNote: `--quick: ${count} nodes instead of ${run.count.toLocaleString('en')}; ${windows} window(s) of ${windowSeconds} s` } : {}),
    parameters: { nodes: count, nodesPerWorker: run.nodesPerWorker ?? NODES_PER_WORKER, helloIntervalSeconds: 1, windowSeconds, warmupSeconds, brokers: run.brokers.description, store: 'memory (simulated nodes), LevelDB sync (central)' },
    repetitions: windows,
    ...combined,
    notes: [
      'each simulated node is a full bosun node (startNode with a memory store and its own NATS connection); the repetitions are consecutive measurement windows on one fleet',
      'CPU µs/msg is per hello run on central; messages into the NATS server(s) count every publish (hellos and their ACKs), and in a cluster also what the routes carry',
      ...combined.notes,
    ],
    baselines: {},
    targets: specs.map((s) => evaluateTarget(s, combined.figures)),
    errors: [],
  };
}

/** Messages a nats-server took in so far (`/varz` `in_msgs`), from its monitoring port. */
export async function serverMessagesIn(monitorPort: number): Promise<number> {
  const varz = (await (await fetch(`http://127.0.0.1:${monitorPort}/varz`)).json()) as { in_msgs: number };
  return varz.in_msgs;
}

/** A fleet saying hello every second: what it costs central to keep up. */
export const fleet: Scenario = {
  name: 'fleet',
  summary: 'nodes on one nats-server each sending REQHello every second to central (LevelDB sync): central CPU and RSS',
  run: (ctx) =>
    runFleet(ctx, {
      name: 'fleet',
      summary: fleet.summary,
      count: 1000,
      quickCount: 200,
      brokers: {
        central: ctx.servers,
        serversOf: () => ctx.servers,
        messagesIn: () => serverMessagesIn(ctx.natsMonitorPort),
        natsPid: ctx.natsPid,
        description: 'the run\'s one nats-server',
      },
    }),
};
