import { StringDecoder } from 'node:string_decoder';

/** Longest line passed on whole; a longer one is passed on in pieces of this size. */
export const DEFAULT_MAX_LINE_CHARS = 64 * 1024;

/**
 * Turns a byte stream into lines: UTF-8 characters split across chunks stay whole, the
 * newline (and a `\r` before it) is dropped, an unfinished line is held back until its
 * newline arrives or `end` is called, and a line longer than `maxLineChars` is cut into
 * pieces so that a stream without newlines cannot grow one without bound.
 */
export class LineSplitter {
  #decoder = new StringDecoder('utf8');
  #partial = '';

  constructor(private readonly maxLineChars = DEFAULT_MAX_LINE_CHARS) {}

  /** The lines `chunk` completes. */
  push(chunk: Buffer): string[] {
    return this.#split(this.#decoder.write(chunk), false);
  }

  /** The unfinished last line, if there is one; the splitter starts afresh. */
  end(): string[] {
    const lines = this.#split(this.#decoder.end(), true);
    this.#decoder = new StringDecoder('utf8');
    return lines;
  }

  #split(text: string, final: boolean): string[] {
    const all = this.#partial + text;
    const lines: string[] = [];
    let start = 0;
    let newline: number;
    while ((newline = all.indexOf('\n', start)) !== -1) {
      const end = newline > start && all[newline - 1] === '\r' ? newline - 1 : newline;
      this.#cut(all, start, end, lines);
      start = newline + 1;
    }
    while (all.length - start >= this.maxLineChars) {
      lines.push(all.slice(start, start + this.maxLineChars));
      start += this.maxLineChars;
    }
    if (final && start < all.length) {
      lines.push(all.slice(start));
      start = all.length;
    }
    this.#partial = all.slice(start);
    return lines;
  }

  #cut(all: string, start: number, end: number, into: string[]): void {
    if (end - start <= this.maxLineChars) {
      into.push(all.slice(start, end));
      return;
    }
    for (let i = start; i < end; i += this.maxLineChars) into.push(all.slice(i, Math.min(end, i + this.maxLineChars)));
  }
}
