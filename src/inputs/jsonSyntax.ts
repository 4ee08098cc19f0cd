// What the next byte may be. The machine is at TOP between top-level values; which bytes
// may start one is the stream reader's business.
const TOP = 0;
const VALUE = 1;
const VALUE_OR_CLOSE = 2; // just after `[`
const KEY_OR_CLOSE = 3; // just after `{`
const KEY = 4; // after `,` in an object
const COLON = 5;
const AFTER_VALUE = 6;
const STRING = 7;
const STRING_ESCAPE = 8;
const STRING_HEX = 9;
const NUM_MINUS = 10; // after `-`
const NUM_ZERO = 11; // a leading 0
const NUM_INT = 12;
const NUM_DOT = 13; // after `.`
const NUM_FRAC = 14;
const NUM_E = 15; // after `e`
const NUM_E_SIGN = 16; // after `e+` or `e-`
const NUM_EXP = 17;
const LITERAL = 18;

/**
 * What one byte did: nothing to report yet (`more`), closed the top-level value
 * (`closed`), or broke the grammar, with what was expected instead.
 */
export type SyntaxOutcome = 'more' | 'closed' | { expected: string };

const MORE = 'more';

/**
 * The JSON grammar as a machine stepped one ASCII byte at a time, so that a value can be
 * judged as its bytes arrive, cut into chunks anywhere. It keeps no text: the reader
 * around it keeps the bytes, checks UTF-8, counts lines and recovers from faults.
 */
export class JsonSyntax {
  readonly #maxDepth: number;
  #mode = TOP;
  /** The mode to return to when a string ends: COLON for a key, AFTER_VALUE otherwise. */
  #afterString = AFTER_VALUE;
  #hexLeft = 0;
  #literal = '';
  #literalAt = 0;
  /** Open containers, innermost last: true for an array, false for an object. */
  #stack: boolean[] = [];

  constructor(maxDepth: number) {
    this.#maxDepth = maxDepth;
  }

  /** True while a top-level value has begun and not ended. */
  get inValue(): boolean {
    return this.#mode !== TOP;
  }

  /** True between a string's quotes, where any byte but `"`, `\` and controls is plain text. */
  get inStringBody(): boolean {
    return this.#mode === STRING;
  }

  /** True anywhere inside a string, escapes included. */
  get inString(): boolean {
    return this.#mode === STRING || this.#mode === STRING_ESCAPE || this.#mode === STRING_HEX;
  }

  /** How many containers are open. */
  get depth(): number {
    return this.#stack.length;
  }

  /** True when the innermost open container is an array. */
  get inArray(): boolean {
    return this.#stack[this.#stack.length - 1]!;
  }

  /** Starts a top-level value at its opening bracket. */
  begin(isArray: boolean): void {
    this.#open(isArray);
  }

  /** Back to TOP, forgetting the value under way. */
  reset(): void {
    this.#mode = TOP;
    this.#stack = [];
  }

