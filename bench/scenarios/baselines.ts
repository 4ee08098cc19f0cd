import path from 'node:path';
import { combineReps, type FigureSpec, type RepOutcome, type ScenarioResult } from '../harness/results.ts';
import { percentiles } from '../harness/stats.ts';
import { UsageWindow } from '../harness/usageWindow.ts';
import type { WorkerProcess } from '../harness/workers.ts';
import type { BaselineName, ScenarioContext } from './types.ts';

interface RawRun {
  count: number;
  startedAt: number;
  endedAt: number;
}

const rateOf = (r: RawRun) => (1000 * r.count) / (r.endedAt - r.startedAt);

interface Baseline {
  summary: string;
  /** Worker roles: the first is the one measured (client), the second serves it. */
  roles: [client: string, server?: string];
  figures: Record<string, FigureSpec>;
  parameters(ctx: ScenarioContext): Record<string, number | string>;
  setUp?(server: WorkerProcess, ctx: ScenarioContext, subject: string): Promise<unknown>;
  /** One repetition: the figures, and how many messages the CPU time is divided by. */
  measure(client: WorkerProcess, ctx: ScenarioContext, subject: string, server?: WorkerProcess): Promise<{ figures: Record<string, number>; messages: number }>;
}

const RATE: Record<string, FigureSpec> = { rate: { label: 'rate', unit: 'msg/s', higherIsBetter: true } };
const WINDOW = 1000;

const BASELINES: Record<BaselineName, Baseline> = {
  'raw-request-reply': {
    summary: 'nats.js request() from one process to a responder in another, 1,000 requests in flight',
    roles: ['requester', 'responder'],
    figures: RATE,
    parameters: (ctx) => ({ messages: ctx.quick ? 20_000 : 100_000, window: WINDOW, payloadBytes: ctx.frameBytes }),
    setUp: (server, ctx, subject) => server.call({ cmd: 'raw.responder', servers: ctx.servers, subject }),
    async measure(client, ctx, subject) {
      const count = ctx.quick ? 20_000 : 100_000;
      const run = await client.call<RawRun>({ cmd: 'raw.requestWindow', servers: ctx.servers, subject, count, window: WINDOW, payloadBytes: ctx.frameBytes });
      return { figures: { rate: rateOf(run) }, messages: count };
    },
  },
  'raw-publish-echo': {
    summary: 'one process publishes, another answers each message with a publish (1,000 unanswered at most); no persistence',
    roles: ['publisher', 'echo'],
    figures: RATE,
    parameters: (ctx) => ({ messages: ctx.quick ? 50_000 : 200_000, window: WINDOW, payloadBytes: ctx.frameBytes }),
    setUp: (server, ctx, subject) => server.call({ cmd: 'raw.echo', servers: ctx.servers, subject }),
    async measure(client, ctx, subject) {
      const count = ctx.quick ? 50_000 : 200_000;
      const run = await client.call<RawRun>({ cmd: 'raw.publishEcho', servers: ctx.servers, subject, count, window: WINDOW, payloadBytes: ctx.frameBytes });
      return { figures: { rate: rateOf(run) }, messages: count };
    },
  },
  'raw-latency': {
    summary: 'sequential nats.js request() round trips between two processes',
    roles: ['requester', 'responder'],
    figures: {
      p50: { label: 'round trip p50', unit: 'ms', higherIsBetter: false },
      p99: { label: 'round trip p99', unit: 'ms', higherIsBetter: false },
      max: { label: 'round trip max', unit: 'ms', higherIsBetter: false },
      rate: { label: 'round trips', unit: '/s', higherIsBetter: true },
    },
    parameters: (ctx) => ({ roundTrips: ctx.quick ? 500 : 2000, warmup: 100, payloadBytes: ctx.frameBytes }),
    setUp: (server, ctx, subject) => server.call({ cmd: 'raw.responder', servers: ctx.servers, subject }),
    async measure(client, ctx, subject) {
      const count = ctx.quick ? 500 : 2000;
      const samples = await client.call<number[]>({ cmd: 'raw.latency', servers: ctx.servers, subject, count, warmup: 100, payloadBytes: ctx.frameBytes });
      const p = percentiles(samples);
      return { figures: { p50: p.p50, p99: p.p99, max: p.max, rate: 1000 / p.mean }, messages: count };
    },
  },
  'raw-leveldb-sync': {
    summary: 'LevelDB alone in the bench\'s temporary folder: batches of 1,000 puts, each batch synced (fsync)',
    roles: ['leveldb'],
    figures: {
      rate: { label: 'one batch at a time', unit: 'puts/s', higherIsBetter: true },
      rate4: { label: 'four batches in flight', unit: 'puts/s', higherIsBetter: true },
      putP50: { label: 'one synced put alone, p50', unit: 'ms', higherIsBetter: false },
    },
    parameters: (ctx) => ({ puts: ctx.quick ? 50_000 : 200_000, batch: 1000, valueBytes: ctx.frameBytes, singlePuts: 300 }),
    async measure(client, ctx) {
      const count = ctx.quick ? 50_000 : 200_000;
      const one = await client.call<RawRun>({ cmd: 'raw.level', dir: await ctx.tempDir('leveldb'), count, batch: 1000, lanes: 1, valueBytes: ctx.frameBytes });
      const four = await client.call<RawRun>({ cmd: 'raw.level', dir: await ctx.tempDir('leveldb'), count, batch: 1000, lanes: 4, valueBytes: ctx.frameBytes });
      const puts = await client.call<number[]>({ cmd: 'raw.levelPutLatency', dir: await ctx.tempDir('leveldb'), count: 300, valueBytes: ctx.frameBytes });
      return { figures: { rate: rateOf(one), rate4: rateOf(four), putP50: percentiles(puts).p50 }, messages: 2 * count + 300 };
    },
  },
  'jetstream-append': {
    summary: 'JetStream stream (file storage) and a durable consumer (explicit ACK) in another process that appends each line to a file',
    roles: ['js-consumer', 'js-publisher'],
    figures: RATE,
    parameters: (ctx) => ({ lines: ctx.quick ? 20_000 : 100_000, publishWindow: WINDOW, maxAckPending: 10_000 }),
    async measure(consumer, ctx, subject, publisher) {
      const count = ctx.quick ? 20_000 : 100_000;
      const stream = 'BENCH_APPEND';
      await consumer.call({ cmd: 'raw.jsSetUp', servers: ctx.servers, stream, subject });
      const file = path.join(await ctx.tempDir('jetstream-append'), 'lines.log');
      const consumed = consumer.call<{ count: number; firstAt: number; lastAt: number }>({ cmd: 'raw.jsConsume', servers: ctx.servers, stream, file, count });
      const published = await publisher!.call<RawRun>({ cmd: 'raw.jsPublish', servers: ctx.servers, subject, count, window: WINDOW });
      const c = await consumed;
      return { figures: { rate: (1000 * c.count) / (c.lastAt - published.startedAt) }, messages: count };
    },
  },
  spawn: {
    summary: 'the same 2,000 processes (`true`) spawned straight from one Node process, 32 at a time (bosun\'s unordered concurrency)',
    roles: ['spawner'],
    figures: { rate: { label: 'processes', unit: '/s', higherIsBetter: true } },
    parameters: (ctx) => ({ processes: ctx.quick ? 500 : 2000, concurrency: 32 }),
    async measure(client, ctx) {
      const count = ctx.quick ? 500 : 2000;
      const run = await client.call<RawRun>({ cmd: 'raw.spawn', command: 'true', args: [], count, concurrency: 32 });
      return { figures: { rate: rateOf(run) }, messages: count };
    },
  },
  'spawn-sequential': {
    summary: 'the same 500 processes (`true`) spawned straight from one Node process, one after another',
    roles: ['spawner'],
    figures: { rate: { label: 'processes', unit: '/s', higherIsBetter: true } },
    parameters: (ctx) => ({ processes: ctx.quick ? 150 : 500, concurrency: 1 }),
    async measure(client, ctx) {
      const count = ctx.quick ? 150 : 500;
      const run = await client.call<RawRun>({ cmd: 'raw.spawn', command: 'true', args: [], count, concurrency: 1 });
      return { figures: { rate: rateOf(run) }, messages: count };
    },
  },
};

