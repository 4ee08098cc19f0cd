/**
 * The store every node keeps its durable state in: one ordered key space of string keys
 * and JSON values, split into sublevels by key prefix (see `keys.ts`).
 *
 * Implementations: `LevelStore` (LevelDB, one per node) and `MemoryStore` (tests; it can
 * simulate a crash or power loss). Both pass `test/store.conformance.test.ts`.
 */
export type StoreStatus = 'opening' | 'open' | 'closing' | 'closed';

export type StoreOp =
  | {
      type: 'put';
      key: string;
      value: unknown;
      /**
       * The value's JSON text, when the caller has it already (a message's, made once for
       * its outbox row, its frame and its audit record): stored as it is, in place of
       * serialising `value` again. It must be `JSON.stringify(value)`.
       */
      encoded?: string;
    }
  | { type: 'del'; key: string };

export interface RangeOptions {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  limit?: number;
  reverse?: boolean;
}

export interface Store {
  readonly status: StoreStatus;
  open(): Promise<void>;
  get<T = unknown>(key: string): Promise<T | undefined>;
  /**
   * Group commit: every `write` issued in the same tick goes into one atomic batch,
   * written with `sync` when the store was opened so. Resolves once that batch is durable;
   * rejects with `BOSUN_STORE_WRITE_FAILED` if the batch failed (nothing of it applied).
   * Operations apply in call order, so a later put of the same key wins.
   */
  write(ops: StoreOp[], options?: WriteOptions): Promise<void>;
  /** Entries in key order (or reverse), bounded as in abstract-level's iterator options. */
  range<T = unknown>(options: RangeOptions): Promise<Array<[string, T]>>;
  /**
   * Told of every record found corrupt (not valid JSON). The store has already moved it
   * out of the way, to `quarantine!<key>`, and reads go on without it.
   */
  onCorrupt?: (key: string, error: unknown) => void;
  /** Waits for pending writes, then closes. Further calls reject with `BOSUN_STORE_CLOSED`. */
  close(): Promise<void>;
}

export interface StoreOptions {
  /** fsync each group-committed batch (default true). */
  sync?: boolean;
}

export interface WriteOptions {
  /**
   * Overrides the store's `sync` for this write. A group-committed batch is synced when
   * any write in it asks for sync, which also makes every earlier unsynced batch durable.
   */
  sync?: boolean;
}

/** Group-commit counters, cumulative since the store was created (for benches and tests). */
export interface CommitStats {
  /** Batches that committed. */
  batchesWritten: number;
  /** Operations in those batches. */
  opsWritten: number;
  /** `write` calls those batches carried: `writesCommitted / batchesWritten` is the merge ratio. */
  writesCommitted: number;
  /** Batches that failed; every caller in them was rejected. */
  batchesFailed: number;
}

/** A store that reports its group-commit counters; both built-in stores are. */
export interface GroupCommitStore extends Store {
  readonly commitStats: CommitStats;
}
