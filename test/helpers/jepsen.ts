import { mkdir, readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { DaemonProcess } from './fleet.ts';
import { startNatsServer, type NatsServer } from './natsServer.ts';
import { startTcpProxy, type TcpProxy } from './tcpProxy.ts';
import { sleep } from './until.ts';

/**
 * Jepsen's method for bosun's promise, against real processes: a workload of commands
 * whose effects are observable, a nemesis that injects faults on a seeded schedule, a heal
 * and drain phase, and a checker that compares what inputs accepted with what receivers
 * actually executed.
 *
 * The checker's categories, per stream:
 * - lost: accepted, never executed, not reported interrupted or failed;
 * - duplicated: executed more than once;
 * - reordered: on an ordered stream, executed after a message accepted later;
 * - unexpected: executed but never sent (nor sent with its acceptance unknown);
 * - unknown: reported interrupted, so it may or may not have run (never re-run).
 * Messages whose acceptance is unknown (the connection died before the answer) are
 * neither lost when missing nor unexpected when present; "recovered" counts those that ran.
 */

// ---- checker ---------------------------------------------------------------------

export interface StreamHistory {
  stream: string;
  ordered: boolean;
  /** Ids the input answered "accepted", in the order they were sent. */
  accepted: readonly string[];
  /** Ids sent whose acceptance is unknown: no answer came before the connection died. */
  indeterminate?: readonly string[];
  /** Ids in the order the receiver executed them (effect file order), repeats included. */
  executed: readonly string[];
  /** Ids reported interrupted: their run was cut short and will not be repeated. */
  interrupted?: ReadonlySet<string>;
  /** Ids reported as failed runs (another error code): they ran, with a known outcome. */
  failed?: ReadonlySet<string>;
}

export interface Anomaly {
  count: number;
  /** A few cases, described for people. */
  examples: string[];
}

export interface StreamVerdict {
  stream: string;
  ordered: boolean;
  accepted: number;
  /** Distinct ids executed. */
  executed: number;
  /** Lost, split by where the gap sits: before the first, between, or after the last execution. */
  lost: Anomaly & { prefix: number; middle: number; postfix: number };
  duplicated: Anomaly;
  reordered: Anomaly;
  unexpected: Anomaly;
  unknown: Anomaly & { ran: number; notRan: number };
  failed: number;
  indeterminate: number;
  recovered: number;
}

export interface Totals {
  accepted: number;
  executed: number;
  lost: number;
  duplicated: number;
  reordered: number;
  unexpected: number;
  unknown: number;
  unknownRan: number;
  failed: number;
  indeterminate: number;
  recovered: number;
}

export interface Verdict {
  /** No message lost, duplicated, reordered or unexpected. */
  valid: boolean;
  totals: Totals;
  streams: StreamVerdict[];
}

const MAX_EXAMPLES = 5;

function anomaly(): Anomaly {
  return { count: 0, examples: [] };
}

function note(a: Anomaly, example: string, by = 1): void {
  a.count += by;
  if (a.examples.length < MAX_EXAMPLES) a.examples.push(example);
}

/** Classifies what each stream's receiver executed against what its input accepted. */
export function checkStreams(histories: readonly StreamHistory[]): Verdict {
  const streams = histories.map(checkStream);
  const sum = (f: (s: StreamVerdict) => number) => streams.reduce((n, s) => n + f(s), 0);
  const totals: Totals = {
    accepted: sum((s) => s.accepted),
    executed: sum((s) => s.executed),
    lost: sum((s) => s.lost.count),
    duplicated: sum((s) => s.duplicated.count),
    reordered: sum((s) => s.reordered.count),
    unexpected: sum((s) => s.unexpected.count),
    unknown: sum((s) => s.unknown.count),
    unknownRan: sum((s) => s.unknown.ran),
    failed: sum((s) => s.failed),
    indeterminate: sum((s) => s.indeterminate),
    recovered: sum((s) => s.recovered),
  };
  const valid = totals.lost === 0 && totals.duplicated === 0 && totals.reordered === 0 && totals.unexpected === 0;
  return { valid, totals, streams };
}

function checkStream(h: StreamHistory): StreamVerdict {
  const interrupted = h.interrupted ?? new Set<string>();
  const failedReports = h.failed ?? new Set<string>();
  const position = new Map(h.accepted.map((id, i) => [id, i]));
  const indeterminate = new Set(h.indeterminate ?? []);
  const times = new Map<string, number>();
  for (const id of h.executed) times.set(id, (times.get(id) ?? 0) + 1);

  const duplicated = anomaly();
  for (const [id, n] of times) if (n > 1) note(duplicated, `${id} executed ${n} times`, n - 1);

  const unexpected = anomaly();
  for (const id of times.keys()) {
    if (!position.has(id) && !indeterminate.has(id)) note(unexpected, `${id} executed but never sent on ${h.stream}`);
  }

  // An interrupted run may have happened at any moment before its node died: it is left
  // out of the order, as Jepsen leaves out operations of unknown outcome.
  const reordered = anomaly();
  if (h.ordered) {
    let highest = -1;
    const seen = new Set<string>();
    for (const id of h.executed) {
      const at = position.get(id);
      if (at === undefined || seen.has(id) || interrupted.has(id)) continue;
      seen.add(id);
      if (at < highest) note(reordered, `${id} executed after ${h.accepted[highest]}, which was accepted later`);
      else highest = at;
    }
  }

  const lost = { ...anomaly(), prefix: 0, middle: 0, postfix: 0 };
  const ranAt = h.accepted.map((id) => times.has(id));
  const first = ranAt.indexOf(true);
  const last = ranAt.lastIndexOf(true);
  h.accepted.forEach((id, i) => {
    if (ranAt[i] || interrupted.has(id) || failedReports.has(id)) return;
    const where = first === -1 || i < first ? 'prefix' : i > last ? 'postfix' : 'middle';
    lost[where]++;
    note(lost, `${id} (accepted #${i + 1} of ${h.accepted.length}, ${where}) never executed and was not reported`);
  });

  const unknown = { ...anomaly(), ran: 0, notRan: 0 };
  for (const id of interrupted) {
    if (!position.has(id) && !indeterminate.has(id)) continue;
    const ran = times.has(id);
    if (ran) unknown.ran++;
    else unknown.notRan++;
    note(unknown, `${id} reported interrupted (${ran ? 'its effect happened' : 'no effect'})`);
  }

  let recovered = 0;
  for (const id of indeterminate) if (times.has(id)) recovered++;
  let failed = 0;
  for (const id of failedReports) if (position.has(id) || indeterminate.has(id)) failed++;

  return {
    stream: h.stream,
    ordered: h.ordered,
    accepted: h.accepted.length,
    executed: [...times.keys()].filter((id) => position.has(id) || indeterminate.has(id)).length,
    lost,
    duplicated,
    reordered,
    unexpected,
    unknown,
    failed,
    indeterminate: indeterminate.size,
    recovered,
  };
}

/** The verdict as a few lines: totals, then every anomaly with examples. */
export function formatVerdict(v: Verdict): string {
  const t = v.totals;
  const lines = [
    `checker: ${v.valid ? 'VALID' : 'INVALID'}: lost ${t.lost}, duplicated ${t.duplicated}, reordered ${t.reordered}, unexpected ${t.unexpected}, ` +
      `unknown ${t.unknown} (ran ${t.unknownRan}, not run ${t.unknown - t.unknownRan}), failed ${t.failed}, ` +
      `no answer ${t.indeterminate} (ran anyway ${t.recovered})`,
  ];
  for (const s of v.streams) {
    lines.push(
      `  ${s.stream} (${s.ordered ? 'ordered' : 'unordered'}): accepted ${s.accepted}, executed ${s.executed}, lost ${s.lost.count}, ` +
        `duplicated ${s.duplicated.count}, reordered ${s.reordered.count}, unexpected ${s.unexpected.count}, unknown ${s.unknown.count}`,
    );
    for (const [name, a] of [['lost', s.lost], ['duplicated', s.duplicated], ['reordered', s.reordered], ['unexpected', s.unexpected]] as const) {
      for (const e of a.examples) lines.push(`    ${name}: ${e}`);
    }
  }
  return lines.join('\n');
}

// ---- what receivers report back ----------------------------------------------------

export interface RunReports {
  /** Ids reported interrupted. */
  interrupted: Set<string>;
  /** Ids reported as failed runs, with the code. */
  failed: Map<string, string>;
  /** Ids whose interruption reached only the error log, not the sender as a reply. */
  onlyInErrorLog: Set<string>;
}

const CODE = /\b(BOSUN_[A-Z_]+)\b/;

/**
 * Reads the reports a sender received: every `*.error` reply file under `filesDir` and
 * the error log. An id with `.reply` after it names a reply whose own run was interrupted
 * on the sender: what it reported is unknown, so the request counts as interrupted too.
 */
export async function readReports(filesDir: string, idPattern: RegExp): Promise<RunReports> {
  const reports: RunReports = { interrupted: new Set(), failed: new Map(), onlyInErrorLog: new Set() };
  const ids = new RegExp(`(${idPattern.source})(\\.reply)?`, 'g');
  const fromLog = new Set<string>();
  for (const file of await listFiles(filesDir)) {
    const isErrorLog = path.basename(file) === 'error.log';
    if (!isErrorLog && !file.endsWith('.error')) continue;
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      const code = CODE.exec(line)?.[1];
      if (!code) continue;
      for (const match of line.matchAll(ids)) {
        const id = match[1]!;
        const replyCutShort = match[2] !== undefined;
        if (code === 'BOSUN_INTERRUPTED' || replyCutShort) {
          if (isErrorLog) fromLog.add(id);
          else reports.interrupted.add(id);
        } else if (!isErrorLog) reports.failed.set(id, code);
      }
    }
  }
  for (const id of fromLog) {
    if (!reports.interrupted.has(id)) reports.onlyInErrorLog.add(id);
    reports.interrupted.add(id);
  }
  return reports;
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) files.push(...(await listFiles(full)));
    else if (e.isFile()) files.push(full);
  }
  return files;
}

