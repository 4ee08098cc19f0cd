import { fork, type ChildProcess } from 'node:child_process';
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command, Reply, Request, Usage, WorkerEvent } from './protocol.ts';
import { trackPid, untrackPid } from './cleanup.ts';

const WORKER = fileURLToPath(new URL('../worker.ts', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = import.meta.resolve('tsx');
const EXIT_GRACE_MS = 6000;

export interface WorkerOptions {
  /** Shown in errors and in the names of CPU profiles. */
  label: string;
  /** Where `os.tmpdir()` points in the worker, so whatever it leaves behind is ours to remove. */
  tmpDir: string;
  /** Write a V8 CPU profile into this folder when the worker exits. */
  cpuProfDir?: string;
}

/** A bench worker process and its IPC channel: commands out, replies and events in. */
export class WorkerProcess {
  readonly label: string;
  readonly pid: number;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; cmd: string }>();
  readonly #listeners = new Set<(e: WorkerEvent) => void>();
  readonly #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #cpuProfDir: string | undefined;
  #nextId = 1;
  #exitedNow = false;

  private constructor(child: ChildProcess, options: WorkerOptions) {
    this.#child = child;
    this.label = options.label;
    this.pid = child.pid!;
    this.#cpuProfDir = options.cpuProfDir;
    trackPid(this.pid, options.label);
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exitedNow = true;
        untrackPid(this.pid);
        for (const p of this.#pending.values()) p.reject(new Error(`worker ${this.label} (pid ${this.pid}) exited (${signal ?? code}) during ${p.cmd}`));
        this.#pending.clear();
        resolve({ code, signal });
      });
    });
    child.on('message', (m: Reply | WorkerEvent) => {
      if ('event' in m) {
        for (const l of this.#listeners) l(m);
        return;
      }
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`worker ${this.label}: ${p.cmd} failed: ${m.error}`));
    });
  }

  /** Spawns `node --import tsx bench/worker.ts` and waits for its ready event. */
  static async spawn(options: WorkerOptions): Promise<WorkerProcess> {
    const execArgv = ['--import', TSX];
    if (options.cpuProfDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`);
    const child = fork(WORKER, [], {
      cwd: REPO_ROOT,
      execArgv,
      env: { ...process.env, TMPDIR: options.tmpDir },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    if (child.pid === undefined) throw new Error(`could not start worker ${options.label}`);
    const worker = new WorkerProcess(child, options);
    await worker.#ready();
    return worker;
  }

  #ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onEvent = (e: WorkerEvent) => {
        if (e.event !== 'ready') return;
        this.#listeners.delete(onEvent);
        resolve();
      };
      this.#listeners.add(onEvent);
      void this.#exited.then(({ code, signal }) => reject(new Error(`worker ${this.label} exited (${signal ?? code}) while starting`)));
    });
  }

  get exited(): boolean {
    return this.#exitedNow;
  }

  call<T = unknown>(command: Command): Promise<T> {
    if (this.#exitedNow) return Promise.reject(new Error(`worker ${this.label} has exited`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, cmd: command.cmd });
      this.#child.send({ ...command, id } satisfies Request);
    });
  }

  usage(): Promise<Usage> {
    return this.call<Usage>({ cmd: 'usage' });
  }

  /** Resolves with the first event that `match` accepts. */
  nextEvent<E extends WorkerEvent>(match: (e: WorkerEvent) => e is E, timeoutMs: number): Promise<E | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(listener);
        resolve(undefined);
      }, timeoutMs);
      const listener = (e: WorkerEvent) => {
        if (!match(e)) return;
        clearTimeout(timer);
        this.#listeners.delete(listener);
        resolve(e);
      };
      this.#listeners.add(listener);
    });
  }

  /** As a crash would: SIGKILL, by PID. Writes no CPU profile. */
  async kill(): Promise<void> {
    if (this.#exitedNow) return;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await this.#exited;
  }

  /**
   * Asks the worker to stop its nodes and exit (which writes its CPU profile), and kills it
   * if it has not exited after a grace period. Returns the profile's path, if any.
   */
  async stop(profileName?: string): Promise<string | undefined> {
    if (!this.#exitedNow) {
      this.call({ cmd: 'exit' }).catch(() => {});
      const timer = setTimeout(() => void this.kill(), EXIT_GRACE_MS);
      await this.#exited;
      clearTimeout(timer);
    }
    return this.#collectProfile(profileName);
  }

  /**
   * V8 names profiles `CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile`; thread 0 is the
   * main thread, the others are tsx's loader. Keeps the main one under a telling name.
   */
  async #collectProfile(profileName: string | undefined): Promise<string | undefined> {
    const dir = this.#cpuProfDir;
    if (!dir) return undefined;
    let kept: string | undefined;
    for (const file of await readdir(dir).catch(() => [] as string[])) {
      const m = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(file);
      if (!m || Number(m[1]) !== this.pid) continue;
      if (m[2] === '0') {
        kept = path.join(dir, `${profileName ?? this.label}.${this.pid}.cpuprofile`);
        await rename(path.join(dir, file), kept);
      } else await rm(path.join(dir, file), { force: true });
    }
    return kept;
  }
}
