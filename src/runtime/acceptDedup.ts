import type { Clock } from '../clock.ts';
import { prefixRange, SUBLEVEL } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';
import type { AcceptOptions, AcceptResult } from './Node.ts';

/** Default time a client-given id is remembered. */
export const DEFAULT_ACCEPT_DEDUP_WINDOW_MS = 24 * 60 * 60 * 1000;
/** Expired records are swept at most this often, in the background of an accept. */
const SWEEP_EVERY_MS = 60 * 60 * 1000;
const SWEEP_PAGE = 1000;

/** What is kept of a first acceptance: when, and what its client was told. */
export interface AcceptedIdRecord {
  at: number;
  results: Array<{ id: string; toNode: string }>;
}

/** Accepts new input, one result list per item, writing `recordAccepted`'s ops in the same batch as the messages. */
export type AcceptNew = (
  items: unknown[],
  options: AcceptOptions & { recordAccepted: (perItem: AcceptResult[][]) => StoreOp[] },
) => Promise<AcceptResult[][]>;

/** The store key of an accepted client id. */
export function acceptedIdKey(fromNode: string, id: string): string {
  return `${SUBLEVEL.acceptedIds}!${fromNode}!${id}`;
}

/**
 * Idempotent accept: a message `id` given by the client is an idempotency key. A client
 * that lost its answer (the daemon died, the connection broke) sends the same messages
 * with the same ids again; those accepted before, within the window, are answered with
 * their first acceptance as `"status":"duplicate"` and nothing is queued again.
 *
 * The record of an id is written in the same batch as its messages' outbox rows, so a
 * crash keeps both or neither. Ids in flight in another accept are waited for, so two
 * clients racing with one id queue it once. A message without an id gets a fresh one
 * and is never a duplicate. The sender is the accepting node: an input cannot speak for
 * another (see `normaliseMessages`).
 */
export class AcceptDedup {
  /** Ids being accepted now: their first acceptance's results once known, or undefined if refused. */
  readonly #inFlight = new Map<string, Promise<AcceptedIdRecord['results'] | undefined>>();
  #lastSweep = 0;

  constructor(
    private readonly store: Store,
    private readonly node: string,
    private readonly clock: Clock,
    /** 0 turns the check off. */
    private readonly windowMs: number = DEFAULT_ACCEPT_DEDUP_WINDOW_MS,
  ) {}

  /** Accepts `input` (one item or an array), answering ids accepted before as duplicates. */
  async accept(input: unknown, options: AcceptOptions, acceptNew: AcceptNew): Promise<AcceptResult[]> {
    const items = Array.isArray(input) ? input : [input];
    if (this.windowMs <= 0) return (await acceptNew(items, { ...options, recordAccepted: () => [] })).flat();
    this.#sweepNowAndThen();
    const now = this.clock.now();
    const keys = items.map((item) => this.#keyOf(item));

    // Claimed before any await, so a concurrent accept of the same id waits for this one.
    const owned = new Map<string, { index: number; settle: (r: AcceptedIdRecord['results'] | undefined) => void }>();
    const elsewhere = new Map<number, Promise<AcceptedIdRecord['results'] | undefined>>();
    keys.forEach((key, index) => {
      if (key === undefined || owned.has(key)) return;
      const running = this.#inFlight.get(key);
      if (running) return elsewhere.set(index, running);
      let settle!: (r: AcceptedIdRecord['results'] | undefined) => void;
      this.#inFlight.set(key, new Promise((resolve) => (settle = resolve)));
      owned.set(key, { index, settle });
    });

    const earlier = new Map<number, AcceptedIdRecord['results']>();
    const answered = new Map<string, AcceptedIdRecord['results'] | undefined>();
    try {
      for (const [index, running] of elsewhere) {
        const results = await running;
        if (results) earlier.set(index, results);
      }
      const stored = await Promise.all([...owned.keys()].map((key) => this.store.get<AcceptedIdRecord>(key)));
      [...owned.values()].forEach(({ index }, i) => {
        const record = stored[i];
        if (record && now - record.at < this.windowMs) earlier.set(index, record.results);
      });

      // The first item of each id not seen before is new; later ones of the same id wait for it.
      const isFirst = (index: number): boolean => keys[index] === undefined || owned.get(keys[index])?.index === index || elsewhere.has(index);
      const fresh = items.map((_, index) => index).filter((index) => !earlier.has(index) && isFirst(index));
      const recordAccepted = (perItem: AcceptResult[][]): StoreOp[] =>
        fresh.flatMap((index, i) => {
          const key = keys[index];
          const results = accepted(perItem[i]!);
          return key !== undefined && results ? [{ type: 'put' as const, key, value: { at: now, results } satisfies AcceptedIdRecord }] : [];
        });
      const perFresh = fresh.length > 0 ? await acceptNew(fresh.map((index) => items[index]), { ...options, recordAccepted }) : [];
      const byIndex = new Map(fresh.map((index, i) => [index, perFresh[i]!]));
      for (const [key, { index }] of owned) answered.set(key, earlier.get(index) ?? accepted(byIndex.get(index) ?? []));

      return items.flatMap((_, index) => {
        const own = byIndex.get(index);
        if (own) return own;
        const first = earlier.get(index) ?? answered.get(keys[index]!);
        // A later copy of an id refused in this same input is refused as it was.
        if (!first) return byIndex.get(owned.get(keys[index]!)!.index) ?? [];
        return first.map((r) => ({ id: r.id, toNode: r.toNode, status: 'duplicate' as const }));
      });
    } finally {
      for (const [key, { settle }] of owned) {
        this.#inFlight.delete(key);
        settle(answered.get(key));
      }
    }
  }

  #keyOf(item: unknown): string | undefined {
    const id = item !== null && typeof item === 'object' && !Array.isArray(item) ? (item as { id?: unknown }).id : undefined;
    return typeof id === 'string' && id !== '' ? acceptedIdKey(this.node, id) : undefined;
  }

  /** Deletes records past the window, in the background, at most once an hour. */
  #sweepNowAndThen(): void {
    const now = this.clock.now();
    if (now - this.#lastSweep < SWEEP_EVERY_MS) return;
    this.#lastSweep = now;
    void (async () => {
      // A page at a time: a busy day's ids need not all be in memory at once.
      const range = prefixRange(SUBLEVEL.acceptedIds);
      for (let after = range.gt; ; ) {
        const page = await this.store.range<AcceptedIdRecord>({ gt: after, lt: range.lt, limit: SWEEP_PAGE });
        const expired: StoreOp[] = page.filter(([, record]) => now - record.at >= this.windowMs).map(([key]) => ({ type: 'del', key }));
        if (expired.length > 0) await this.store.write(expired);
        if (page.length < SWEEP_PAGE) return;
        after = page[page.length - 1]![0];
      }
    })().catch(() => {
      // A sweep that fails (the store closing) is tried again an hour later; lookups check the age themselves.
    });
  }
}

/** The results of one item when all of them were accepted, as a record keeps them. */
function accepted(results: AcceptResult[]): AcceptedIdRecord['results'] | undefined {
  if (results.length === 0 || results.some((r) => 'error' in r)) return undefined;
  return results.map((r) => ({ id: (r as { id: string }).id, toNode: (r as { toNode: string }).toNode }));
}