/** The non-empty lines of a file; none if it does not exist yet. */
export async function readLines(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean);
}

// ---- nemesis -------------------------------------------------------------------------

export type FaultKind = 'kill-ship' | 'kill-central' | 'pause-ship' | 'kill-broker' | 'proxy-cut' | 'proxy-delay';
export const FAULT_KINDS: readonly FaultKind[] = ['kill-ship', 'kill-central', 'pause-ship', 'kill-broker', 'proxy-cut', 'proxy-delay'];

export interface Fault {
  /** Offset from the start of the fault phase. */
  atMs: number;
  kind: FaultKind;
  /** Ship for kill-ship and pause-ship. */
  target?: string;
  /** How long the fault lasts before it is healed. */
  durationMs: number;
  /** Added latency each way, for proxy-delay. */
  latencyMs?: number;
}

/** mulberry32: a small seeded PRNG, so a schedule is replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A fault schedule for `phaseMs`: every kind once, in a seeded order, then seeded picks
 * until the phase is full. Faults follow one another with a pause in between; restart
 * times are not in the offsets, so the run may fall behind the plan but keeps its order.
 */
export function nemesisSchedule(seed: number, phaseMs: number, ships: readonly string[], only: readonly FaultKind[] = FAULT_KINDS): Fault[] {
  const random = seededRandom(seed);
  const between = (lo: number, hi: number) => Math.round(lo + random() * (hi - lo));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  if (only.length === 0) return [];
  const kinds = [...only];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const faults: Fault[] = [];
  let at = between(1000, 3000);
  for (let i = 0; ; i++) {
    const kind = i < kinds.length ? kinds[i]! : pick(only);
    const fault: Fault =
      kind === 'proxy-delay'
        ? { atMs: at, kind, durationMs: between(2000, 6000), latencyMs: between(200, 1200) }
        : kind === 'kill-ship' || kind === 'pause-ship'
          ? { atMs: at, kind, target: pick(ships), durationMs: between(300, 3000) }
          : { atMs: at, kind, durationMs: between(300, 3500) };
    if (fault.atMs + fault.durationMs > phaseMs && faults.length >= kinds.length) break;
    faults.push(fault);
    at += fault.durationMs + between(1500, 4000);
  }
  return faults;
}

