import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AcceptResult, WaitResult } from '../harness/protocol.ts';
import { combineReps, type Check, type FigureSpec, type RepOutcome } from '../harness/results.ts';
import { baselineRef, baselinesOf, evaluateTarget, type TargetSpec } from '../harness/targets.ts';
import { sleep, wallNow } from '../harness/time.ts';
import { UsageWindow } from '../harness/usageWindow.ts';
import type { WorkerProcess } from '../harness/workers.ts';
import { ACCEPT_BATCH, ACCEPT_LANES } from './delivery.ts';
import { errorCheck, startNodeWorker, type NodeStatus } from './nodes.ts';
import type { Scenario, ScenarioContext } from './types.ts';

/**
 * What users run, measured end to end: lines appended to a file on another node, a log
 * followed there and shipped back, commands with their replies. Two daemons (worker
 * processes) over the run's nats-server, LevelDB synced on both.
 */

const RATE: Record<string, FigureSpec> = {
  rate: { label: 'rate (first accept → last effect)', unit: 'msg/s', higherIsBetter: true },
};

interface Pair {
  central: WorkerProcess;
  ship: WorkerProcess;
  dir: string;
}

async function withPair(ctx: ScenarioContext, name: string, rep: number, body: (pair: Pair) => Promise<RepOutcome>): Promise<RepOutcome> {
  const dir = await ctx.tempDir(`${name}-r${rep}`);
  const workers: WorkerProcess[] = [];
  try {
    const ship = (await startNodeWorker(ctx, 'ship1', rep, { node: 'ship1', dataDir: path.join(dir, 'ship1'), sync: true, servers: ctx.servers })).worker;
    workers.push(ship);
    const central = (await startNodeWorker(ctx, 'central', rep, { node: 'central', dataDir: path.join(dir, 'central'), sync: true, servers: ctx.servers })).worker;
    workers.push(central);
    return await body({ central, ship, dir });
  } finally {
    await ctx.release(...workers);
  }
}

function rateFigure(count: number, from: number, to: number | undefined): Record<string, number> {
  return to === undefined ? {} : { rate: (1000 * count) / (to - from) };
}

/** Bytes of the lines `0` … `count - 1`, each with its newline. */
function linesBytes(count: number): number {
  let bytes = 0;
  for (let i = 0; i < count; i++) bytes += String(i).length + 1;
  return bytes;
}

/** Polls the file's size until it holds `bytes`; the time it first did, or undefined when it stalled. */
async function waitFileBytes(file: string, bytes: number, timeoutMs: number, stallMs = 15_000): Promise<{ at: number | undefined; size: number }> {
  const deadline = wallNow() + timeoutMs;
  let size = -1;
  let lastGrowth = wallNow();
  for (;;) {
    const now = (await stat(file).catch(() => undefined))?.size ?? 0;
    if (now >= bytes) return { at: wallNow(), size: now };
    if (now > size) {
      size = now;
      lastGrowth = wallNow();
    }
    if (wallNow() > deadline || wallNow() - lastGrowth > stallMs) return { at: undefined, size };
    await sleep(2);
  }
}

/** The file holds the lines `0` … `count - 1`, each once, in order. */
async function linesCheck(file: string, count: number, what: string): Promise<Check> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines = text.split('\n');
  lines.pop();
  let firstWrong = -1;
  for (let i = 0; i < Math.max(count, lines.length); i++) {
    if (lines[i] !== String(i)) {
      firstWrong = i;
      break;
    }
  }
  return {
    label: `${what} holds every line once, in order`,
    ok: firstWrong === -1,
    ...(firstWrong === -1 ? {} : { detail: `${lines.length} lines; line ${firstWrong} is "${lines[firstWrong] ?? '(missing)'}"` }),
  };
}

async function statusChecks(pair: Pair): Promise<Check[]> {
  const [cs, ss] = await Promise.all([
    pair.central.call<NodeStatus>({ cmd: 'node.status', node: 'central' }),
    pair.ship.call<NodeStatus>({ cmd: 'node.status', node: 'ship1' }),
  ]);
  return [errorCheck('central', cs), errorCheck('ship1', ss)];
}

