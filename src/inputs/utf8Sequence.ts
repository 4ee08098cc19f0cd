/**
 * Checks a multi-byte UTF-8 character as its bytes arrive, one at a time, so that a stream
 * cut inside a character is judged the same as one that is not. It accepts only what the
 * standard allows: no overlong forms, no surrogates, nothing above U+10FFFF.
 */
export class Utf8Sequence {
  /** Continuation bytes still due for the current character. */
  #need = 0;
  /** The range the next continuation byte must fall in. */
  #lo = 0x80;
  #hi = 0xbf;
  /** The current character's bytes so far and where it began, to report a bad one whole. */
  #bytes: number[] = [];
  #at = 0;

  /** True while a character has begun and not all its bytes have come. */
  get pending(): boolean {
    return this.#need > 0;
  }

  /** Starts a character at lead byte `b` (stream offset `at`); false if `b` cannot lead one. */
  lead(b: number, at: number): boolean {
    this.#bytes = [b];
    this.#at = at;
    if (b >= 0xc2 && b <= 0xdf) this.#expect(1, 0x80, 0xbf);
    else if (b === 0xe0) this.#expect(2, 0xa0, 0xbf);
    else if (b === 0xed) this.#expect(2, 0x80, 0x9f); // no surrogates
    else if (b >= 0xe1 && b <= 0xef) this.#expect(2, 0x80, 0xbf);
    else if (b === 0xf0) this.#expect(3, 0x90, 0xbf);
    else if (b >= 0xf1 && b <= 0xf3) this.#expect(3, 0x80, 0xbf);
    else if (b === 0xf4) this.#expect(3, 0x80, 0x8f); // nothing above U+10FFFF
    else return false;
    return true;
  }

  /** Takes the next continuation byte; false if `b` cannot continue the character. */
  continueWith(b: number): boolean {
    if (b < this.#lo || b > this.#hi) return false;
    this.#need--;
    this.#lo = 0x80;
    this.#hi = 0xbf;
    this.#bytes.push(b);
    return true;
  }

  /**
   * The bytes to report for a fault at byte `b` (offset `at`), and where they begin: the
   * character's bytes so far and `b` when one was under way, `b` alone when none was.
   */
  broken(b: number, at: number): { bytes: number[]; at: number } {
    return this.pending ? { bytes: [...this.#bytes, b], at: this.#at } : { bytes: [b], at };
  }

  /** Forgets a character under way. */
  reset(): void {
    this.#need = 0;
    this.#lo = 0x80;
    this.#hi = 0xbf;
  }

  #expect(need: number, lo: number, hi: number): void {
    this.#need = need;
    this.#lo = lo;
    this.#hi = hi;
  }
}
