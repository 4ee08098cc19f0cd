import { ProcWatcher } from './procStats.ts';
import type { Usage } from './protocol.ts';
import type { RepOutcome } from './results.ts';
import { wallNow } from './time.ts';
import type { WorkerProcess } from './workers.ts';

export type ProcessUsage = RepOutcome['processes'];

/**
 * Brackets a measured phase: each worker's own CPU time and peak RSS before and after,
 * and nats-server's from /proc. CPU per message is the difference over `messages`.
 */
export class UsageWindow {
  readonly #workers: Array<[string, WorkerProcess]>;
  readonly #before: Map<string, Usage>;
  readonly #nats: ProcWatcher | undefined;
  readonly #startedAt: number;

  private constructor(workers: Array<[string, WorkerProcess]>, before: Map<string, Usage>, natsPid: number | undefined) {
    this.#workers = workers;
    this.#before = before;
    this.#nats = natsPid ? new ProcWatcher(natsPid) : undefined;
    this.#startedAt = wallNow();
  }

  static async open(workers: Record<string, WorkerProcess>, natsPid?: number): Promise<UsageWindow> {
    const list = Object.entries(workers);
    const before = new Map<string, Usage>();
    await Promise.all(list.map(async ([name, w]) => before.set(name, await w.usage())));
    return new UsageWindow(list, before, natsPid);
  }

  /** Closes the window; processes that died meanwhile are left out. */
  async close(messages?: number): Promise<ProcessUsage> {
    const wallMs = wallNow() - this.#startedAt;
    const measured = await Promise.all(
      this.#workers.map(async ([name, w]) => {
        if (w.exited) return undefined;
        const after = await w.usage().catch(() => undefined);
        const before = this.#before.get(name);
        if (!after || !before) return undefined;
        const cpuUs = after.cpuUserUs + after.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs;
        return [name, { peakRssBytes: after.peakRssBytes, cpuUs, wallMs, ...(messages ? { messages } : {}) }] as const;
      }),
    );
    // In the order the workers were given, whatever order they answered in.
    const out: ProcessUsage = Object.fromEntries(measured.filter((m) => m !== undefined));
    const nats = this.#nats?.finish();
    if (nats) out['nats-server'] = { peakRssBytes: nats.peakRssBytes, cpuUs: nats.cpuUs, wallMs, ...(messages ? { messages } : {}) };
    return out;
  }
}
