/**
 * The responses stream: every `response`/`eof` a node sends, in a durable, ordered log in
 * the node's store (`reg!receptor!resp!<seq>`), where the Go gateway wrote to Kafka with
 * fire-and-forget goroutines. A consumer reads from its last position (`after=N`), so
 * nothing is lost while it is down.
 *
 * Retention (`responsesRetention.ts`) deletes the oldest records. How far it went is kept
 * beside the log (`reg!receptor!resp-pruned`), so seqs go on from there after a restart
 * even when every record was pruned, and a reader whose position lies before it is told.
 */
import type { Clock, TimerHandle } from '../clock.ts';
import { parseSeq, prefixRange, regKey, seqKey } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';
import { sameAccount } from './account.ts';
import type { ResponseRecord } from './receptor/reply.ts';

/** One entry: `key` is the job's message id (the record's `in_response_to`). */
export interface LoggedResponse {
  seq: number;
  key: string;
  value: ResponseRecord;
}

export interface ResponsePage {
  entries: LoggedResponse[];
  /** The position to read after next time: the last seq this read looked at. */
  last: number;
  /**
   * Set when records after the position asked for were pruned before this read saw
   * them: `first` is the first seq the log may still hold.
   */
  pruned?: { first: number };
}

/** A stored record. `at` (ms) is missing on records written before retention existed. */
interface StoredResponse {
  key: string;
  value: ResponseRecord;
  at?: number;
}

const RESPONSES = 'receptor!resp';
const PRUNED_KEY = regKey('receptor!resp-pruned');
/** When records without `at` were first seen: they count as written then, so retention never cuts them short. */
const UNDATED_KEY = regKey('receptor!resp-undated');

function responseKey(seq: number): string {
  return regKey(`${RESPONSES}!${seqKey(seq)}`);
}

interface Waiter {
  after: number;
  resolve(arrived: boolean): void;
  timer: TimerHandle;
}

export class ResponseLog {
  readonly #store: Store;
  readonly #clock: Clock;
  /** The last seq handed out. */
  #assigned = 0;
  /** Every seq up to this one is durable (or failed for good); readers see no further. */
  #committed = 0;
  readonly #settled = new Set<number>();
  readonly #waiters = new Set<Waiter>();
  /** Every record up to this seq may have been deleted by retention. */
  #prunedThrough = 0;
  #undatedAt = 0;

  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  async open(): Promise<void> {
    const range = prefixRange(regKey(RESPONSES));
    const [last] = await this.#store.range({ ...range, reverse: true, limit: 1 });
    this.#prunedThrough = (await this.#store.get<number>(PRUNED_KEY)) ?? 0;
    this.#assigned = this.#committed = Math.max(last ? parseSeq(last[0]) : 0, this.#prunedThrough);
    const [first] = await this.#store.range<StoredResponse>({ ...range, limit: 1 });
    const undatedAt = await this.#store.get<number>(UNDATED_KEY);
    if (undatedAt !== undefined) this.#undatedAt = undatedAt;
    else if (first && first[1].at === undefined) {
      this.#undatedAt = this.#clock.now();
      await this.#store.write([{ type: 'put', key: UNDATED_KEY, value: this.#undatedAt }]);
    }
  }

  /** The highest seq readers can see. */
  get lastSeq(): number {
    return this.#committed;
  }

  /** Every seq up to this one may have been pruned; 0 when nothing was. */
  get prunedThrough(): number {
    return this.#prunedThrough;
  }

  /** Records kept, counted as a span of seqs (a failed write's hole counts too). */
  get size(): number {
    return this.#committed - this.#prunedThrough;
  }

