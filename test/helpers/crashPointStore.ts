import { BosunError } from '../../src/errors.ts';
import type { Message } from '../../src/message.ts';
import type { MemoryStore } from '../../src/store/MemoryStore.ts';
import type { CommitStats, RangeOptions, Store, StoreOp, WriteOptions } from '../../src/store/types.ts';
import { METHOD_OF, type CrashPoint } from './harnessTypes.ts';

/** True when the write puts a test message into the outbox for the first time (the sender's crash points). */
export function hasTestOutboxPut(ops: readonly StoreOp[]): boolean {
  return ops.some(
    (op) =>
      op.type === 'put' &&
      op.key.startsWith('out!') &&
      (op.value as { message?: Message; attempts?: number }).attempts === undefined &&
      Object.values(METHOD_OF).includes((op.value as { message?: Message }).message?.method ?? ''),
  );
}

/**
 * The armed crash point a committed write reaches, if any: the first of the sender's
 * outbox write, the receiver's inbox write, its `started` record, and the removal of the
 * inbox entry when the run is finished.
 */
export function crashPointAfterWrite(armed: ReadonlySet<CrashPoint>, ops: readonly StoreOp[]): CrashPoint | undefined {
  if (armed.has('afterPersist') && hasTestOutboxPut(ops)) return 'afterPersist';
  if (armed.has('afterReceiveBeforeAck') && ops.some((op) => op.type === 'put' && op.key.startsWith('in!'))) return 'afterReceiveBeforeAck';
  if (armed.has('afterStartRecord') && ops.some((op) => op.type === 'put' && op.key.startsWith('exec!'))) return 'afterStartRecord';
  if (armed.has('afterFinish') && ops.some((op) => op.type === 'del' && op.key.startsWith('in!'))) return 'afterFinish';
  return undefined;
}

export interface StoreHooks {
  beforeWrite(ops: readonly StoreOp[]): void;
  afterWrite(ops: readonly StoreOp[]): void;
  /** An error to fail this write with (a targeted storage fault), or undefined. */
  failWrite(ops: readonly StoreOp[]): Error | undefined;
  /** Reads failed this many times in a row: the runtime retries a failing read without pause. */
  readsSpinning(failuresInARow: number): void;
}

/** Consecutive failed reads after which the harness stops answering, so a hot loop cannot hang the test. */
export const READ_SPIN_LIMIT = 200;

/**
 * A store that lets the harness act right before a write is issued and right after it
 * commits, fail chosen writes, and notice a read retried in a hot loop.
 */
export class CrashPointStore implements Store {
  #failedReadsInARow = 0;

  constructor(
    readonly inner: MemoryStore,
    private readonly hooks: StoreHooks,
  ) {}

  get status() {
    return this.inner.status;
  }

  get commitStats(): CommitStats {
    return this.inner.commitStats;
  }

  /** The node's listener for corrupt records goes to the store that finds them. */
  get onCorrupt(): ((key: string, error: unknown) => void) | undefined {
    return this.inner.onCorrupt;
  }

  set onCorrupt(listener: ((key: string, error: unknown) => void) | undefined) {
    this.inner.onCorrupt = listener;
  }

  open(): Promise<void> {
    return this.inner.open();
  }

  get<T = unknown>(key: string): Promise<T | undefined> {
    return this.#read(() => this.inner.get<T>(key));
  }

  range<T = unknown>(options: RangeOptions): Promise<Array<[string, T]>> {
    return this.#read(() => this.inner.range<T>(options));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  write(ops: StoreOp[], options?: WriteOptions): Promise<void> {
    this.hooks.beforeWrite(ops);
    const fault = this.hooks.failWrite(ops);
    if (fault) return Promise.reject(new BosunError('BOSUN_STORE_WRITE_FAILED', `store write failed, nothing of the batch was applied: ${fault.message}`, { cause: fault }));
    return this.inner.write(ops, options).then(() => this.hooks.afterWrite(ops));
  }

  #read<T>(read: () => Promise<T>): Promise<T> {
    if (this.#failedReadsInARow >= READ_SPIN_LIMIT) {
      this.hooks.readsSpinning(this.#failedReadsInARow);
      return new Promise<T>(() => {});
    }
    return read().then(
      (value) => {
        this.#failedReadsInARow = 0;
        return value;
      },
      (error: unknown) => {
        this.#failedReadsInARow++;
        throw error;
      },
    );
  }
}
