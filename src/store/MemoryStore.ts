import { BosunError } from '../errors.ts';
import { decodeRows, encodeOps, quarantiner, type EncodedOp } from './encoding.ts';
import { GroupCommit } from './groupCommit.ts';
import { SortedKeys } from './sortedKeys.ts';
import type {
  CommitStats,
  GroupCommitStore,
  RangeOptions,
  StoreOp,
  StoreOptions,
  StoreStatus,
  WriteOptions,
} from './types.ts';

/**
 * An in-memory store for tests, which can also simulate what a crash leaves behind.
 *
 * It models two layers the way an OS does: the committed state (what a running process
 * reads, and what the page cache holds) and the durable state (what is on the disk). A
 * batch written with sync reaches both, together with every unsynced batch before it; a
 * batch written without sync stays only in the committed state until a later synced
 * batch or `flushToDisk()`. `crash()` then hands back the state a restarted process
 * would find.
 */
export class MemoryStore implements GroupCommitStore {
  onCorrupt?: (key: string, error: unknown) => void;
  readonly #quarantine = quarantiner(this);
  #status: StoreStatus = 'closed';
  #crashed = false;
  readonly #sync: boolean;
  /** Committed state: key → JSON text. */
  #data = new Map<string, string>();
  #keys = new SortedKeys();
  /** Durable state: what survives a power loss. */
  #durable = new Map<string, string>();
  /** Batches committed without sync since the last synced one, oldest first. */
  #unsynced: EncodedOp[][] = [];
  #writeFault: Error | null = null;
  readonly #commits = new GroupCommit<EncodedOp>((ops, { sync }) => this.#commit(ops, sync));

  constructor(options: StoreOptions = {}) {
    this.#sync = options.sync ?? true;
  }

  get status(): StoreStatus {
    return this.#status;
  }

  get commitStats(): CommitStats {
    return this.#commits.stats;
  }

  /** Opens the store; reopening after `close()` finds the data as it was. */
  async open(): Promise<void> {
    if (this.#crashed) {
      throw new BosunError('BOSUN_STORE_CLOSED', 'this store crashed; open the store its crash() returned instead');
    }
    if (this.#status === 'closing') await this.#commits.drain();
    this.#status = 'open';
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    this.#assertOpen('read');
    const text = this.#data.get(key);
    return text === undefined ? undefined : decodeRows<T>([[key, text]], this.#quarantine)[0]?.[1];
  }

  write(ops: StoreOp[], options: WriteOptions = {}): Promise<void> {
    if (this.#status !== 'open') return Promise.reject(closedError('write to'));
    let encoded: EncodedOp[];
    try {
      encoded = encodeOps(ops);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#commits.write(encoded, options.sync ?? this.#sync);
  }

  async range<T = unknown>(options: RangeOptions): Promise<Array<[string, T]>> {
    this.#assertOpen('read');
    return decodeRows<T>(
      this.#keys.range(options).map((key) => [key, this.#data.get(key)!]),
      this.#quarantine,
    );
  }

  async close(): Promise<void> {
    if (this.#status === 'closed') return;
    this.#status = 'closing';
    await this.#commits.drain();
    // A crash() while draining already closed the store for good.
    if (this.#status === 'closing') this.#status = 'closed';
  }

  /** Makes every committed batch durable, as an fsync (or the OS flushing its cache) would. */
  flushToDisk(): void {
    for (const batch of this.#unsynced) applyOps(this.#durable, batch);
    this.#unsynced = [];
  }

  /**
   * Simulates the process dying now and returns the store a restarted process would open
   * (status `closed`: call `open()`). This store is closed for good, and writes not yet
   * committed reject with `BOSUN_STORE_CLOSED`.
   *
   * A process crash keeps every committed batch, because the OS still holds them (a power
   * loss afterwards can still lose the unsynced ones). A power loss keeps only what was
   * durable.
   */
  crash({ powerLoss }: { powerLoss: boolean }): MemoryStore {
    const survivor = new MemoryStore({ sync: this.#sync });
    survivor.#durable = new Map(this.#durable);
    if (powerLoss) {
      survivor.#load(this.#durable);
    } else {
      survivor.#load(this.#data);
      survivor.#unsynced = [...this.#unsynced];
    }
    this.#crashed = true;
    this.#status = 'closed';
    return survivor;
  }

  /**
   * Storage-fault injection: while set, every batch fails with `error` as its cause and
   * applies nothing. `null` restores normal writes.
   */
  failWrites(error: Error | null): void {
    this.#writeFault = error;
  }

  /** Plants `rawText` as the stored record of `key`, on disk too, as a damaged file would. */
  corrupt(key: string, rawText: string): void {
    if (!this.#data.has(key)) this.#keys.insert(key);
    this.#data.set(key, rawText);
    this.#durable.set(key, rawText);
  }

  async #commit(ops: EncodedOp[], sync: boolean): Promise<void> {
    if (this.#crashed) throw new BosunError('BOSUN_STORE_CLOSED', 'the store crashed before this write committed');
    if (this.#writeFault) throw this.#writeFault;
    applyOps(this.#data, ops, this.#keys);
    this.#unsynced.push(ops);
    if (sync) this.flushToDisk();
  }

  #load(entries: ReadonlyMap<string, string>): void {
    this.#data = new Map(entries);
    this.#keys = SortedKeys.from(entries.keys());
  }

  #assertOpen(action: string): void {
    if (this.#status !== 'open') throw closedError(action);
  }
}

/** Applies a batch to one layer, keeping `index` (when the layer has one) in step. */
function applyOps(target: Map<string, string>, ops: readonly EncodedOp[], index?: SortedKeys): void {
  for (const op of ops) {
    if (op.type === 'put') {
      if (index && !target.has(op.key)) index.insert(op.key);
      target.set(op.key, op.value);
    } else if (target.delete(op.key)) {
      index?.delete(op.key);
    }
  }
}

function closedError(action: string): BosunError {
  return new BosunError('BOSUN_STORE_CLOSED', `cannot ${action} the store: it is not open`);
}
