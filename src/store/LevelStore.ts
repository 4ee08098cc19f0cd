import { Level } from 'level';
import { BosunError } from '../errors.ts';
import { decodeRows, encodeOps, quarantiner, type EncodedOp } from './encoding.ts';
import { GroupCommit } from './groupCommit.ts';
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
 * The node's durable store: one LevelDB, which only one process may open at a time.
 *
 * Values are JSON on disk, and the database is declared `valueEncoding: 'json'` so that
 * any tool opening it with `level` reads them as such. The store itself reads and writes
 * the JSON text (`utf8`) and does the encoding in `encoding.ts`, shared with
 * `MemoryStore`: a value that cannot be serialised then fails only its own `write` rather
 * than the whole group-committed batch, and a corrupt record is reported by key.
 */
export class LevelStore implements GroupCommitStore {
  onCorrupt?: (key: string, error: unknown) => void;
  readonly #quarantine = quarantiner(this);
  #status: StoreStatus = 'closed';
  /** The open or close in progress, so that concurrent calls wait for it. */
  #transition: Promise<void> | null = null;
  #db: Level<string, unknown> | null = null;
  readonly #sync: boolean;
  readonly #commits = new GroupCommit<EncodedOp>((ops, { sync }) => this.#batch(ops, sync));

  constructor(
    readonly path: string,
    options: StoreOptions = {},
  ) {
    this.#sync = options.sync ?? true;
  }

  get status(): StoreStatus {
    return this.#status;
  }

  get commitStats(): CommitStats {
    return this.#commits.stats;
  }

  /**
   * Opens (creating if missing) the database at `path`.
   *
   * @throws BosunError `BOSUN_STORE_LOCKED` when another process holds the database,
   * `BOSUN_STORE_CLOSED` when it cannot be opened for another reason.
   */
  async open(): Promise<void> {
    while (this.#transition) await this.#transition.catch(() => {});
    if (this.#status === 'open') return;
    this.#status = 'opening';
    this.#transition = this.#open();
    try {
      await this.#transition;
    } finally {
      this.#transition = null;
    }
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    const text = await this.#openDb('read').get<string, string>(key, { valueEncoding: 'utf8' });
    return text === undefined ? undefined : decodeRows<T>([[key, text]], this.#quarantine)[0]?.[1];
  }

  write(ops: StoreOp[], options: WriteOptions = {}): Promise<void> {
    if (this.#status !== 'open') return Promise.reject(closedError(this.path, 'write to'));
    let encoded: EncodedOp[];
    try {
      encoded = encodeOps(ops);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#commits.write(encoded, options.sync ?? this.#sync);
  }

  async range<T = unknown>(options: RangeOptions): Promise<Array<[string, T]>> {
    const iterator = this.#openDb('read').iterator<string, string>({ ...iteratorBounds(options), valueEncoding: 'utf8' });
    const entries = await iterator.all();
    return decodeRows<T>(entries, this.#quarantine);
  }

  /** Waits for every pending write to settle, then closes the database. */
  async close(): Promise<void> {
    while (this.#transition) await this.#transition.catch(() => {});
    if (this.#status === 'closed') return;
    this.#status = 'closing';
    this.#transition = this.#close();
    try {
      await this.#transition;
    } finally {
      this.#transition = null;
    }
  }

  async #open(): Promise<void> {
    const db = new Level<string, unknown>(this.path, { keyEncoding: 'utf8', valueEncoding: 'json' });
    try {
      await db.open();
    } catch (error) {
      this.#status = 'closed';
      throw openError(this.path, error);
    }
    this.#db = db;
    this.#status = 'open';
  }

  async #close(): Promise<void> {
    await this.#commits.drain();
    const db = this.#db;
    this.#db = null;
    this.#status = 'closed';
    await db?.close();
  }

  async #batch(ops: EncodedOp[], sync: boolean): Promise<void> {
    // Only reachable while open or closing: close() drains the queue before it lets go.
    const db = this.#db! as unknown as Partial<ImplementationBatch>;
    if (typeof db._chainedBatch !== 'function') return this.#db!.batch<string, string>(ops, { sync, valueEncoding: 'utf8' });
    // Keys and values are strings already encoded, so the per-operation validation and
    // encoding of abstract-level's public batch() would be pure overhead: it cost four
    // times LevelDB's own work per operation on the bench. The implementation hooks of a
    // chained batch (abstract-level's "private API for implementors") take each key and
    // value as plain arguments; an array given to `_batch` instead has every operation's
    // fields looked up by name in native code, which cost twice as much again.
    const batch = db._chainedBatch.call(this.#db);
    try {
      for (const op of ops) {
        if (op.type === 'put') batch._put(op.key, op.value);
        else batch._del(op.key);
      }
      await batch._write({ sync });
    } finally {
      // Detaches the batch from the database, which would otherwise keep it until close.
      await batch.close();
    }
  }

  #openDb(action: string): Level<string, unknown> {
    if (this.#status !== 'open' || this.#db === null) throw closedError(this.path, action);
    return this.#db;
  }
}

/** The store-implementation side of abstract-level that `#batch` calls. */
interface ImplementationBatch {
  _chainedBatch(): {
    _put(key: string, value: string): void;
    _del(key: string): void;
    _write(options: { sync: boolean }): Promise<void>;
    close(): Promise<void>;
  };
}

/** Copies only the options that are set: abstract-level would encode an `undefined` bound. */
function iteratorBounds(options: RangeOptions): RangeOptions {
  const bounds: RangeOptions = {};
  for (const name of ['gt', 'gte', 'lt', 'lte', 'limit', 'reverse'] as const) {
    if (options[name] !== undefined) (bounds as Record<string, unknown>)[name] = options[name];
  }
  return bounds;
}

function openError(path: string, error: unknown): BosunError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'LEVEL_LOCKED') {
    return new BosunError(
      'BOSUN_STORE_LOCKED',
      `another bosun process holds the store at ${path}; stop it, or talk to it instead (the CLI goes through the daemon's socket)`,
      { cause: error },
    );
  }
  const reason = cause?.message ?? (error instanceof Error ? error.message : String(error));
  return new BosunError('BOSUN_STORE_CLOSED', `cannot open the store at ${path}: ${reason}`, { cause: error });
}

function closedError(path: string, action: string): BosunError {
  return new BosunError('BOSUN_STORE_CLOSED', `cannot ${action} the store at ${path}: it is not open`);
}
