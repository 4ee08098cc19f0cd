import v8 from 'node:v8';
import vm from 'node:vm';

/** Held bytes that must have gone before a collection is worth its pause. */
const WORTH_COLLECTING_BYTES = 64 * 1024 * 1024;
/** Wait after the drop, so a wave of clients closing together costs one collection. */
const SETTLE_MS = 1000;

let collect: (() => void) | undefined;

/**
 * A full garbage collection, made available at run time. The memory of dropped buffers
 * returns to the system only when V8 collects them, and V8 collects when JavaScript
 * allocates: a daemon that goes quiet after a flood would keep it indefinitely.
 */
function collectGarbage(): void {
  if (!collect) {
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as () => void;
  }
  collect();
}

/**
 * Watches what the inputs hold and, once a large amount has been let go (clients past
 * the budget closed, a flood ended), asks for one collection so the memory goes back to
 * the system instead of waiting for the next allocation. Ordinary traffic, which never
 * holds much at once, never triggers it.
 */
export class MemoryReturn {
  #peak = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly collector: () => void = collectGarbage) {}

  /** Called with the bytes held after each change. */
  held(bytes: number): void {
    this.#peak = Math.max(this.#peak, bytes);
    if (this.#timer || this.#peak - bytes < WORTH_COLLECTING_BYTES) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#peak = bytes;
      this.collector();
    }, SETTLE_MS).unref();
  }
}
