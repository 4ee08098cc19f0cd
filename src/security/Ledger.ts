import { regKey, seqKey } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';

/** Where a message was received: the runtime's stream and sequence number. */
export interface Delivery {
  stream: string;
  seq: number;
}

/** A request this node sent and may get replies to. */
export interface SentRecord {
  toNode: string;
  replyMethod: string;
  replyMethodArgs: string[];
  /** Unix ms after which replies to it are refused and the record is pruned. */
  keepUntil: number;
}

interface SeenRecord {
  expiresAt: number;
  stream?: string;
  seq?: number;
}

export type SeenVerdict = 'first' | 'again' | 'replay';

const PREFIX = 'security';
const key = (...parts: string[]) => regKey([PREFIX, ...parts].join('!'));
const idSegment = (id: string) => Buffer.from(id, 'utf8').toString('base64url');

/**
 * The security records a node keeps in its store, under `reg!security!`:
 *
 * - `state!<name>`: key sets, ACLs, the pinned central key (small JSON records);
 * - `seen!<fromNode>!<id>`: message ids already run, until they expire: a replay of a
 *   signed message within its lifetime is refused;
 * - `sent!<id>`: requests this node sent, so that only replies to them are accepted;
 * - `exp!<time>!…`: an index of both by expiry, so pruning reads only what is due.
 */
export class Ledger {
  /** Marks whose write is not durable yet: a second check of the same id must see them. */
  #seenPending = new Map<string, SeenRecord>();
  #sentPending = new Map<string, SentRecord>();
  #lastPrune = 0;
  #pruning: Promise<void> | undefined;

  constructor(private readonly store: Store) {}

  async get<T>(name: string): Promise<T | undefined> {
    return this.store.get<T>(key('state', name));
  }

  async put(name: string, value: unknown): Promise<void> {
    await this.store.write([{ type: 'put', key: key('state', name), value }], { sync: true });
  }

  async del(name: string): Promise<void> {
    await this.store.write([{ type: 'del', key: key('state', name) }], { sync: true });
  }

  /**
   * Records that `(fromNode, id)` is being run. `again` is the same delivery checked once
   * more (the node restarted before running it); `replay` is the id arriving a second
   * time. Without a delivery any second sight is a replay.
   */
  async markSeen(fromNode: string, id: string, expiresAt: number, delivery?: Delivery, onError: (e: unknown) => void = () => {}): Promise<SeenVerdict> {
    const k = key('seen', fromNode, idSegment(id));
    const record: SeenRecord = { expiresAt, ...(delivery ? { stream: delivery.stream, seq: delivery.seq } : {}) };
    const pending = this.#seenPending.get(k);
    if (pending) return sameDelivery(pending, delivery) ? 'again' : 'replay';
    this.#seenPending.set(k, record);
    let earlier: SeenRecord | undefined;
    try {
      earlier = await this.store.get<SeenRecord>(k);
    } catch (e) {
      this.#seenPending.delete(k);
      throw e;
    }
    if (earlier) {
      this.#seenPending.delete(k);
      return sameDelivery(earlier, delivery) ? 'again' : 'replay';
    }
    // Not awaited, and not synced on its own: the message runs meanwhile (the mark stays
    // in memory until the write lands). A crash before it lands leaves the message in the
    // inbox, where the runtime's own records decide whether it runs again; the next
    // synced batch (a run's record) makes the mark durable.
    this.store
      .write(
        [
          { type: 'put', key: k, value: record },
          { type: 'put', key: key('exp', seqKey(Math.max(0, Math.ceil(expiresAt))), 'seen', fromNode, idSegment(id)), value: k },
        ],
        { sync: false },
      )
      .catch(onError)
      .finally(() => this.#seenPending.delete(k));
    return 'first';
  }

  /** Remembers a request so its replies are accepted; durable soon after (never blocks the caller). */
  recordSent(id: string, record: SentRecord, onError: (e: unknown) => void): void {
    const k = key('sent', idSegment(id));
    this.#sentPending.set(k, record);
    const ops: StoreOp[] = [
      { type: 'put', key: k, value: record },
      { type: 'put', key: key('exp', seqKey(Math.max(0, Math.ceil(record.keepUntil))), 'sent', idSegment(id)), value: k },
    ];
    this.store.write(ops).then(
      () => this.#sentPending.delete(k),
      (e) => {
        this.#sentPending.delete(k);
        onError(e);
      },
    );
  }

  async sent(id: string): Promise<SentRecord | undefined> {
    const k = key('sent', idSegment(id));
    return this.#sentPending.get(k) ?? (await this.store.get<SentRecord>(k));
  }

  /** Deletes what expired before `now`, at most once a minute, in the background. */
  pruneSoon(now: number, onError: (e: unknown) => void): void {
    if (this.#pruning || now - this.#lastPrune < 60_000) return;
    this.#lastPrune = now;
    this.#pruning = this.prune(now)
      .then(() => {}, onError)
      .finally(() => (this.#pruning = undefined));
  }

  /** Deletes every seen and sent record that expired before `now`; returns how many. */
  async prune(now: number): Promise<number> {
    let removed = 0;
    for (;;) {
      const due = await this.store.range<string>({ gt: key('exp', ''), lt: key('exp', seqKey(Math.max(0, Math.floor(now)))), limit: 1000 });
      if (due.length === 0) return removed;
      const ops: StoreOp[] = due.flatMap(([indexKey, recordKey]) => [
        { type: 'del' as const, key: indexKey },
        { type: 'del' as const, key: recordKey },
      ]);
      await this.store.write(ops);
      removed += due.length;
    }
  }
}

function sameDelivery(earlier: SeenRecord, delivery: Delivery | undefined): boolean {
  return delivery !== undefined && earlier.stream === delivery.stream && earlier.seq === delivery.seq;
}
