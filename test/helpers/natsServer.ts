import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { delimiter, join } from 'node:path';
import { freePort } from './ports.ts';
import { sleep } from './until.ts';

/**
 * Real `nats-server` processes for integration tests, bound to loopback. Every process
 * spawned here is killed when the test process exits, however it exits: an `exit` hook
 * covers a normal exit, and a watchdog shell covers a test worker killed outright (vitest
 * ends its workers without running `exit` handlers).
 */
export interface NatsServerOptions {
  /** Defaults to a free port. */
  port?: number;
  /** Extra command-line arguments, e.g. `['-js', '-sd', dir]` or `['-c', confFile]`. */
  args?: string[];
  /**
   * Runs JetStream with its file storage in `storeDir` (`-js -sd storeDir`). Restarts use
   * the same directory, so streams, their messages and consumers survive a kill.
   */
  jetStream?: { storeDir: string };
  /** How long to wait for the server to accept connections. Default 5000 ms. */
  startTimeoutMs?: number;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  /** PID of the current process; changes on restart, 0 while stopped. */
  readonly pid: number;
  readonly running: boolean;
  /** SIGTERM, then SIGKILL after 2 s; resolves once the process has exited. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would; resolves once the process has exited. */
  kill(): Promise<void>;
  /** Stops the server if it runs, then starts it again on the same port and arguments. */
  restart(): Promise<void>;
}

const HOST = '127.0.0.1';
const STOP_GRACE_MS = 2000;
const spawned = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of spawned) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** Finds `nats-server` on PATH, then in /usr/sbin (Debian's location, often not on PATH). */
export function findNatsServerBinary(): string {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const dir of [...dirs, '/usr/sbin', '/usr/local/sbin']) {
    const candidate = join(dir, 'nats-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new Error('nats-server not found on PATH or in /usr/sbin; install it (apt-get install nats-server) to run NATS tests');
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = findNatsServerBinary();
  const port = options.port ?? (await freePort());
  const jetStreamArgs = options.jetStream ? ['-js', '-sd', options.jetStream.storeDir] : [];
  const args = ['-a', HOST, '-p', String(port), ...jetStreamArgs, ...(options.args ?? [])];
  const startTimeoutMs = options.startTimeoutMs ?? 5000;
  installExitHook();

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  async function launch(): Promise<void> {
    const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      // nats-server logs to stderr; keep the tail for error messages only
      stderr = (stderr + chunk).slice(-4000);
    });
    let hasExited = false;
    exited = new Promise<void>((resolve) => {
      proc.once('exit', () => {
        hasExited = true;
        if (proc.pid !== undefined) spawned.delete(proc.pid);
        if (child === proc) child = undefined;
        resolve();
      });
      proc.once('error', () => resolve());
    });
    if (proc.pid === undefined) {
      await exited;
      throw new Error(`could not spawn ${binary}`);
    }
    spawned.add(proc.pid);
    watch(proc.pid);
    child = proc;
    const deadline = Date.now() + startTimeoutMs;
    while (!(await accepts(port))) {
      if (hasExited) throw new Error(`nats-server exited during start-up (${args.join(' ')}):\n${stderr}`);
      if (Date.now() > deadline) {
        await signal('SIGKILL');
        throw new Error(`nats-server did not accept connections on ${HOST}:${port} within ${startTimeoutMs} ms:\n${stderr}`);
      }
      await sleep(20);
    }
    // another process may own the port, in which case our server exits right after binding fails
    if (hasExited) throw new Error(`nats-server exited during start-up (${args.join(' ')}):\n${stderr}`);
  }

  async function signal(sig: NodeJS.Signals): Promise<void> {
    const proc = child;
    if (!proc?.pid) return;
    try {
      process.kill(proc.pid, sig);
    } catch {
      // already gone
    }
    await exited;
  }

  async function stop(): Promise<void> {
    const proc = child;
    if (!proc?.pid) return;
    const pid = proc.pid;
    const escalate = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, STOP_GRACE_MS);
    try {
      await signal('SIGTERM');
    } finally {
      clearTimeout(escalate);
    }
  }

  await launch();
  return {
    url: `nats://${HOST}:${port}`,
    port,
    get pid() {
      return child?.pid ?? 0;
    },
    get running() {
      return child !== undefined;
    },
    stop,
    kill: () => signal('SIGKILL'),
    async restart() {
      await stop();
      await launch();
    },
  };
}

/**
 * A shell that outlives us by at most 200 ms: once this process is gone it kills the
 * server, and it leaves on its own as soon as the server has exited.
 */
function watch(serverPid: number): void {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do kill -0 ${serverPid} 2>/dev/null || exit 0; sleep 0.2; done; kill -9 ${serverPid} 2>/dev/null`;
  const watchdog = spawn('/bin/sh', ['-c', script], { stdio: 'ignore' });
  watchdog.unref();
}

/**
 * The permissions violations a server logged (run it with `-l FILE`) for one login: the
 * lines that name its user or nkey, each with the refused subject in quotes.
 */
export async function permissionViolations(logFile: string, login: string): Promise<string[]> {
  const log = await readFile(logFile, 'utf8').catch(() => '');
  return log.split('\n').filter((line) => /violation/i.test(line) && line.includes(login));
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

