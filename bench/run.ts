/**
 * The bench harness: `npm run bench -- [SCENARIO…] [--quick] [--json] [--cpu-prof] [--reps N]`.
 * Starts one nats-server on loopback, runs the chosen scenarios in worker processes
 * against it, and prints each result as soon as it is known. See bench/README.md.
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_MESSAGE_DEFAULTS, normaliseMessages } from '../src/message.ts';
import { encodeFrame, FRAME_VERSION, newIncarnation } from '../src/delivery/frames.ts';
import { findNatsServerBinary, startNatsServer } from '../test/helpers/natsServer.ts';
import { freePort } from '../test/helpers/ports.ts';
import { parseArgs, USAGE } from './harness/args.ts';
import { installCleanup, removeDir, trackDir, trackPid } from './harness/cleanup.ts';
import { describeMachine } from './harness/machine.ts';
import { formatDigest, formatMachine, formatResult } from './harness/report.ts';
import type { ScenarioResult } from './harness/results.ts';
import { Runner } from './harness/runner.ts';
import { REPO_ROOT, WorkerProcess } from './harness/workers.ts';
import { formatProfileSummary, summariseProfile } from './profileSummary.ts';
import { DIAGNOSTICS, SCENARIOS } from './scenarios/index.ts';

const PROFILE_DIR = path.join(REPO_ROOT, 'bench', 'profiles');

/** Size of the data frame that carries one REQNone message: what the raw baselines send. */
function dataFrameBytes(): number {
  const [message] = normaliseMessages({ toNode: 'ship1', method: 'REQNone', data: '12345', replyMethod: 'none' }, 'central', DEFAULT_MESSAGE_DEFAULTS, Date.now());
  return encodeFrame({ v: FRAME_VERSION, type: 'data', stream: 'central~ship1~REQNone', inc: newIncarnation(), seq: 12345, message: message! }).length;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    const list = (all: typeof SCENARIOS) => all.map((s) => `  ${s.name.padEnd(21)} ${s.summary}`).join('\n');
    console.log(`${USAGE}\n\nscenarios:\n${list(SCENARIOS)}\n\nrun only when named:\n${list(DIAGNOSTICS)}`);
    return 0;
  }
  const all = [...SCENARIOS, ...DIAGNOSTICS];
  const known = new Set(all.map((s) => s.name));
  const unknown = args.scenarios.filter((s) => !known.has(s));
  if (unknown.length) throw new Error(`unknown scenario(s): ${unknown.join(', ')}; known: ${[...known].join(', ')}`);
  const chosen = args.scenarios.length ? all.filter((s) => args.scenarios.includes(s.name)) : SCENARIOS;

  installCleanup();
  const tmpRoot = await mkdtemp(path.join(os.tmpdir(), 'bosun-bench-'));
  trackDir(tmpRoot);
  const cpuProfDir = args.cpuProf ? PROFILE_DIR : undefined;
  if (cpuProfDir) await mkdir(cpuProfDir, { recursive: true });

  // JetStream on, for the jetstream-append baseline; bosun itself never uses it here. A
  // monitoring port, for what the server carried (/varz).
  const natsMonitorPort = await freePort();
  const nats = await startNatsServer({ jetStream: { storeDir: path.join(tmpRoot, 'jetstream') }, args: ['-m', String(natsMonitorPort)] });
  trackPid(nats.pid, 'nats-server');
  const machine = describeMachine(findNatsServerBinary());
  const idle = await WorkerProcess.spawn({ label: 'idle', tmpDir: tmpRoot });
  machine.idleWorkerRssMB = Math.round((await idle.usage()).peakRssBytes / 2 ** 20);
  await idle.stop();
  const progress = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
  const print = (r: ScenarioResult) => {
    if (args.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else process.stdout.write(`${formatResult(r)}\n`);
  };
  if (!args.json) process.stdout.write(`${formatMachine(machine, { quick: args.quick, cpuProf: args.cpuProf, natsUrl: nats.url })}\n`);

  const runner = new Runner({
    quick: args.quick,
    repetitions: args.repetitions,
    servers: nats.url,
    natsPid: nats.pid,
    natsMonitorPort,
    frameBytes: dataFrameBytes(),
    tmpRoot,
    cpuProfDir,
    machine,
    progress,
    report: print,
  });
  for (const scenario of chosen) {
    progress(`scenario ${scenario.name}`);
    await runner.run(scenario);
  }
  const results = runner.results;
  if (!args.json) process.stdout.write(`${formatDigest(results)}\n`);
  if (cpuProfDir) {
    const profiles = results.flatMap((r) => r.profiles);
    const lines = [`\nCPU profiles of the worker processes are in ${path.relative(process.cwd(), cpuProfDir)}/ (open them in Chrome DevTools or speedscope):`];
    for (const p of profiles) lines.push(formatProfileSummary(path.relative(process.cwd(), p), await summariseProfile(p, 8), 8));
    (args.json ? process.stderr : process.stdout).write(`${lines.join('\n')}\n`);
  }
  await nats.stop();
  removeDir(tmpRoot);
  return results.some((r) => r.errors.length > 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
