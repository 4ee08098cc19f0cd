/**
 * The responses stream: every `response`/`eof` a node sends, in a durable, ordered log in
 * the node's store (`reg!receptor!resp!<seq>`), where the Go gateway wrote to Kafka with
 * fire-and-forget goroutines. A consumer reads from its last position (`after=N`), so
 * nothing is lost while it is down.
 */
import type { Clock, TimerHandle } from '../clock.ts';
import { parseSeq, prefixRange, regKey, seqKey } from '../store/keys.ts';
import type { Store } from '../store/types.ts';
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
}

const RESPONSES = 'receptor!resp';

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

  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  async open(): Promise<void> {
    const [last] = await this.#store.range({ ...prefixRange(regKey(RESPONSES)), reverse: true, limit: 1 });
    this.#assigned = this.#committed = last ? parseSeq(last[0]) : 0;
  }

  /** The highest seq readers can see. */
  get lastSeq(): number {
    return this.#committed;
  }

  /**
   * Appends a record; resolves with its seq once it is durable. Seqs are handed out in
   * call order and group commit applies writes in call order, so seq order is log order.
   */
  async append(value: ResponseRecord): Promise<number> {
    const seq = ++this.#assigned;
    try {
      await this.#store.write([{ type: 'put', key: responseKey(seq), value: { key: value.in_response_to, value } }]);
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
    const rows = await this.#store.range<{ key: string; value: ResponseRecord }>({
      gt: responseKey(after),
      lte: responseKey(upTo),
      limit: options.limit,
    });
    const last = rows.length === options.limit ? parseSeq(rows[rows.length - 1]![0]) : upTo;
    const entries = rows
      .map(([key, row]) => ({ seq: parseSeq(key), key: row.key, value: row.value }))
      .filter((entry) => options.account === undefined || sameAccount(entry.value.account, options.account));
    return { entries, last };
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