  /** Moves on by one ASCII byte inside a value (a string's plain text may be skipped over). */
  step(b: number): SyntaxOutcome {
    switch (this.#mode) {
      case STRING:
        if (b === 0x22) this.#mode = this.#afterString;
        else if (b === 0x5c) this.#mode = STRING_ESCAPE;
        else if (b < 0x20) return { expected: 'control characters must be escaped inside a string' };
        return MORE;
      case LITERAL:
        if (b !== this.#literal.charCodeAt(this.#literalAt)) return { expected: `expected "${this.#literal}"` };
        if (++this.#literalAt === this.#literal.length) this.#mode = AFTER_VALUE;
        return MORE;
      case NUM_MINUS:
        if (b === 0x30) this.#mode = NUM_ZERO;
        else if (isDigit(b)) this.#mode = NUM_INT;
        else return { expected: 'expected a digit after "-"' };
        return MORE;
      case NUM_ZERO:
      case NUM_INT:
        if (isDigit(b) && this.#mode === NUM_INT) return MORE;
        if (b === 0x2e) {
          this.#mode = NUM_DOT;
          return MORE;
        }
        if (b === 0x65 || b === 0x45) {
          this.#mode = NUM_E;
          return MORE;
        }
        if (isDigit(b)) return { expected: 'numbers must not have leading zeros' };
        return this.#afterValue(b);
      case NUM_DOT:
        if (!isDigit(b)) return { expected: 'expected a digit after "."' };
        this.#mode = NUM_FRAC;
        return MORE;
      case NUM_FRAC:
        if (isDigit(b)) return MORE;
        if (b === 0x65 || b === 0x45) {
          this.#mode = NUM_E;
          return MORE;
        }
        return this.#afterValue(b);
      case NUM_E:
        if (b === 0x2b || b === 0x2d) this.#mode = NUM_E_SIGN;
        else if (isDigit(b)) this.#mode = NUM_EXP;
        else return { expected: 'expected a digit in the exponent' };
        return MORE;
      case NUM_E_SIGN:
        if (!isDigit(b)) return { expected: 'expected a digit in the exponent' };
        this.#mode = NUM_EXP;
        return MORE;
      case NUM_EXP:
        if (isDigit(b)) return MORE;
        return this.#afterValue(b);
      case STRING_ESCAPE:
        if (b === 0x75) {
          this.#mode = STRING_HEX;
          this.#hexLeft = 4;
        } else if (b === 0x22 || b === 0x5c || b === 0x2f || b === 0x62 || b === 0x66 || b === 0x6e || b === 0x72 || b === 0x74) {
          this.#mode = STRING;
        } else return { expected: 'invalid escape in a string' };
        return MORE;
      case STRING_HEX:
        if (!isHex(b)) return { expected: 'expected four hex digits after "\\u"' };
        if (--this.#hexLeft === 0) this.#mode = STRING;
        return MORE;
    }
    if (isSpace(b)) return MORE;
    switch (this.#mode) {
      case VALUE_OR_CLOSE:
        if (b === 0x5d) return this.#close();
        return this.#value(b);
      case VALUE:
        return this.#value(b);
      case KEY_OR_CLOSE:
        if (b === 0x7d) return this.#close();
      // falls through
      case KEY:
        if (b !== 0x22) return { expected: 'expected a key in double quotes' };
        this.#mode = STRING;
        this.#afterString = COLON;
        return MORE;
      case COLON:
        if (b !== 0x3a) return { expected: 'expected ":" after a key' };
        this.#mode = VALUE;
        return MORE;
      case AFTER_VALUE:
        return this.#afterValue(b);
    }
    return MORE;
  }

  #value(b: number): SyntaxOutcome {
    if (b === 0x7b || b === 0x5b) {
      if (this.#stack.length >= this.#maxDepth) return { expected: `values may nest at most ${this.#maxDepth} levels deep` };
      this.#open(b === 0x5b);
    } else if (b === 0x22) {
      this.#mode = STRING;
      this.#afterString = AFTER_VALUE;
    } else if (b === 0x2d) this.#mode = NUM_MINUS;
    else if (b === 0x30) this.#mode = NUM_ZERO;
    else if (isDigit(b)) this.#mode = NUM_INT;
    else if (b === 0x74 || b === 0x66 || b === 0x6e) {
      this.#literal = b === 0x74 ? 'true' : b === 0x66 ? 'false' : 'null';
      this.#literalAt = 1;
      this.#mode = LITERAL;
    } else return { expected: 'expected a value' };
    return MORE;
  }

  /** After a complete value inside a container: whitespace, `,`, or the container's close. */
  #afterValue(b: number): SyntaxOutcome {
    if (isSpace(b)) {
      this.#mode = AFTER_VALUE;
      return MORE;
    }
    const inArray = this.inArray;
    if (b === 0x2c) {
      this.#mode = inArray ? VALUE : KEY;
      return MORE;
    }
    if (b === (inArray ? 0x5d : 0x7d)) return this.#close();
    return { expected: inArray ? 'expected "," or "]"' : 'expected "," or "}"' };
  }

  #open(isArray: boolean): void {
    this.#stack.push(isArray);
    this.#mode = isArray ? VALUE_OR_CLOSE : KEY_OR_CLOSE;
  }

  #close(): SyntaxOutcome {
    this.#stack.pop();
    if (this.#stack.length === 0) {
      this.#mode = TOP;
      return 'closed';
    }
    this.#mode = AFTER_VALUE;
    return MORE;
  }
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

function isHex(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46);
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}
