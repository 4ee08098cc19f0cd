import { createHash } from 'node:crypto';
import type { Message } from '../message.ts';

/**
 * What a signature covers, and how it is serialised. Changing either is a new version:
 * the prefix is part of the signed bytes, so a signature of one version never verifies
 * as another.
 */
export const ENVELOPE_VERSION = 'bosun-sig-v2';

/**
 * Every field of a message, in signing order. A receiver refuses a message with any
 * other field (but `signature`), so a field added to `Message` later cannot travel
 * unsigned: it has to be added here, in a new version.
 */
export const SIGNED_FIELDS = [
  'id',
  'fromNode',
  'toNode',
  'method',
  'methodArgs',
  'data',
  'replyMethod',
  'replyMethodArgs',
  'ACKTimeout',
  'retries',
  'retryWait',
  'replyACKTimeout',
  'replyRetries',
  'methodTimeout',
  'directory',
  'fileName',
  'schedule',
  'isReply',
  'error',
  'inReplyTo',
  'acceptedAt',
  'expiresAt',
  'relayViaNode',
] as const satisfies ReadonlyArray<keyof Message>;

const SIGNED = new Set<string>(SIGNED_FIELDS);
const encoder = new TextEncoder();

/**
 * The bytes a message's signature is over: the version line, then a JSON object of the
 * signed fields in `SIGNED_FIELDS` order, each value with its object keys sorted, and
 * `null` for a field the message leaves out.
 */
export function envelopeBytes(message: Message): Uint8Array {
  const record = message as unknown as Record<string, unknown>;
  const parts = SIGNED_FIELDS.map((field) => `${JSON.stringify(field)}:${canonicalJson(record[field] ?? null)}`);
  return encoder.encode(`${ENVELOPE_VERSION}\n{${parts.join(',')}}`);
}

/** The first field of `message` a signature would not cover, if any. */
export function unsignedField(message: Message): string | undefined {
  for (const key of Object.keys(message)) {
    if (key !== 'signature' && !SIGNED.has(key) && (message as unknown as Record<string, unknown>)[key] !== undefined) return key;
  }
  return undefined;
}

/**
 * JSON with object keys sorted at every level, `undefined` members dropped: one text for
 * one value, whatever order its keys were built in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/**
 * What a skip, ACK or resume frame's signature is over: `bosun-frame-v1\n` and the
 * canonical JSON of the frame without its signature — its stream, type and sequence
 * numbers, and any field a later version adds. The prefix keeps a frame's signature from
 * ever verifying as a message's or a document's.
 */
export const FRAME_SIGNATURE_VERSION = 'bosun-frame-v1';

export function frameBytes(frame: object & { signature?: unknown }): Uint8Array {
  const { signature: _signature, ...signed } = frame;
  return documentBytes(FRAME_SIGNATURE_VERSION, signed);
}

/**
 * What a data frame's delivery signature is over: `bosun-delivery-v1\n` and the canonical
 * JSON of its type, stream, incarnation, sequence number and the SHA-256 of its message's
 * JSON text (see `delivery/frames.ts`).
 */
export const DELIVERY_SIGNATURE_VERSION = 'bosun-delivery-v1';

export function deliveryBytes(stream: string, inc: string, seq: number, messageJson: string): Uint8Array {
  return documentBytes(DELIVERY_SIGNATURE_VERSION, { type: 'data', stream, inc, seq, sha256: sha256Hex(messageJson) });
}

/** The bytes a signed document's signature is over: `<kind>\n<canonical JSON body>`. */
export function documentBytes(kind: string, body: unknown): Uint8Array {
  return encoder.encode(`${kind}\n${canonicalJson(body)}`);
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
