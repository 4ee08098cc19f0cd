/**
 * The runs a subscriber has waiting. For ordered methods, one run per stream at a time,
 * in stream order, while different streams go in parallel: the order bosun promises is
 * per stream, and one slow sender must not hold up every other. For unordered methods,
 * plain first come, first served.
 */
export class WorkQueue<T> {
  readonly #keyOf: (item: T) => string;
  readonly #onePerKey: boolean;
  /** onePerKey: waiting items per key, and the keys that may start one now, in turn. */
  #byKey = new Map<string, T[]>();
  #ready: string[] = [];
  #readyHead = 0;
  #busy = new Set<string>();
  /** Otherwise: one FIFO. */
  #fifo: T[] = [];
  #fifoHead = 0;
  #size = 0;

  constructor(keyOf: (item: T) => string, onePerKey: boolean) {
    this.#keyOf = keyOf;
    this.#onePerKey = onePerKey;
  }

  get size(): number {
    return this.#size;
  }

  push(item: T): void {
    this.#size++;
    if (!this.#onePerKey) {
      this.#fifo.push(item);
      return;
    }
    const key = this.#keyOf(item);
    let waiting = this.#byKey.get(key);
    if (!waiting) {
      this.#byKey.set(key, (waiting = []));
      if (!this.#busy.has(key)) this.#ready.push(key);
    }
    waiting.push(item);
  }

  /** The next item that may start now (its key marked busy), or undefined. */
  take(): T | undefined {
    if (!this.#onePerKey) {
      if (this.#fifoHead >= this.#fifo.length) return undefined;
      const item = this.#fifo[this.#fifoHead++]!;
      if (this.#fifoHead > 1024 && this.#fifoHead * 2 > this.#fifo.length) {
        this.#fifo = this.#fifo.slice(this.#fifoHead);
        this.#fifoHead = 0;
      }
      this.#size--;
      return item;
    }
    if (this.#readyHead >= this.#ready.length) return undefined;
    const key = this.#ready[this.#readyHead++]!;
    if (this.#readyHead > 1024 && this.#readyHead * 2 > this.#ready.length) {
      this.#ready = this.#ready.slice(this.#readyHead);
      this.#readyHead = 0;
    }
    const waiting = this.#byKey.get(key)!;
    const item = waiting.shift()!;
    if (waiting.length === 0) this.#byKey.delete(key);
    this.#busy.add(key);
    this.#size--;
    return item;
  }

  /**
   * Items of `after`'s key that may run together with it, taken now: at most `max`, each
   * one `follows` the one before it, nothing of another key in between. For one key at a
   * time the key stays busy (its holder carries on with them); `after` need not be
   * queued any more.
   */
  takeFollowing(after: T, max: number, follows: (previous: T, next: T) => boolean): T[] {
    const taken: T[] = [];
    const key = this.#keyOf(after);
    let previous = after;
    if (this.#onePerKey) {
      const waiting = this.#byKey.get(key);
      if (!waiting) return taken;
      while (taken.length < max && waiting.length > 0 && follows(previous, waiting[0]!)) taken.push((previous = waiting.shift()!));
      if (waiting.length === 0) this.#byKey.delete(key);
    } else {
      while (taken.length < max && this.#fifoHead < this.#fifo.length) {
        const next = this.#fifo[this.#fifoHead]!;
        if (this.#keyOf(next) !== key || !follows(previous, next)) break;
        this.#fifoHead++;
        taken.push((previous = next));
      }
    }
    this.#size -= taken.length;
    return taken;
  }

  /** The item's run ended: its key may start its next one. */
  done(item: T): void {
    if (!this.#onePerKey) return;
    const key = this.#keyOf(item);
    this.#busy.delete(key);
    if (this.#byKey.has(key)) this.#ready.push(key);
  }
}