export function formatFault(f: Fault): string {
  const what = f.kind === 'proxy-delay' ? `proxy-delay ${f.latencyMs}ms` : f.target ? `${f.kind} ${f.target}` : f.kind;
  return `@${(f.atMs / 1000).toFixed(1)}s ${what} for ${(f.durationMs / 1000).toFixed(1)}s`;
}

// ---- the run: a fleet, a workload, the nemesis, heal, check -------------------------

export interface ReliabilityRunOptions {
  /** A fresh directory for data dirs and effect files (keep its path short: unix sockets). */
  dir: string;
  seed: number;
  /** How long the workload runs under faults. */
  faultPhaseMs: number;
  /** How long healed nodes get to settle every accepted command. */
  settleTimeoutMs: number;
  /** Commands per second on each stream (six streams). */
  ratePerStream?: number;
  /** The fault kinds the nemesis draws from (default all). */
  faultKinds?: readonly FaultKind[];
  /** Progress lines (the schedule, each fault as it happens). */
  log?: (line: string) => void;
}

export interface ReliabilityReport {
  seed: number;
  schedule: Fault[];
  faults: Record<FaultKind, number>;
  sent: number;
  accepted: number;
  refused: number;
  indeterminate: number;
  reports: RunReports;
  verdict: Verdict;
  /** Processes not running at the end, which should be none. */
  deadAtEnd: string[];
  /** Daemons found dead that no fault had killed: crashes of their own. */
  crashed: string[];
  /** The last output of every daemon that died on its own, by node. */
  crashOutput: Record<string, string>;
  faultPhaseMs: number;
  settleMs: number;
  settled: boolean;
}

