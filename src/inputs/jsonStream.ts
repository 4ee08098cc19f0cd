import { BosunError } from '../errors.ts';
import { HeldValue } from './heldValue.ts';

/** One item read from a stream: a parsed value, or an error about a stretch of input. */
export type StreamItem = { kind: 'value'; value: unknown } | { kind: 'error'; error: BosunError };

export interface JsonStreamOptions {
  /** Largest single top-level value in bytes (default 64 MiB, room for a big array of messages). */
  maxValueBytes?: number;
  /** Deepest nesting of arrays and objects (default 1000; messages need three). */
  maxDepth?: number;
}

export const DEFAULT_MAX_VALUE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 1000;

// What the next byte may be. Top-level values must be objects or arrays: that is what a
// message or a batch of messages is, and it lets a value end at its closing bracket
// instead of waiting for a delimiter that `nc` may never send.
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
const SKIP = 19; // after an error: discard the rest of the broken value and its line
const SKIP_LINE_START = 20; // the same, at the first byte of a line

const NEWLINE = 0x0a;

/**
 * An incremental reader for a byte stream of JSON values, as `nc -U` or `bosun send`
 * write them: objects and arrays, concatenated or one per line, cut into chunks anywhere.
 *
 * A value is handed out as soon as its closing bracket arrives; nothing waits for the
 * end of the stream. Every byte is checked as it comes (JSON syntax, UTF-8), so a fault
 * is reported where it is, with its line and column:
 * - bytes that are not UTF-8: `BOSUN_BAD_ENCODING`;
 * - anything else that is not JSON: `BOSUN_BAD_JSON`;
 * - a value over `maxValueBytes`: `BOSUN_MESSAGE_TOO_LARGE` (the value is skipped to its
 *   end without being kept in memory).
 *
 * After a syntax or encoding fault, reading starts afresh at the next line, so a bad line
 * costs one error, not the connection. When the broken value spans lines (a
 * pretty-printed array), the lines up to where its brackets balance are skipped too: the
 * elements after a typo are never sent on their own. A line that starts with `{` or `[`
 * in its first column always starts afresh, so a value left unclosed cannot swallow the
 * rest of the stream. The outcome does not depend on how the stream was cut into chunks.
 */
export class JsonStreamParser {
  readonly #maxValueBytes: number;
  readonly #maxDepth: number;
  #mode = TOP;
  /** The mode to return to when a string ends: COLON for a key, AFTER_VALUE otherwise. */
  #afterString = AFTER_VALUE;
  #hexLeft = 0;
  #literal = '';
  #literalAt = 0;
  /** Open containers, innermost last: true for an array, false for an object. */
  #stack: boolean[] = [];
  /** Continuation bytes still due for the current UTF-8 character, and the range of the next one. */
  #utf8Need = 0;
  #utf8Lo = 0x80;
  #utf8Hi = 0xbf;
  /** The current UTF-8 character's bytes so far and where it began, to report a bad one whole. */
  #utf8Bytes: number[] = [];
  #utf8At = 0;
  /** Stream offset of the first byte of the current value. */
  #valueStart = 0;
  #valueLine = 1;
  /** Bytes of the current value from earlier chunks. */
  readonly #held: HeldValue;
  /** Recovery state: brackets still open in the broken value, and whether a string is. */
  #skipDepth = 0;
  #skipInString = false;
  #skipEscape = false;
  /** True while skipping the rest of a value that is already refused as too large. */
  #oversize = false;
  /** Stream offset of the first byte of the chunk being read. */
  #offset = 0;
  #line = 1;
  #lineStart = 0;
  #decoder = new TextDecoder('utf-8');

  constructor(options: JsonStreamOptions = {}) {
    this.#maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    this.#maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.#held = new HeldValue(this.#maxValueBytes);
  }

  /** True while part of a value has been read and its end has not. */
  get inValue(): boolean {
    return this.#mode !== TOP && this.#mode !== SKIP && this.#mode !== SKIP_LINE_START;
  }

  /** Bytes of the unfinished value kept in memory (copies of earlier chunks), for the inputs' budget. */
  get heldBytes(): number {
    return this.#held.bytes;
  }