  /**
   * Appends a record; resolves with its seq once it is durable. Seqs are handed out in
   * call order and group commit applies writes in call order, so seq order is log order.
   */
  async append(value: ResponseRecord): Promise<number> {
    const seq = ++this.#assigned;
    try {
      const stored: StoredResponse = { key: value.in_response_to, value, at: this.#clock.now() };
      await this.#store.write([{ type: 'put', key: responseKey(seq), value: stored }]);
    } finally {
      // A failed write leaves a hole that readers skip, rather than a gap that blocks them.
      this.#settle(seq);
    }
    return seq;
  }

  /** Up to `limit` entries after `after`, optionally only one account's. */
  async read(after: number, options: { limit: number; account?: string }): Promise<ResponsePage> {
    const upTo = this.#committed;
    if (after >= upTo) return { entries: [], last: after };
    const rows = await this.#store.range<StoredResponse>({
      gt: responseKey(after),
      lte: responseKey(upTo),
      limit: options.limit,
    });
    const last = rows.length === options.limit ? parseSeq(rows[rows.length - 1]![0]) : upTo;
    const entries = rows
      .map(([key, row]) => ({ seq: parseSeq(key), key: row.key, value: row.value }))
      .filter((entry) => options.account === undefined || sameAccount(entry.value.account, options.account));
    // Read after the range: a prune that ran while it did is seen. A record the range
    // still returned was not missed, so the signal needs a gap before the first row.
    const firstRow = rows[0] ? parseSeq(rows[0][0]) : upTo + 1;
    const prunedThrough = this.#prunedThrough;
    if (after < prunedThrough && after + 1 < firstRow) return { entries, last, pruned: { first: prunedThrough + 1 } };
    return { entries, last };
  }

  /**
   * @internal For retention: when the record at or after `seq` (up to `lastSeq`) was
   * written, or `undefined` if there is none. Records from before retention existed
   * count as written when this log first saw them.
   */
  async writtenAt(seq: number): Promise<{ seq: number; at: number } | undefined> {
    const [row] = await this.#store.range<StoredResponse>({ gte: responseKey(seq), lte: responseKey(this.#committed), limit: 1 });
    return row ? { seq: parseSeq(row[0]), at: row[1].at ?? this.#undatedAt } : undefined;
  }

  /**
   * @internal For retention: deletes up to `limit` of the oldest records, none after
   * `through`, in one write that also moves the pruned mark. Returns how many it deleted.
   */
  async pruneBatch(through: number, limit: number): Promise<number> {
    const upTo = Math.min(through, this.#committed);
    if (upTo <= this.#prunedThrough) return 0;
    const rows = await this.#store.range({ gt: responseKey(this.#prunedThrough), lte: responseKey(upTo), limit });
    // A full batch stops at its last row; a short one covered everything up to `upTo`, holes included.
    const mark = rows.length === limit ? parseSeq(rows[rows.length - 1]![0]) : upTo;
    const ops: StoreOp[] = rows.map(([key]) => ({ type: 'del', key }));
    ops.push({ type: 'put', key: PRUNED_KEY, value: mark });
    // Moved before the write: a read whose range runs while the batch applies must see it.
    const before = this.#prunedThrough;
    this.#prunedThrough = mark;
    try {
      await this.#store.write(ops);
    } catch (error) {
      this.#prunedThrough = before;
      throw error;
    }
    return rows.length;
  }

  /** Resolves `true` as soon as something after `after` is readable, `false` after `timeoutMs`. */
  waitBeyond(after: number, timeoutMs: number): { arrived: Promise<boolean>; cancel(): void } {
    if (this.#committed > after) return { arrived: Promise.resolve(true), cancel: () => {} };
    let waiter!: Waiter;
    const arrived = new Promise<boolean>((resolve) => {
      waiter = {
        after,
        resolve: (value) => {
          this.#waiters.delete(waiter);
          waiter.timer.cancel();
          resolve(value);
        },
        timer: this.#clock.setTimer(timeoutMs, () => waiter.resolve(false)),
      };
      this.#waiters.add(waiter);
    });
    return { arrived, cancel: () => waiter.resolve(false) };
  }

  /** Wakes every waiter with `false`, e.g. at shutdown. */
  wakeAll(): void {
    for (const waiter of [...this.#waiters]) waiter.resolve(false);
  }

  #settle(seq: number): void {
    this.#settled.add(seq);
    let advanced = false;
    while (this.#settled.delete(this.#committed + 1)) {
      this.#committed += 1;
      advanced = true;
    }
    if (!advanced) return;
    for (const waiter of [...this.#waiters]) if (this.#committed > waiter.after) waiter.resolve(true);
  }
}