/** Plain nats.js and plain LevelDB figures, on this run's server and disk: what bosun is held against. */
export async function measureBaseline(name: BaselineName, ctx: ScenarioContext): Promise<Omit<ScenarioResult, 'durationSeconds' | 'profiles' | 'machine'>> {
  const b = BASELINES[name];
  const reps = ctx.repetitionsOverride ?? (ctx.quick ? 2 : 3);
  const subject = `bench.raw.${name}`;
  const [clientRole, serverRole] = b.roles;
  const client = await ctx.spawn(clientRole, 0);
  const server = serverRole ? await ctx.spawn(serverRole, 0) : undefined;
  const outcomes: RepOutcome[] = [];
  try {
    if (server) await b.setUp?.(server, ctx, subject);
    for (let rep = 1; rep <= reps; rep++) {
      ctx.progress(`baseline ${name}: repetition ${rep}/${reps}`);
      const window = await UsageWindow.open({ [clientRole]: client, ...(server ? { [serverRole!]: server } : {}) }, server ? ctx.natsPid : undefined);
      const { figures, messages } = await b.measure(client, ctx, subject, server);
      outcomes.push({ figures, processes: await window.close(messages), checks: [] });
    }
  } finally {
    await ctx.release(...[client, server].filter((w): w is WorkerProcess => w !== undefined));
  }
  return {
    kind: 'baseline',
    scenario: name,
    summary: b.summary,
    quick: ctx.quick,
    parameters: b.parameters(ctx),
    repetitions: reps,
    ...combineReps(outcomes, b.figures),
    baselines: {},
    targets: [],
    errors: [],
  };
}
