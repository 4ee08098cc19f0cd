import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { until } from './until.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/bosun.js');
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) if (c.pid && c.exitCode === null) process.kill(c.pid, 'SIGKILL');
});

/** A bosun daemon run as a real process, that a test can kill and start again. */
export class DaemonProcess {
  #child: ChildProcess | undefined;
  /** stdout and stderr together, since the last start. */
  logs = '';
  /** stdout alone, since the last start (what `REQToConsole` prints goes here). */
  stdout = '';
  /** stderr alone, since the last start. */
  stderr = '';

  constructor(
    readonly node: string,
    readonly dataDir: string,
    readonly extraArgs: string[],
    /** Environment variables on top of this process's, e.g. `RECEPTOR_CONTROLLER_*` settings. */
    readonly env: Record<string, string> = {},
  ) {}

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, [BIN, 'start', '--node', this.node, '--data-dir', this.dataDir, '--hello-interval', '0', ...this.extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.env },
    });
    live.add(child);
    this.#child = child;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.node} did not start:\n${this.logs.slice(-2000)}`)), 30_000);
      const onData = (b: Buffer) => {
        this.logs += b.toString();
        if (this.logs.includes('"node started"') || /"msg":"node started"/.test(this.logs)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stdout!.on('data', (b: Buffer) => (this.stdout += b.toString()));
      child.stderr!.on('data', (b: Buffer) => {
        this.logs += b.toString();
        this.stderr += b.toString();
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        live.delete(child);
        reject(new Error(`${this.node} exited with ${code}:\n${this.logs.slice(-2000)}`));
      });
    });
    this.logs = '';
    this.stdout = '';
    this.stderr = '';
  }

  /** One debug-socket command (`queue`, `nodes`, `audit {…}`), answered with one JSON line. */
  debug(command: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(path.join(this.dataDir, 'debug.sock'));
      let text = '';
      socket.on('data', (b) => {
        text += b.toString();
        const end = text.indexOf('\n');
        if (end >= 0) {
          socket.end();
          resolve(JSON.parse(text.slice(0, end)));
        }
      });
      socket.on('error', reject);
      socket.write(`${command}\n`);
    });
  }

  /** SIGKILL, as a crash or power cut of the process would. */
  async kill(): Promise<void> {
    await this.#signal('SIGKILL');
  }

  /** SIGTERM: the graceful stop; resolves with the exit code. */
  async stop(): Promise<number | null> {
    return this.#signal('SIGTERM');
  }

  async #signal(signal: NodeJS.Signals): Promise<number | null> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    process.kill(child.pid!, signal);
    const code = await exited;
    live.delete(child);
    return code;
  }
}

/** Sends input to a daemon's socket; resolves with its answer lines once `expect` came. */
export function sendToSocket(dataDir: string, input: unknown, expect: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(path.join(dataDir, 'bosun.sock'));
    let buffer = '';
    const answers: unknown[] = [];
    socket.on('connect', () => socket.end(JSON.stringify(input)));
    socket.on('data', (b) => {
      buffer += b.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.trim()) answers.push(JSON.parse(line));
      }
      if (answers.length >= expect) {
        socket.destroy();
        resolve(answers);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => (answers.length >= expect ? resolve(answers) : reject(new Error(`socket closed after ${answers.length} answers`))));
  });
}

/** Polls `cond` every 50 ms (it often reads files) until it holds; throws after `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  await until(cond, ms, what, 50);
}
