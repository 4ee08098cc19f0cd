import { BosunError } from '../errors.ts';
import { BrokenValueSkip } from './brokenValueSkip.ts';
import { formatBytes } from './formatBytes.ts';
import { HeldValue } from './heldValue.ts';
import { JsonSyntax, type SyntaxOutcome } from './jsonSyntax.ts';
import { Utf8Sequence } from './utf8Sequence.ts';

export { formatBytes };

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

const NEWLINE = 0x0a;

/**
 * An incremental reader for a byte stream of JSON values, as `nc -U` or `bosun send`
 * write them: objects and arrays, concatenated or one per line, cut into chunks anywhere.
 *
 * Top-level values must be objects or arrays: that is what a message or a batch of
 * messages is, and it lets a value end at its closing bracket instead of waiting for a
 * delimiter that `nc` may never send. A value is handed out as soon as its closing bracket
 * arrives; nothing waits for the end of the stream. Every byte is checked as it comes
 * (JSON syntax in `JsonSyntax`, UTF-8 in `Utf8Sequence`), so a fault is reported where it
 * is, with its line and column:
 * - bytes that are not UTF-8: `BOSUN_BAD_ENCODING`;
 * - anything else that is not JSON: `BOSUN_BAD_JSON`;
 * - a value over `maxValueBytes`: `BOSUN_MESSAGE_TOO_LARGE` (the value is skipped to its
 *   end without being kept in memory).
 *
 * After a syntax or encoding fault, reading starts afresh at the next line, so a bad line
 * costs one error, not the connection. When the broken value spans lines (a
 * pretty-printed array), the lines up to where its brackets balance are skipped too
 * (`BrokenValueSkip`): the elements after a typo are never sent on their own. A line that
 * starts with `{` or `[` in its first column always starts afresh, so a value left
 * unclosed cannot swallow the rest of the stream. The outcome does not depend on how the
 * stream was cut into chunks.
 */
export class JsonStreamParser {
  readonly #maxValueBytes: number;
  readonly #syntax: JsonSyntax;
  readonly #utf8 = new Utf8Sequence();
  readonly #skip = new BrokenValueSkip();
  /** Stream offset of the first byte of the current value. */
  #valueStart = 0;
  #valueLine = 1;
  /** Bytes of the current value from earlier chunks. */
  readonly #held: HeldValue;
  /** True while skipping the rest of a value that is already refused as too large. */
  #oversize = false;
  /** Stream offset of the first byte of the chunk being read. */
  #offset = 0;
  #line = 1;
  #lineStart = 0;
  #decoder = new TextDecoder('utf-8');

  constructor(options: JsonStreamOptions = {}) {
    this.#maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    this.#syntax = new JsonSyntax(options.maxDepth ?? DEFAULT_MAX_DEPTH);
    this.#held = new HeldValue(this.#maxValueBytes);
  }