  /** Reads one chunk; returns what it completed, in stream order. */
  push(chunk: Uint8Array): StreamItem[] {
    const items: StreamItem[] = [];
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const base = this.#offset;
    // Where the current value starts in this chunk (0 when it began in an earlier one).
    let startInChunk = 0;
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i]!;
      if (this.#mode === SKIP_LINE_START) this.#mode = b === 0x7b || b === 0x5b ? TOP : SKIP;
      const mode = this.#mode;

      if (mode === SKIP) {
        this.#skipByte(b, base + i);
        continue;
      }
      if (mode === TOP) {
        if (b === 0x7b || b === 0x5b) {
          this.#valueStart = base + i;
          this.#valueLine = this.#line;
          this.#held.drop();
          this.#oversize = false;
          startInChunk = i;
          this.#open(b === 0x5b);
        } else if (b === NEWLINE) this.#newline(base + i, TOP);
        else if (b >= 0x80 && !this.#utf8Lead(b, base + i)) this.#badEncoding(items, b, base + i);
        else if (b !== 0x20 && b !== 0x09 && b !== 0x0d) {
          this.#fault(items, b, base + i, 'expected a message object "{" or an array of messages "["');
        }
        continue;
      }
      // Inside a value.
      if (!this.#oversize && base + i - this.#valueStart >= this.#maxValueBytes) {
        items.push({ kind: 'error', error: this.#tooLarge() });
        this.#oversize = true;
        this.#held.drop();
      }
      if (this.#utf8Need > 0) {
        if (b < this.#utf8Lo || b > this.#utf8Hi) {
          this.#badEncoding(items, b, base + i);
          continue;
        }
        this.#utf8Need--;
        this.#utf8Lo = 0x80;
        this.#utf8Hi = 0xbf;
        this.#utf8Bytes.push(b);
        continue;
      }
      if (mode === STRING) {
        if (b === 0x22) this.#mode = this.#afterString;
        else if (b === 0x5c) this.#mode = STRING_ESCAPE;
        else if (b < 0x20) this.#fault(items, b, base + i, 'control characters must be escaped inside a string');
        else if (b >= 0x80) {
          if (!this.#utf8Lead(b, base + i)) this.#badEncoding(items, b, base + i);
        } else {
          // Most of a stream is plain ASCII inside strings: take the run in one go.
          let j = i + 1;
          for (; j < buf.length; j++) {
            const c = buf[j]!;
            if (c === 0x22 || c === 0x5c || c < 0x20 || c >= 0x80) break;
          }
          i = j - 1;
          if (!this.#oversize && base + i - this.#valueStart >= this.#maxValueBytes) {
            items.push({ kind: 'error', error: this.#tooLarge() });
            this.#oversize = true;
            this.#held.drop();
          }
        }
        continue;
      }
      if (b >= 0x80) {
        // Outside a string no byte above ASCII is JSON; tell bad UTF-8 from a stray character.
        if (this.#utf8Lead(b, base + i)) this.#fault(items, b, base + i, 'unexpected character');
        else this.#badEncoding(items, b, base + i);
        continue;
      }
      const completed = this.#step(b, base + i, items);
      if (completed) {
        const end = i + 1;
        if (!this.#oversize) items.push(this.#parse(this.#held.completed(buf.subarray(this.#held.holding ? 0 : startInChunk, end))));
        this.#held.drop();
        this.#oversize = false;
      }
    }
    if (this.inValue && !this.#oversize) this.#held.hold(buf.subarray(this.#held.holding ? 0 : startInChunk));
    this.#offset = base + buf.length;
    return items;
  }

  /** The stream has ended: reports a value left unfinished. */
  end(): StreamItem[] {
    if (!this.inValue) {
      this.#mode = TOP;
      return [];
    }
    const oversize = this.#oversize;
    this.#reset(TOP);
    if (oversize) return [];
    const error = new BosunError(
      'BOSUN_BAD_JSON',
      `malformed JSON: the input ended inside a value that started on line ${this.#valueLine} (a missing closing bracket or quote?)`,
    );
    return [{ kind: 'error', error }];
  }

  /**
   * Moves the syntax state on by one ASCII byte outside a string (or at a string's start).
   * Returns true when the byte closed the top-level value.
   */
  #step(b: number, at: number, items: StreamItem[]): boolean {
    switch (this.#mode) {
      case LITERAL: {
        if (b === this.#literal.charCodeAt(this.#literalAt)) {
          if (++this.#literalAt === this.#literal.length) this.#mode = AFTER_VALUE;
          return false;
        }
        this.#fault(items, b, at, `expected "${this.#literal}"`);
        return false;
      }
      case NUM_MINUS:
        if (b === 0x30) this.#mode = NUM_ZERO;
        else if (isDigit(b)) this.#mode = NUM_INT;
        else this.#fault(items, b, at, 'expected a digit after "-"');
        return false;
      case NUM_ZERO:
      case NUM_INT:
        if (isDigit(b) && this.#mode === NUM_INT) return false;
        if (b === 0x2e) {
          this.#mode = NUM_DOT;
          return false;
        }
        if (b === 0x65 || b === 0x45) {
          this.#mode = NUM_E;
          return false;
        }
        if (isDigit(b)) {
          this.#fault(items, b, at, 'numbers must not have leading zeros');
          return false;
        }
        return this.#afterValue(b, at, items);
      case NUM_DOT:
        if (isDigit(b)) this.#mode = NUM_FRAC;
        else this.#fault(items, b, at, 'expected a digit after "."');
        return false;
      case NUM_FRAC:
        if (isDigit(b)) return false;
        if (b === 0x65 || b === 0x45) {
          this.#mode = NUM_E;
          return false;
        }
        return this.#afterValue(b, at, items);
      case NUM_E:
        if (b === 0x2b || b === 0x2d) this.#mode = NUM_E_SIGN;
        else if (isDigit(b)) this.#mode = NUM_EXP;
        else this.#fault(items, b, at, 'expected a digit in the exponent');
        return false;
      case NUM_E_SIGN:
        if (isDigit(b)) this.#mode = NUM_EXP;
        else this.#fault(items, b, at, 'expected a digit in the exponent');
        return false;
      case NUM_EXP:
        if (isDigit(b)) return false;
        return this.#afterValue(b, at, items);
      case STRING_ESCAPE:
        if (b === 0x75) {
          this.#mode = STRING_HEX;
          this.#hexLeft = 4;
        } else if (b === 0x22 || b === 0x5c || b === 0x2f || b === 0x62 || b === 0x66 || b === 0x6e || b === 0x72 || b === 0x74) {
          this.#mode = STRING;
        } else this.#fault(items, b, at, 'invalid escape in a string');
        return false;
      case STRING_HEX:
        if (isHex(b)) {
          if (--this.#hexLeft === 0) this.#mode = STRING;
        } else this.#fault(items, b, at, 'expected four hex digits after "\\u"');
        return false;
    }
    if (isSpace(b)) {
      if (b === NEWLINE) this.#newline(at, this.#mode);
      return false;
    }
    switch (this.#mode) {
      case VALUE_OR_CLOSE:
        if (b === 0x5d) return this.#close();
        return this.#value(b, at, items);
      case VALUE:
        return this.#value(b, at, items);
      case KEY_OR_CLOSE:
        if (b === 0x7d) return this.#close();
      // falls through
      case KEY:
        if (b === 0x22) {
          this.#mode = STRING;
          this.#afterString = COLON;
        } else this.#fault(items, b, at, 'expected a key in double quotes');
        return false;
      case COLON:
        if (b === 0x3a) this.#mode = VALUE;
        else this.#fault(items, b, at, 'expected ":" after a key');
        return false;
      case AFTER_VALUE:
        return this.#afterValue(b, at, items);
    }
    return false;
  }

  #value(b: number, at: number, items: StreamItem[]): boolean {
    if (b === 0x7b || b === 0x5b) {
      if (this.#stack.length >= this.#maxDepth) {
        this.#fault(items, b, at, `values may nest at most ${this.#maxDepth} levels deep`);
        return false;
      }
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
    } else this.#fault(items, b, at, 'expected a value');
    return false;
  }

  /** After a complete value inside a container: whitespace, `,`, or the container's close. */
  #afterValue(b: number, at: number, items: StreamItem[]): boolean {
    if (isSpace(b)) {
      this.#mode = AFTER_VALUE;
      if (b === NEWLINE) this.#newline(at, AFTER_VALUE);
      return false;
    }
    const inArray = this.#stack[this.#stack.length - 1]!;
    if (b === 0x2c) {
      this.#mode = inArray ? VALUE : KEY;
      return false;
    }
    if (b === (inArray ? 0x5d : 0x7d)) return this.#close();
    this.#fault(items, b, at, inArray ? 'expected "," or "]"' : 'expected "," or "}"');
    return false;
  }

  #open(isArray: boolean): void {
    this.#stack.push(isArray);
    this.#mode = isArray ? VALUE_OR_CLOSE : KEY_OR_CLOSE;
  }

  #close(): boolean {
    this.#stack.pop();
    if (this.#stack.length === 0) {
      this.#mode = TOP;
      return true;
    }
    this.#mode = AFTER_VALUE;
    return false;
  }

  /** Starts a multi-byte character at lead byte `b`; false if `b` cannot lead one. */
  #utf8Lead(b: number, at: number): boolean {
    this.#utf8Bytes = [b];
    this.#utf8At = at;
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

  #expect(need: number, lo: number, hi: number): void {
    this.#utf8Need = need;
    this.#utf8Lo = lo;
    this.#utf8Hi = hi;
  }

  #parse(bytes: Uint8Array): StreamItem {
    try {
      return { kind: 'value', value: JSON.parse(this.#decoder.decode(bytes)) };
    } catch (e) {
      // The syntax was checked byte by byte; this is a safety net, not a path.
      return { kind: 'error', error: new BosunError('BOSUN_BAD_JSON', `malformed JSON in the value that started on line ${this.#valueLine}: ${(e as Error).message}`) };
    }
  }

  #newline(at: number, mode: number): void {
    this.#line++;
    this.#lineStart = at + 1;
    this.#mode = mode;
  }

  #where(at: number): string {
    return `line ${this.#line}, column ${at - this.#lineStart + 1}`;
  }

  /** Reports a syntax fault at `at` (unless its value is already refused) and skips to the next line. */
  #fault(items: StreamItem[], b: number, at: number, expected: string): void {
    const found = b >= 0x20 && b < 0x7f ? `"${String.fromCharCode(b)}"` : b === NEWLINE ? 'a line break' : `byte 0x${hex(b)}`;
    if (!this.#oversize) {
      const message = `malformed JSON at ${this.#where(at)}: ${expected}, found ${found}; ${this.#skipping()}`;
      items.push({ kind: 'error', error: new BosunError('BOSUN_BAD_JSON', message) });
    }
    this.#skipFrom(b, at);
  }

  #badEncoding(items: StreamItem[], b: number, at: number): void {
    if (!this.#oversize) {
      // A broken sequence is reported where it began, with the bytes that break it.
      const inSequence = this.#utf8Need > 0;
      const bytes = inSequence ? [...this.#utf8Bytes, b] : [b];
      const where = this.#where(inSequence ? this.#utf8At : at);
      const shown = bytes.length === 1 ? `byte 0x${hex(b)}` : `bytes ${bytes.map((x) => `0x${hex(x)}`).join(' ')}`;
      const message = `invalid UTF-8 at ${where} (${shown}): input must be UTF-8 JSON; ${this.#skipping()}`;
      items.push({ kind: 'error', error: new BosunError('BOSUN_BAD_ENCODING', message) });
    }
    this.#skipFrom(b, at);
  }

  #tooLarge(): BosunError {
    return new BosunError(
      'BOSUN_MESSAGE_TOO_LARGE',
      `the value that started on line ${this.#valueLine} is larger than ${formatBytes(this.#maxValueBytes)}, the most one input value may hold; send it in smaller batches`,
    );
  }

  #skipping(): string {
    return this.#stack.length === 0 ? 'skipping the rest of the line' : `skipping the rest of the value that started on line ${this.#valueLine}`;
  }

  /** Enters recovery after a fault at byte `b`, which is dropped, not counted. */
  #skipFrom(b: number, at: number): void {
    const depth = this.#stack.length;
    const inString = this.#mode === STRING || this.#mode === STRING_ESCAPE || this.#mode === STRING_HEX;
    this.#reset(SKIP);
    this.#skipDepth = depth;
    this.#skipInString = inString;
    if (b === NEWLINE) this.#skipByte(b, at);
  }

  /**
   * Recovery: follows brackets and strings loosely, without judging them, to find where
   * the broken value ends; resumes at the first line after that.
   */
  #skipByte(b: number, at: number): void {
    if (b === NEWLINE) {
      // JSON strings hold no raw line breaks, so none is open across one.
      this.#skipInString = false;
      this.#skipEscape = false;
      this.#newline(at, this.#skipDepth > 0 ? SKIP_LINE_START : TOP);
    } else if (this.#skipInString) {
      if (this.#skipEscape) this.#skipEscape = false;
      else if (b === 0x5c) this.#skipEscape = true;
      else if (b === 0x22) this.#skipInString = false;
    } else if (b === 0x22) this.#skipInString = true;
    else if (b === 0x7b || b === 0x5b) this.#skipDepth++;
    else if (b === 0x7d || b === 0x5d) this.#skipDepth--;
  }

  #reset(mode: number): void {
    this.#mode = mode;
    this.#stack = [];
    this.#held.drop();
    this.#oversize = false;
    this.#utf8Need = 0;
    this.#utf8Lo = 0x80;
    this.#utf8Hi = 0xbf;
  }
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
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

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}
