import { BosunError } from '../errors.ts';
import type { CommitStats } from './types.ts';

/** Writes one merged batch atomically; `sync` asks for it to be durable on return. */
export type CommitBatch<Op> = (ops: Op[], options: { sync: boolean }) => Promise<void>;

interface Caller {
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Batch<Op> {
  ops: Op[];
  sync: boolean;
  callers: Caller[];
}

/**
 * Group commit, shared by every store: `write` calls issued in the same tick are merged
 * into one batch, so a burst of small writes costs one fsync rather than one each.
 *
 * At most one batch is in flight; writes issued meanwhile wait in the next batch, so
 * batches commit in call order and a later write of a key always wins. Each caller's
 * promise settles with the batch that holds its operations.
 */
export class GroupCommit<Op> {
  #next: Batch<Op> | null = null;
  #inFlight = false;
  #scheduled = false;
  #idleWaiters: Array<() => void> = [];
  readonly #stats: CommitStats = { batchesWritten: 0, opsWritten: 0, writesCommitted: 0, batchesFailed: 0 };

  constructor(private readonly commitBatch: CommitBatch<Op>) {}

  /**
   * Queues `ops` for the next batch. Resolves once that batch committed; rejects with
   * `BOSUN_STORE_WRITE_FAILED` (the commit's error as `cause`) if it failed, in which
   * case none of the batch applied. A `BosunError` from the commit, such as
   * `BOSUN_STORE_CLOSED`, is passed on unchanged.
   */
  write(ops: readonly Op[], sync: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const batch = (this.#next ??= { ops: [], sync: false, callers: [] });
      // A loop, not push(...ops): spreading a very large array overflows the call stack.
      for (const op of ops) batch.ops.push(op);
      batch.sync ||= sync;
      batch.callers.push({ resolve, reject });
      this.#schedule();
    });
  }

  /** True when no batch is queued or in flight. */
  get idle(): boolean {
    return this.#next === null && !this.#inFlight;
  }

  /** Resolves once every write issued so far has settled (committed or failed). */
  drain(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** A copy of the counters. */
  get stats(): CommitStats {
    return { ...this.#stats };
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight) return;
    this.#scheduled = true;
    // A microtask that queues a tick: Node runs ticks only once the microtask queue is
    // empty, so the flush waits for every promise continuation of the current tick (an
    // async caller's writes after an `await` included) yet adds no timer latency.
    queueMicrotask(() =>
      process.nextTick(() => {
        this.#scheduled = false;
        void this.#flush();
      }),
    );
  }

  async #flush(): Promise<void> {
    const batch = this.#next;
    if (batch === null) return this.#notifyIdle();
    this.#next = null;
    this.#inFlight = true;
    try {
      // A batch of only empty writes still settles in order behind earlier batches, so
      // `write([])` works as a barrier; there is just nothing to commit or count.
      if (batch.ops.length > 0) {
        await this.commitBatch(batch.ops, { sync: batch.sync });
        this.#stats.batchesWritten += 1;
        this.#stats.opsWritten += batch.ops.length;
        this.#stats.writesCommitted += batch.callers.length;
      }
      for (const caller of batch.callers) caller.resolve();
    } catch (cause) {
      this.#stats.batchesFailed += 1;
      const error = cause instanceof BosunError ? cause : writeFailed(cause);
      for (const caller of batch.callers) caller.reject(error);
    } finally {
      this.#inFlight = false;
    }
    if (this.#next !== null) this.#schedule();
    else this.#notifyIdle();
  }

  #notifyIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function writeFailed(cause: unknown): BosunError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new BosunError('BOSUN_STORE_WRITE_FAILED', `store write failed, nothing of the batch was applied: ${reason}`, {
    cause,
  });
}