const SHIPS = ['ship1', 'ship2'] as const;
const STREAM_KINDS = [
  { code: 'o', method: 'REQCliCommand', ordered: true },
  { code: 'u', method: 'REQnCliCommand', ordered: false },
  { code: 'a', method: 'REQToFileAppend', ordered: true },
] as const;
const ID_PATTERN = /ship\d-[oua]-\d+/;
const ACK_TIMEOUT_SECONDS = 1;
const RETRY_WAIT_SECONDS = 0.2;
const TICK_MS = 250;
const BATCH_TIMEOUT_MS = 15_000;
const PROGRESS_EVERY_MS = 30_000;

interface Stream {
  name: string;
  ship: string;
  code: string;
  method: string;
  ordered: boolean;
  effects: string;
  next: number;
  accepted: string[];
  indeterminate: string[];
}

/**
 * Runs the whole experiment and tears it down: nats-server, a TCP proxy, central and two
 * ships as `bosun start` processes (ship1 reaches the broker through the proxy), six
 * streams from central (ordered and unordered commands, ordered file appends, to each
 * ship), the nemesis for `faultPhaseMs`, then heal, settle and check.
 */
export async function runReliability(options: ReliabilityRunOptions): Promise<ReliabilityReport> {
  const log = options.log ?? (() => {});
  const rate = options.ratePerStream ?? 4;
  await mkdir(path.join(options.dir, 'effects'), { recursive: true });
  const nats = await startNatsServer();
  let proxy: TcpProxy | undefined;
  const daemons = new Map<string, DaemonProcess>();
  let workloadOn = true;
  let workload: Promise<void> = Promise.resolve();
  try {
    proxy = await startTcpProxy({ targetPort: nats.port });
    const natsUrl = (node: string) => (node === 'ship1' ? proxy!.url : nats.url);
    for (const node of ['central', ...SHIPS]) {
      daemons.set(node, new DaemonProcess(node, path.join(options.dir, node), ['--nats', natsUrl(node)]));
    }
    await Promise.all([...daemons.values()].map((d) => d.start()));
    const central = daemons.get('central')!;

    const streams: Stream[] = SHIPS.flatMap((ship) =>
      STREAM_KINDS.map((k) => ({
        name: `${ship}/${k.method}`,
        ship,
        code: k.code,
        method: k.method,
        ordered: k.ordered,
        effects:
          k.method === 'REQToFileAppend'
            ? path.join(options.dir, ship, 'files', 'effects', 'central', 'append.log')
            : path.join(options.dir, 'effects', `${ship}.${k.method}.log`),
        next: 0,
        accepted: [],
        indeterminate: [],
      })),
    );

    const schedule = nemesisSchedule(options.seed, options.faultPhaseMs, SHIPS, options.faultKinds);
    log(`nemesis seed ${options.seed}: ${schedule.map(formatFault).join('; ')}`);
    const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
    const counts = { sent: 0, refused: 0 };
    const crashed: string[] = [];
    const crashOutput: Record<string, string> = {};
    const noteCrash = (node: string, d: DaemonProcess): void => {
      crashed.push(node);
      crashOutput[node] = d.logs.slice(-3000);
    };

    workload = (async () => {
      let owed = 0;
      let lastProgress = Date.now();
      while (workloadOn) {
        const started = Date.now();
        if (started - lastProgress >= PROGRESS_EVERY_MS) {
          lastProgress = started;
          const accepted = streams.reduce((n, s) => n + s.accepted.length, 0);
          log(`progress: sent ${counts.sent}, accepted ${accepted}, faults so far ${Object.values(faults).reduce((a, b) => a + b, 0)}`);
        }
        owed += (rate * TICK_MS) / 1000;
        const perStream = Math.floor(owed);
        owed -= perStream;
        if (perStream > 0) await sendTick(central, streams, perStream, counts);
        await sleep(Math.max(0, TICK_MS - (Date.now() - started)));
      }
    })();

    const phaseStart = Date.now();
    for (const fault of schedule) {
      await sleep(fault.atMs - (Date.now() - phaseStart));
      log(`fault ${formatFault(fault)}`);
      const target = daemons.get(fault.target ?? '');
      if (fault.kind === 'pause-ship' && target && !alive(target.pid)) {
        noteCrash(fault.target!, target);
        await target.start();
      }
      await inject(fault, { daemons, nats, proxy });
      faults[fault.kind]++;
    }
    await sleep(options.faultPhaseMs - (Date.now() - phaseStart));
    workloadOn = false;
    await workload;
    const faultPhaseMs = Date.now() - phaseStart;

    // Heal: every process up, the network whole. A daemon down now died on its own.
    proxy.unblock();
    proxy.delay(0);
    if (!nats.running) await nats.restart();
    for (const [node, d] of daemons) {
      if (alive(d.pid)) continue;
      noteCrash(node, d);
      await d.start();
    }

    const settleStart = Date.now();
    const collect = async (): Promise<{ reports: RunReports; executed: Map<string, string[]> }> => {
      const reports = await readReports(path.join(central.dataDir, 'files'), ID_PATTERN);
      const executed = new Map<string, string[]>();
      for (const s of streams) executed.set(s.name, await readLines(s.effects));
      return { reports, executed };
    };
    let settled = false;
    while (Date.now() - settleStart < options.settleTimeoutMs) {
      const { reports, executed } = await collect();
      settled = streams.every((s) => {
        const done = new Set(executed.get(s.name));
        return s.accepted.every((id) => done.has(id) || reports.interrupted.has(id) || reports.failed.has(id));
      });
      if (settled) break;
      await sleep(500);
    }
    const settleMs = Date.now() - settleStart;
    // Stragglers: a late resend that ran twice would show up now.
    await sleep(1500);
    const { reports, executed } = await collect();
    const failed = new Set(reports.failed.keys());
    const verdict = checkStreams(
      streams.map((s) => ({
        stream: s.name,
        ordered: s.ordered,
        accepted: s.accepted,
        indeterminate: s.indeterminate,
        executed: executed.get(s.name)!,
        interrupted: reports.interrupted,
        failed,
      })),
    );
    const deadAtEnd = [...daemons.entries()].filter(([, d]) => !alive(d.pid)).map(([n]) => n);
    for (const node of deadAtEnd) if (!crashed.includes(node)) noteCrash(node, daemons.get(node)!);
    if (!nats.running) deadAtEnd.push('nats-server');
    return {
      seed: options.seed,
      schedule,
      faults,
      sent: counts.sent,
      accepted: streams.reduce((n, s) => n + s.accepted.length, 0),
      refused: counts.refused,
      indeterminate: streams.reduce((n, s) => n + s.indeterminate.length, 0),
      reports,
      verdict,
      deadAtEnd,
      crashed,
      crashOutput,
      faultPhaseMs,
      settleMs,
      settled,
    };
  } finally {
    workloadOn = false;
    await workload.catch(() => {});
    await Promise.all([...daemons.values()].map((d) => continueAndKill(d)));
    await proxy?.close();
    await nats.stop();
  }
}