function scenario(
  name: string,
  summary: string,
  scale: (ctx: ScenarioContext) => { count: number; reps: number; timeoutMs: number },
  targets: (ctx: ScenarioContext) => Promise<TargetSpec[]>,
  rep: (ctx: ScenarioContext, pair: Pair, count: number, timeoutMs: number) => Promise<Omit<RepOutcome, 'processes'> & { window: UsageWindow }>,
  parameters: Record<string, string | number | boolean>,
): Scenario {
  return {
    name,
    summary,
    async run(ctx) {
      const { count, reps, timeoutMs } = scale(ctx);
      const specs = await targets(ctx);
      const outcomes: RepOutcome[] = [];
      for (let r = 1; r <= reps; r++) {
        ctx.progress(`${name} rep ${r}: ${count.toLocaleString('en-US')} messages`);
        outcomes.push(
          await withPair(ctx, name, r, async (pair) => {
            const { window, ...outcome } = await rep(ctx, pair, count, timeoutMs);
            const processes = await window.close(count);
            return { ...outcome, processes, checks: [...outcome.checks, ...(await statusChecks(pair))] };
          }),
        );
      }
      const combined = combineReps(outcomes, RATE);
      return {
        kind: 'scenario',
        scenario: name,
        summary,
        quick: ctx.quick,
        ...(ctx.quick ? { scaleNote: `--quick: ${count.toLocaleString('en-US')} messages; ${reps} repetition(s)` } : {}),
        parameters: { messages: count, ...parameters },
        repetitions: reps,
        ...combined,
        baselines: baselinesOf(specs),
        targets: specs.map((s) => evaluateTarget(s, combined.figures)),
        errors: [],
      };
    },
  };
}

const atLeast = (label: string, basis: string, ref: ReturnType<typeof baselineRef>, factor: number, missing: string): TargetSpec => ({
  label,
  figure: 'rate',
  op: '>=',
  target: ref && factor * ref.value,
  unit: 'msg/s',
  basis,
  ...(ref ? { baseline: ref } : { missingBecause: missing }),
});

export const fileAppend = scenario(
  'file-append',
  'ordered REQToFileAppend central → ship1, one line each; until the last line is in ship1\'s file',
  (ctx) => ({ count: ctx.quick ? 20_000 : 100_000, reps: ctx.repetitionsOverride ?? (ctx.quick ? 1 : 2), timeoutMs: ctx.quick ? 60_000 : 300_000 }),
  async (ctx) => [
    atLeast('rate ≥ jetstream-append', 'jetstream-append', baselineRef(await ctx.baseline('jetstream-append'), 'rate'), 1, 'jetstream-append failed'),
    atLeast('rate ≥ 2 × raw request/reply', '2 × raw-request-reply', baselineRef(await ctx.baseline('raw-request-reply'), 'rate'), 2, 'raw-request-reply failed'),
  ],
  async (ctx, pair, count, timeoutMs) => {
    const file = path.join(pair.dir, 'ship1', 'files', 'bench', 'central', 'append.log');
    const window = await UsageWindow.open({ central: pair.central, ship1: pair.ship }, ctx.natsPid);
    const fields = { directory: 'bench', fileName: 'append.log' };
    const accepting = pair.central.call<AcceptResult>({ cmd: 'node.accept', node: 'central', plan: { toNode: 'ship1', method: 'REQToFileAppend', count, batch: ACCEPT_BATCH, lanes: ACCEPT_LANES, fields } });
    const landed = await waitFileBytes(file, linesBytes(count), timeoutMs);
    const accepted = await accepting;
    return {
      window,
      figures: rateFigure(count, accepted.firstAt, landed.at),
      checks: [
        { label: 'every accept succeeded', ok: accepted.refused === 0 },
        { label: 'the last line reached the file', ok: landed.at !== undefined, ...(landed.at ? {} : { detail: `${landed.size} bytes` }) },
        await linesCheck(file, count, 'ship1\'s file'),
      ],
    };
  },
  { method: 'REQToFileAppend', acceptBatch: ACCEPT_BATCH, acceptLanes: ACCEPT_LANES, transport: 'nats', sync: true },
);

