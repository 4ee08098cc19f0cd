import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { until } from './until.ts';

/**
 * Real `bosun` processes for tests: daemons started with `bin/bosun.js start` in a temp
 * data dir, and one-shot commands (`send`, `tree`). Every process started here is killed
 * and every temp dir removed when the test process exits, however it exits.
 */
export const BOSUN_BIN = path.resolve(import.meta.dirname, '../../bin/bosun.js');

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** An environment without the caller's BOSUN_* settings, so tests see only their own. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('BOSUN_')) env[key] = value;
  return { ...env, ...extra };
}

/** A fresh temp dir, short enough for a unix socket path, removed at exit (or by `removeTempDirs`). */
export async function tempDir(prefix = 'bosun-'): Promise<string> {
  installExitHook();
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface DaemonOptions {
  node?: string;
  /** Defaults to a fresh temp dir. */
  dataDir?: string;
  /** More `bosun start` arguments. */
  args?: string[];
  /**
   * Run `bosun start` with exactly these arguments instead (no --node, --data-dir or
   * --hello-interval added); the data dir is then read from the "node started" line.
   */
  rawArgs?: string[];
  cwd?: string;
  env?: Record<string, string>;
  /** How long to wait for the "node started" line (default 20 s). */
  startTimeoutMs?: number;
}

/** A running `bosun start` process. */
export class Daemon {
  readonly logs: LogLine[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  readonly #child: ChildProcess;

  private constructor(
    public node: string,
    public dataDir: string,
    child: ChildProcess,
  ) {
    this.#child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        resolve({ code, signal });
      });
    });
    let pending = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (text: string) => {
      this.stdout += text;
      pending += text;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          // not a log line; kept in stdout
        }
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => (this.stderr += text));
  }

  /** Starts `bosun start --node NODE --data-dir DIR --hello-interval 0 …` and waits until it serves. */
  static async start(options: DaemonOptions = {}): Promise<Daemon> {
    installExitHook();
    const node = options.node ?? 'ship1';
    const dataDir = options.dataDir ?? path.join(await tempDir(), node);
    const args = options.rawArgs
      ? ['start', ...options.rawArgs]
      : ['start', '--node', node, '--data-dir', dataDir, '--hello-interval', '0', ...(options.args ?? [])];
    const child = spawn(process.execPath, [BOSUN_BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: cleanEnv(options.env),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    live.add(child);
    const daemon = new Daemon(node, dataDir, child);
    const ready = daemon.waitForLog((l) => l.msg === 'node started' && typeof l.debugSocket === 'string', options.startTimeoutMs ?? 20_000);
    const exit = daemon.exited.then((e) => {
      throw new Error(`bosun start exited (${e.code ?? e.signal}) before it served:\n${daemon.output()}`);
    });
    const started = await Promise.race([ready, exit]);
    daemon.node = String(started.node);
    daemon.dataDir = String(started.dataDir);
    return daemon;
  }

  get pid(): number {
    return this.#child.pid!;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  get socketPath(): string {
    return path.join(this.dataDir, 'bosun.sock');
  }

  /** The token the HTTP and TCP inputs require, from the file the daemon logged at start. */
  get inputToken(): string {
    const file = typeof this.started.tokenFile === 'string' ? this.started.tokenFile : path.join(this.dataDir, 'input.token');
    return readFileSync(file, 'utf8').trim();
  }

  /** Headers a well-behaved HTTP client of the messages endpoint sends. */
  get httpHeaders(): Record<string, string> {
    return { 'Content-Type': 'application/json', Authorization: `Bearer ${this.inputToken}` };
  }

  get debugSocketPath(): string {
    return path.join(this.dataDir, 'debug.sock');
  }

  /** The "node started" log line: where the daemon listens, its input file, its startup report. */
  get started(): LogLine {
    const line = this.logs.find((l) => l.msg === 'node started' && typeof l.debugSocket === 'string');
    if (!line) throw new Error(`${this.node} has not logged "node started"\n${this.output()}`);
    return line;
  }

  /** Runs one debug-socket command (`stats`, `queue {"node":"x"}`…) and resolves with its parsed answer. */
  async debug(command: string): Promise<unknown> {
    const [answer] = await talk(this.debugSocketPath, command + '\n');
    return answer;
  }

  /** The daemon's stdout and stderr, for failure messages. */
  output(): string {
    return `--- stdout\n${this.stdout.slice(-4000)}\n--- stderr\n${this.stderr.slice(-4000)}`;
  }

  /** Resolves with the first log line (already seen or to come) that matches. */
  async waitForLog(match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    return waitFor(() => this.logs.find(match), timeoutMs, `a matching log line from ${this.node}\n${this.output()}`);
  }

  /** Sends a signal by PID and waits for the process to exit. */
  async signal(signal: NodeJS.Signals): Promise<Exit> {
    if (this.running) process.kill(this.pid, signal);
    return this.exited;
  }

  /** SIGTERM: the graceful stop. */
  stop(): Promise<Exit> {
    return this.signal('SIGTERM');
  }

  /** SIGKILL, as a crash would. */
  kill(): Promise<Exit> {
    return this.signal('SIGKILL');
  }
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/bosun.js ARGS` to completion, with `input` on stdin. */
export function runBosun(args: string[], options: { input?: string | Buffer; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  installExitHook();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BOSUN_BIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: cleanEnv(options.env),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bosun ${args.join(' ')} did not finish within ${options.timeoutMs ?? 20_000} ms:\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      live.delete(child);
      // stdout and stderr may still hold data after the exit event
      setImmediate(() => resolve({ code, stdout, stderr }));
    });
    child.stdin.on('error', () => {}); // a command that exits early closes its stdin
    child.stdin.end(options.input ?? '');
  });
}

/** Polls `probe` until it gives a value (not undefined/false), or fails after `timeoutMs`. */
export function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  return until(probe, timeoutMs, what, 25);
}

/** The file's text once it exists and satisfies `done` (default: non-empty). */
export function waitForFile(file: string, timeoutMs: number, done: (text: string) => boolean = (t) => t.length > 0): Promise<string> {
  return waitFor(async () => {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    return text !== undefined && done(text) ? text : undefined;
  }, timeoutMs, `the file ${file}`);
}

/**
 * A client connection to a unix socket: write to it, read its answer lines as they come.
 * `lines(n)` waits for n lines in all.
 */
export class SocketClient {
  readonly received: string[] = [];
  readonly closed: Promise<void>;
  #pending = '';
  readonly #socket;

  private constructor(socketPath: string) {
    this.#socket = connect({ path: socketPath, allowHalfOpen: true });
    this.#socket.setEncoding('utf8');
    this.#socket.on('data', (text: string) => {
      this.#pending += text;
      let newline: number;
      while ((newline = this.#pending.indexOf('\n')) >= 0) {
        this.received.push(this.#pending.slice(0, newline));
        this.#pending = this.#pending.slice(newline + 1);
      }
    });
    this.#socket.on('error', () => {});
    // Once the server has said all it will, the client is done too.
    this.#socket.on('end', () => this.#socket.end());
    this.closed = new Promise((resolve) => this.#socket.once('close', () => resolve()));
  }

  static connect(socketPath: string): Promise<SocketClient> {
    const client = new SocketClient(socketPath);
    return new Promise((resolve, reject) => {
      client.#socket.once('connect', () => resolve(client));
      client.#socket.once('error', reject);
    });
  }

  write(data: string | Uint8Array): void {
    this.#socket.write(data);
  }

  /** Half-closes: no more input, answers still come. */
  end(data?: string | Uint8Array): void {
    if (data === undefined) this.#socket.end();
    else this.#socket.end(data);
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /** The first `count` answers, parsed. */
  async lines(count: number, timeoutMs = 10_000): Promise<Array<Record<string, unknown>>> {
    await waitFor(() => this.received.length >= count, timeoutMs, `${count} answer lines (have ${this.received.length}: ${this.received.join(' | ')})`);
    return this.received.slice(0, count).map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

/** Writes `input` to the socket, half-closes, and resolves with every answer line, parsed. */
export async function talk(socketPath: string, input: string | Uint8Array, timeoutMs = 10_000): Promise<Array<Record<string, unknown>>> {
  const client = await SocketClient.connect(socketPath);
  client.end(input);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.closed,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`the socket did not close within ${timeoutMs} ms`)), timeoutMs))),
  ]).finally(() => clearTimeout(timer));
  return client.received.filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}