/** The figures a run prints: what was sent, what ran, which faults, what the checker found. */
export function formatReport(r: ReliabilityReport): string {
  const t = r.verdict.totals;
  const faultCount = Object.values(r.faults).reduce((a, b) => a + b, 0);
  return [
    `reliability run, seed ${r.seed}: fault phase ${(r.faultPhaseMs / 1000).toFixed(1)} s, ` +
      `settled ${r.settled ? 'in' : 'NOT within'} ${(r.settleMs / 1000).toFixed(1)} s`,
    `faults injected: ${faultCount} (${FAULT_KINDS.map((k) => `${k} ${r.faults[k]}`).join(', ')})`,
    `commands: sent ${r.sent}, accepted ${r.accepted}, refused ${r.refused}, no answer ${r.indeterminate}; ` +
      `executed ${t.executed} (distinct, of accepted or unanswered)`,
    `lost ${t.lost}, duplicated ${t.duplicated}, reordered ${t.reordered}, unexpected ${t.unexpected}, ` +
      `unknown ${t.unknown} (interrupted; ran ${t.unknownRan}), failed ${t.failed}` +
      (r.reports.onlyInErrorLog.size > 0 ? `, interruptions only in the error log ${r.reports.onlyInErrorLog.size}` : ''),
    ...(r.crashed.length > 0 ? [`daemons that died on their own: ${r.crashed.join(', ')}`] : []),
    ...(r.deadAtEnd.length > 0 ? [`not running at the end: ${r.deadAtEnd.join(', ')}`] : []),
    ...Object.entries(r.crashOutput).map(([node, output]) => `last output of ${node}:\n${output}`),
    formatVerdict(r.verdict),
  ].join('\n');
}

