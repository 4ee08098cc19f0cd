import { BosunError } from '../errors.ts';

/** Bounds of the pause between connection attempts. */
export interface BackoffOptions {
  /** The first pause, and the least any pause is. */
  minMs: number;
  /** The most any pause is. */
  maxMs: number;
}

/**
 * Exponential backoff with jitter: the n-th pause in a row is drawn uniformly from
 * `[b, 2b]` with `b = minMs · 2ⁿ`, capped at `maxMs`. The jitter keeps a fleet of nodes
 * that lost their gateway at the same instant from dialling back at the same instant.
 */
export class Backoff {
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions, random: () => number = Math.random) {
    if (!(options.minMs > 0 && options.maxMs >= options.minMs)) {
      throw new BosunError('BOSUN_BAD_CONFIG', `reconnect needs 0 < minMs <= maxMs, got minMs ${options.minMs}, maxMs ${options.maxMs}`);
    }
    this.#minMs = options.minMs;
    this.#maxMs = options.maxMs;
    this.#random = random;
  }

  /** Pauses taken since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The next pause, in ms; each call counts as one more failure. */
  next(): number {
    // 2^31 overflows nothing, and the cap is reached long before
    const base = this.#minMs * 2 ** Math.min(this.#attempt, 31);
    this.#attempt++;
    return Math.min(this.#maxMs, base * (1 + this.#random()));
  }

  /** Back to the first pause, after a connection proved stable. */
  reset(): void {
    this.#attempt = 0;
  }
}