export const tailStream = scenario(
  'tail-stream',
  'REQTailFile on ship1 following a file a third process writes as fast as it can; until the last line is in central\'s result file',
  (ctx) => ({ count: ctx.quick ? 20_000 : 100_000, reps: ctx.repetitionsOverride ?? 1, timeoutMs: ctx.quick ? 60_000 : 300_000 }),
  async (ctx) => {
    const fa = ctx.earlier('file-append');
    return [atLeast('rate ≥ 0.8 × file-append', '0.8 × file-append (this run)', baselineRef(fa, 'rate'), 0.8, 'file-append did not run in this invocation')];
  },
  async (ctx, pair, count, timeoutMs) => {
    const source = path.join(pair.dir, 'tail-source.log');
    await writeFile(source, '');
    const result = path.join(pair.dir, 'central', 'files', 'bench', 'ship1', 'tail.log');
    await pair.central.call({
      cmd: 'node.accept',
      node: 'central',
      plan: { toNode: 'ship1', method: 'REQTailFile', count: 1, batch: 1, lanes: 1, fields: { methodArgs: [source], methodTimeout: 3600, replyMethod: 'REQToFileAppend', directory: 'bench', fileName: 'tail.log' } },
    });
    await waitTailRunning(pair.ship);
    const writer = await ctx.spawn('writer', 0);
    const window = await UsageWindow.open({ central: pair.central, ship1: pair.ship }, ctx.natsPid);
    try {
      const written = await writer.call<{ startedAt: number; endedAt: number }>({ cmd: 'raw.writeLines', file: source, count, chunk: 100 });
      const landed = await waitFileBytes(result, linesBytes(count), timeoutMs);
      return {
        window,
        figures: rateFigure(count, written.startedAt, landed.at),
        checks: [
          { label: 'the last line reached central', ok: landed.at !== undefined, ...(landed.at ? {} : { detail: `${landed.size} bytes` }) },
          await linesCheck(result, count, 'central\'s result file'),
        ],
      };
    } finally {
      await ctx.release(writer);
    }
  },
  { method: 'REQTailFile', writerChunkLines: 100, transport: 'nats', sync: true },
);

/** Until ship1 runs the tail (it follows from the end of the file, so it must start first). */
async function waitTailRunning(ship: WorkerProcess): Promise<void> {
  const deadline = wallNow() + 10_000;
  for (;;) {
    const st = await ship.call<NodeStatus>({ cmd: 'node.status', node: 'ship1' });
    const tail = st.subscribers.find((s) => s.id === 'REQTailFile');
    if (tail && tail.running === 1) break;
    if (wallNow() > deadline) throw new Error('REQTailFile did not start on ship1 within 10 s');
    await sleep(20);
  }
  // The follower opens the file at its end right after the run starts.
  await sleep(300);
}

function commandsScenario(name: string, method: 'REQnCliCommand' | 'REQCliCommand', baseline: 'spawn' | 'spawn-sequential', quickCount: number, count: number): Scenario {
  return scenario(
    name,
    `${count.toLocaleString('en-US')} ${method} running \`true\`, central → ship1, each with its reply back in central's file`,
    (ctx) => ({ count: ctx.quick ? quickCount : count, reps: ctx.repetitionsOverride ?? 1, timeoutMs: ctx.quick ? 60_000 : 300_000 }),
    async (ctx) => [atLeast(`rate ≥ 0.5 × ${baseline}`, `0.5 × ${baseline}`, baselineRef(await ctx.baseline(baseline), 'rate'), 0.5, `${baseline} failed`)],
    async (ctx, pair, n, timeoutMs) => {
      const window = await UsageWindow.open({ central: pair.central, ship1: pair.ship }, ctx.natsPid);
      const fields = { methodArgs: ['true'], replyMethod: 'REQToFileAppend', directory: 'bench', fileName: `${name}.log` };
      const accepted = await pair.central.call<AcceptResult>({ cmd: 'node.accept', node: 'central', plan: { toNode: 'ship1', method, count: n, batch: ACCEPT_BATCH, lanes: ACCEPT_LANES, fields } });
      // Each reply is one run on central: its REQToFileAppend.
      const replies = await pair.central.call<WaitResult>({ cmd: 'node.waitExecuted', node: 'central', count: n, timeoutMs, stallMs: 20_000, source: 'counters' });
      return {
        window,
        figures: rateFigure(n, accepted.firstAt, replies.reached ? replies.lastAt : undefined),
        checks: [
          { label: 'every accept succeeded', ok: accepted.refused === 0 },
          { label: 'every command replied', ok: replies.reached, ...(replies.reached ? {} : { detail: `${replies.executed} replies (${replies.reason})` }) },
        ],
      };
    },
    { method, command: 'true', transport: 'nats', sync: true },
  );
}

export const commands = commandsScenario('commands', 'REQnCliCommand', 'spawn', 500, 2000);
export const commandsOrdered = commandsScenario('commands-ordered', 'REQCliCommand', 'spawn-sequential', 150, 500);
