import type { Message } from '../message.ts';
import { FRAME_VERSION } from './frames.ts';

/**
 * How many bytes a message takes on the wire, and how much text still fits. A frame is
 * JSON, so every string in it is escaped once; a message that travels inside a relay
 * envelope is escaped twice (the envelope's data is the message as JSON). Escaping grows
 * text unevenly: a letter stays one byte, a `"` or `\` becomes 2 bytes (4 in an envelope),
 * a control character 6 (`\u0001`; 7 in an envelope).
 */

/** The most a sequence number adds: frames are measured before their number is known. */
const LARGEST_SEQ = Number.MAX_SAFE_INTEGER;
/** The longest incarnation id, and a delivery signature's length (base64 ed25519): counted whether or not the node signs. */
const LONGEST_INC = `${'z'.repeat(11)}-${'f'.repeat(16)}`;
const SIGNATURE = 'A'.repeat(88);
/** What a frame adds around its stream and message, with room to spare. */
const FRAME_OVERHEAD_BYTES = 64 + LONGEST_INC.length + SIGNATURE.length + 16;

/** Bytes of the data frame that carries `message` on `stream`, whatever its sequence number and incarnation. */
export function dataFrameBytes(stream: string, message: Message): number {
  return Buffer.byteLength(JSON.stringify({ v: FRAME_VERSION, type: 'data', stream, inc: LONGEST_INC, seq: LARGEST_SEQ, sig: SIGNATURE, message }));
}

/**
 * True when the data frame of `message` on `stream` takes at most `limit` bytes. Most
 * messages are far smaller than any limit: a bound computed without serialising them
 * settles those, and only a large one is serialised to be measured.
 */
export function fitsInFrame(stream: string, message: Message, limit: number): boolean {
  if (jsonBytesAtMost(message) + jsonBytesAtMost(stream) + FRAME_OVERHEAD_BYTES <= limit) return true;
  return dataFrameBytes(stream, message) <= limit;
}

/** An upper bound on the bytes of `value` as JSON: a UTF-16 unit never takes more than 6. */
function jsonBytesAtMost(value: unknown): number {
  if (typeof value === 'string') return 6 * value.length + 2;
  if (Array.isArray(value)) {
    let n = 2;
    for (const v of value) n += jsonBytesAtMost(v) + 1;
    return n;
  }
  if (value !== null && typeof value === 'object') {
    let n = 2;
    for (const key in value) n += 6 * key.length + 4 + jsonBytesAtMost((value as Record<string, unknown>)[key]);
    return n;
  }
  return 32;
}

/** The bytes one UTF-16 unit (or pair) takes once JSON-escaped `depth` times. */
function escapedBytes(text: string, depth: number): number {
  let s = text;
  for (let i = 0; i < depth; i++) s = JSON.stringify(s).slice(1, -1);
  return Buffer.byteLength(s);
}

const asciiCosts = new Map<number, Uint8Array>();

function asciiCostsAt(depth: number): Uint8Array {
  let costs = asciiCosts.get(depth);
  if (!costs) {
    costs = new Uint8Array(128);
    for (let c = 0; c < 128; c++) costs[c] = escapedBytes(String.fromCharCode(c), depth);
    asciiCosts.set(depth, costs);
  }
  return costs;
}

/**
 * The longest beginning of `text` that takes at most `budget` bytes once JSON-escaped
 * `depth` times (1 in a frame, 2 in a relay envelope's frame). Never splits a character.
 */
export function prefixWithin(text: string, budget: number, depth: number): string {
  const ascii = asciiCostsAt(depth);
  let used = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    let cost: number;
    let width = 1;
    if (c < 0x80) cost = ascii[c]!;
    else if (c < 0x800) cost = 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      cost = 4;
      width = 2;
    } else if (c >= 0xd800 && c <= 0xdfff) cost = escapedBytes(text[i]!, depth);
    else cost = 3;
    if (used + cost > budget) break;
    used += cost;
    i += width;
  }
  return text.slice(0, i);
}