  /** True while part of a value has been read and its end has not. */
  get inValue(): boolean {
    return this.#syntax.inValue;
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
    const syntax = this.#syntax;
    // Where the current value starts in this chunk (0 when it began in an earlier one).
    let startInChunk = 0;
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i]!;
      if (this.#skip.active && !this.#skip.startsAfresh(b)) {
        this.#skip.byte(b);
        if (b === NEWLINE) this.#newline(base + i);
        continue;
      }
      if (!syntax.inValue) {
        if (b === 0x7b || b === 0x5b) {
          this.#valueStart = base + i;
          this.#valueLine = this.#line;
          this.#held.drop();
          this.#oversize = false;
          startInChunk = i;
          syntax.begin(b === 0x5b);
        } else if (b === NEWLINE) this.#newline(base + i);
        else if (b >= 0x80 && !this.#utf8.lead(b, base + i)) this.#badEncoding(items, b, base + i);
        else if (b !== 0x20 && b !== 0x09 && b !== 0x0d) {
          this.#fault(items, b, base + i, 'expected a message object "{" or an array of messages "["');
        }
        continue;
      }
      // Inside a value.
      this.#checkSize(items, base + i);
      if (this.#utf8.pending) {
        if (!this.#utf8.continueWith(b)) this.#badEncoding(items, b, base + i);
        continue;
      }
      if (b >= 0x80) {
        if (syntax.inStringBody) {
          if (!this.#utf8.lead(b, base + i)) this.#badEncoding(items, b, base + i);
        } else if (this.#utf8.lead(b, base + i)) {
          // Outside a string no byte above ASCII is JSON; tell bad UTF-8 from a stray character.
          this.#fault(items, b, base + i, 'unexpected character');
        } else this.#badEncoding(items, b, base + i);
        continue;
      }
      if (syntax.inStringBody && isPlainStringByte(b)) {
        // Most of a stream is plain ASCII inside strings: take the run in one go.
        let j = i + 1;
        while (j < buf.length && isPlainStringByte(buf[j]!)) j++;
        i = j - 1;
        this.#checkSize(items, base + i);
        continue;
      }
      const outcome: SyntaxOutcome = syntax.step(b);
      if (outcome === 'closed') {
        if (!this.#oversize) items.push(this.#parse(this.#held.completed(buf.subarray(this.#held.holding ? 0 : startInChunk, i + 1))));
        this.#held.drop();
        this.#oversize = false;
      } else if (outcome !== 'more') this.#fault(items, b, base + i, outcome.expected);
      else if (b === NEWLINE) this.#newline(base + i);
    }
    if (this.inValue && !this.#oversize) this.#held.hold(buf.subarray(this.#held.holding ? 0 : startInChunk));
    this.#offset = base + buf.length;
    return items;
  }

  /** The stream has ended: reports a value left unfinished. */
  end(): StreamItem[] {
    if (!this.inValue) {
      this.#skip.stop();
      return [];
    }
    const oversize = this.#oversize;
    this.#reset();
    if (oversize) return [];
    const error = new BosunError(
      'BOSUN_BAD_JSON',
      `malformed JSON: the input ended inside a value that started on line ${this.#valueLine} (a missing closing bracket or quote?)`,
    );
    return [{ kind: 'error', error }];
  }

  /** Refuses the current value, once, when it has grown past the limit at offset `at`. */
  #checkSize(items: StreamItem[], at: number): void {
    if (this.#oversize || at - this.#valueStart < this.#maxValueBytes) return;
    items.push({ kind: 'error', error: this.#tooLarge() });
    this.#oversize = true;
    this.#held.drop();
  }

  #parse(bytes: Uint8Array): StreamItem {
    try {
      return { kind: 'value', value: JSON.parse(this.#decoder.decode(bytes)) };
    } catch (e) {
      // The syntax was checked byte by byte; this is a safety net, not a path.
      return { kind: 'error', error: new BosunError('BOSUN_BAD_JSON', `malformed JSON in the value that started on line ${this.#valueLine}: ${(e as Error).message}`) };
    }
  }

  #newline(at: number): void {
    this.#line++;
    this.#lineStart = at + 1;
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
      const broken = this.#utf8.broken(b, at);
      const shown = broken.bytes.length === 1 ? `byte 0x${hex(b)}` : `bytes ${broken.bytes.map((x) => `0x${hex(x)}`).join(' ')}`;
      const message = `invalid UTF-8 at ${this.#where(broken.at)} (${shown}): input must be UTF-8 JSON; ${this.#skipping()}`;
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
    return this.#syntax.depth === 0 ? 'skipping the rest of the line' : `skipping the rest of the value that started on line ${this.#valueLine}`;
  }

  /** Enters recovery after a fault at byte `b`, which is dropped, not counted. */
  #skipFrom(b: number, at: number): void {
    const depth = this.#syntax.depth;
    const inString = this.#syntax.inString;
    this.#reset();
    this.#skip.start(depth, inString);
    if (b === NEWLINE) {
      this.#skip.byte(b);
      this.#newline(at);
    }
  }

  #reset(): void {
    this.#syntax.reset();
    this.#held.drop();
    this.#oversize = false;
    this.#utf8.reset();
  }
}

/** A byte that stands for itself inside a string: not `"`, `\`, a control or part of a multi-byte character. */
function isPlainStringByte(b: number): boolean {
  return b !== 0x22 && b !== 0x5c && b >= 0x20 && b < 0x80;
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
