import type { InputToken } from './inputToken.ts';

/** The longest first line a TCP client may send before it is judged not to hold the token. */
const MAX_TOKEN_LINE_BYTES = 1024;

/** What the first line of a TCP connection says: not all here yet, the token (and what followed it), or not the token. */
export type TokenLineResult = { kind: 'waiting' } | { kind: 'ok'; rest: Buffer } | { kind: 'refused' };

/**
 * Reads a TCP client's first line, which must be the input token: a stream has no
 * headers, and a line is what `nc` and every language can send before the JSON. The
 * bytes after the line are handed on as the start of the message stream.
 */
export class TokenLineReader {
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(private readonly token: InputToken) {}

  push(chunk: Buffer): TokenLineResult {
    const newline = chunk.indexOf(0x0a);
    if (newline < 0) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      return this.#pendingBytes > MAX_TOKEN_LINE_BYTES ? { kind: 'refused' } : { kind: 'waiting' };
    }
    const line = Buffer.concat([...this.#pending, chunk.subarray(0, newline)]).toString('utf8').trim();
    this.#pending = [];
    return this.token.matches(line) ? { kind: 'ok', rest: chunk.subarray(newline + 1) } : { kind: 'refused' };
  }
}