interface Targets {
  daemons: Map<string, DaemonProcess>;
  nats: NatsServer;
  proxy: TcpProxy;
}

async function inject(fault: Fault, { daemons, nats, proxy }: Targets): Promise<void> {
  switch (fault.kind) {
    case 'kill-ship':
    case 'kill-central': {
      const daemon = daemons.get(fault.target ?? 'central')!;
      await daemon.kill();
      await sleep(fault.durationMs);
      await daemon.start();
      return;
    }
    case 'pause-ship': {
      const pid = daemons.get(fault.target!)!.pid!;
      process.kill(pid, 'SIGSTOP');
      try {
        await sleep(fault.durationMs);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      return;
    }
    case 'kill-broker':
      await nats.kill();
      await sleep(fault.durationMs);
      await nats.restart();
      return;
    case 'proxy-cut':
      proxy.block();
      proxy.cut();
      await sleep(fault.durationMs);
      proxy.unblock();
      return;
    case 'proxy-delay':
      proxy.delay(fault.latencyMs ?? 500);
      await sleep(fault.durationMs);
      proxy.delay(0);
  }
}

/** One tick of the workload: `perStream` new commands on every stream, as one batch to central. */
async function sendTick(central: DaemonProcess, streams: Stream[], perStream: number, counts: { sent: number; refused: number }): Promise<void> {
  const batch: Array<{ stream: Stream; message: Record<string, unknown> }> = [];
  for (const s of streams) {
    for (let i = 0; i < perStream; i++) batch.push({ stream: s, message: commandFor(s, `${s.ship}-${s.code}-${s.next++}`) });
  }
  const result = await sendBatch(path.join(central.dataDir, 'bosun.sock'), batch.map((b) => b.message), BATCH_TIMEOUT_MS);
  if (!result.connected) return; // nothing was sent: central is down
  counts.sent += batch.length;
  batch.forEach(({ stream, message }, i) => {
    const answer = result.answers[i] as { id?: string; status?: string; error?: unknown } | undefined;
    const id = message.id as string;
    if (answer === undefined) stream.indeterminate.push(id);
    else if (answer.status === 'accepted' && answer.id === id) stream.accepted.push(id);
    else counts.refused++;
  });
}

function commandFor(s: Stream, id: string): Record<string, unknown> {
  const delivery = { ACKTimeout: ACK_TIMEOUT_SECONDS, retryWait: RETRY_WAIT_SECONDS, retries: -1 };
  if (s.method === 'REQToFileAppend') {
    return { id, toNode: s.ship, method: s.method, data: id, directory: 'effects', fileName: 'append.log', ...delivery };
  }
  return { id, toNode: s.ship, method: s.method, methodArgs: ['sh', '-c', `echo ${id} >> ${s.effects}`], ...delivery };
}

/**
 * Writes one JSON array to a daemon's socket and reads the answer lines until the daemon
 * closes. `connected` is false when nothing could be sent; `answers` may be short when
 * the daemon died meanwhile.
 */
export function sendBatch(socketPath: string, messages: unknown[], timeoutMs: number): Promise<{ connected: boolean; answers: unknown[] }> {
  return new Promise((resolve) => {
    const socket = net.createConnection({ path: socketPath, allowHalfOpen: true });
    let connected = false;
    let buffer = '';
    const answers: unknown[] = [];
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      connected = true;
      socket.end(JSON.stringify(messages) + '\n');
    });
    socket.on('data', (text: string) => {
      buffer += text;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          if (line.trim()) answers.push(JSON.parse(line));
        } catch {
          answers.push({ error: { code: 'UNREADABLE_ANSWER', message: line } });
        }
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ connected, answers });
    });
  });
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function continueAndKill(d: DaemonProcess): Promise<void> {
  if (d.pid !== undefined && alive(d.pid)) {
    try {
      process.kill(d.pid, 'SIGCONT');
    } catch {
      // gone meanwhile
    }
  }
  await d.kill();
}

