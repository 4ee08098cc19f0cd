const NEWLINE = 0x0a;

/**
 * Recovery after a fault in a JSON stream: follows brackets and strings loosely, without
 * judging them, to find where the broken value ends, so that its remaining lines are
 * dropped with it and the elements after a typo are never sent on their own.
 *
 * - `off`: not recovering;
 * - `skipping`: inside the broken value or its last line;
 * - `lineStart`: at the first byte of a line while the broken value's brackets are still
 *   open; a `{` or `[` there starts afresh, so a value left unclosed cannot swallow the
 *   rest of the stream.
 */
export type SkipState = 'off' | 'skipping' | 'lineStart';

export class BrokenValueSkip {
  #state: SkipState = 'off';
  /** Brackets still open in the broken value. */
  #depth = 0;
  #inString = false;
  #escape = false;

  /** True while the bytes read belong to a broken value. */
  get active(): boolean {
    return this.#state !== 'off';
  }

  /** Begins recovery inside a value `depth` brackets deep, in a string or not. */
  start(depth: number, inString: boolean): void {
    this.#state = 'skipping';
    this.#depth = depth;
    this.#inString = inString;
    this.#escape = false;
  }

  /** Ends recovery (the stream ended). */
  stop(): void {
    this.#state = 'off';
  }

  /** At the first byte of a line: true (and recovery ends) when `b` starts a fresh value. */
  startsAfresh(b: number): boolean {
    if (this.#state !== 'lineStart') return false;
    if (b === 0x7b || b === 0x5b) {
      this.#state = 'off';
      return true;
    }
    this.#state = 'skipping';
    return false;
  }

  /** Drops one byte of the broken value; recovery ends at the first line break after it. */
  byte(b: number): void {
    if (b === NEWLINE) {
      // JSON strings hold no raw line breaks, so none is open across one.
      this.#inString = false;
      this.#escape = false;
      this.#state = this.#depth > 0 ? 'lineStart' : 'off';
    } else if (this.#inString) {
      if (this.#escape) this.#escape = false;
      else if (b === 0x5c) this.#escape = true;
      else if (b === 0x22) this.#inString = false;
    } else if (b === 0x22) this.#inString = true;
    else if (b === 0x7b || b === 0x5b) this.#depth++;
    else if (b === 0x7d || b === 0x5d) this.#depth--;
  }
}
