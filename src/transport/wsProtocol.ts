/**
 * What a ws peer and its gateway say to each other. A binary message is one frame: a
 * 2-byte big-endian subject length, the subject in UTF-8, then the payload. A text message
 * is a JSON control message: the peer's `hello` naming its node, the gateway's `welcome`.
 * Close codes in the 4000 range tell a peer why the gateway hung up.
 *
 * Version 2 adds proof of the name: a gateway that checks names answers a version-2 hello
 * with a `challenge` (a fresh random value), the peer answers with a `proof` (its
 * signature over the challenge, its node and the gateway's node), and only then comes the
 * welcome. A gateway that does not check names welcomes at once, as in version 1; a
 * version-1 peer never sees a challenge, and a version-1 gateway ignores the version.
 * @internal
 */
import { isPublishSubject } from './subjects.ts';

export const WS_PROTOCOL_VERSION = 2;
/** The first version whose peers answer a challenge. */
export const WS_CHALLENGE_VERSION = 2;
/** Largest ws message either side accepts unless configured otherwise. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
const MAX_SUBJECT_BYTES = 0xffff;
/**
 * The most a ws frame adds to a bosun payload: the subject's length field and the subject,
 * `<node>.<node>.<method>.<kind>` with names of up to 128 characters.
 */
export const WS_FRAME_OVERHEAD_BYTES = 2 + 3 * 128 + 3 + 'CommandACK'.length;

export interface Hello {
  v: number;
  type: 'hello';
  node: string;
  /** The largest ws message the peer accepts. */
  maxMessageBytes: number;
}

export interface Welcome {
  v: number;
  type: 'welcome';
  /** The gateway's own node. */
  gateway: string;
  /** The largest ws message the gateway accepts. */
  maxMessageBytes: number;
}

/** A gateway that checks names asks the peer to sign this before it welcomes it. */
export interface Challenge {
  v: number;
  type: 'challenge';
  /** The gateway's own node, which the proof names. */
  gateway: string;
  /** Fresh random bytes, base64, good for this socket's proof only. */
  challenge: string;
}

/** The peer's answer to a challenge. */
export interface Proof {
  v: number;
  type: 'proof';
  /** The peer's signature over its `HelloClaim`; absent from a node that has no key. */
  signature?: string;
}

/** What a peer's proof signs: the challenge, bound to both ends of the socket. */
export interface HelloClaim {
  challenge: string;
  /** The node the peer says it is. */
  node: string;
  /** The gateway's node, as its challenge named it. */
  gateway: string;
}

export type ControlMessage = Hello | Welcome | Challenge | Proof;

/** Why the gateway closed a peer's socket. */
export const CloseCode = {
  /** Normal close. */
  normal: 1000,
  /** The gateway or the node is going away. */
  goingAway: 1001,
  /** Broken framing or a message that is not a frame. */
  protocolError: 1002,
  /** ws's own code for a message over `maxPayload`. */
  tooBig: 1009,
  /** No hello in time, or a bad one. */
  badHello: 4000,
  /** Another connection said hello with the same node name. */
  replaced: 4001,
  /** `authorize` refused the node, or it did not prove its name. */
  forbidden: 4003,
  /** No pong in time. */
  deadLink: 4008,
} as const;

/**
 * One frame as one ws message, or undefined when the subject is invalid (see
 * `isPublishSubject`) or longer than the length field holds.
 */
export function encodeWsFrame(subject: string, payload: Uint8Array): Buffer | undefined {
  if (!isPublishSubject(subject)) return undefined;
  const subjectBytes = Buffer.byteLength(subject, 'utf8');
  if (subjectBytes > MAX_SUBJECT_BYTES) return undefined;
  const frame = Buffer.allocUnsafe(2 + subjectBytes + payload.byteLength);
  frame.writeUInt16BE(subjectBytes, 0);
  frame.write(subject, 2, 'utf8');
  frame.set(payload, 2 + subjectBytes);
  return frame;
}

/** The subject and payload of a ws frame; the payload is a view into `message`, not a copy. */
export function decodeWsFrame(message: Buffer): { subject: string; payload: Uint8Array } | undefined {
  if (message.length < 2) return undefined;
  const end = 2 + message.readUInt16BE(0);
  if (end > message.length) return undefined;
  return { subject: message.toString('utf8', 2, end), payload: message.subarray(end) };
}

/** A control message, or undefined when `text` is not one this version knows. */
export function parseControl(text: string): ControlMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Record<string, unknown>;
  if (typeof m.v !== 'number') return undefined;
  if (m.type === 'challenge') return typeof m.gateway === 'string' && typeof m.challenge === 'string' ? (m as unknown as Challenge) : undefined;
  if (m.type === 'proof') return m.signature === undefined || typeof m.signature === 'string' ? (m as unknown as Proof) : undefined;
  if (typeof m.maxMessageBytes !== 'number' || !(m.maxMessageBytes > 0)) return undefined;
  if (m.type === 'hello' && typeof m.node === 'string') return m as unknown as Hello;
  if (m.type === 'welcome' && typeof m.gateway === 'string') return m as unknown as Welcome;
  return undefined;
}

/** Largest close reason a ws close frame carries, in bytes. */
const MAX_CLOSE_REASON_BYTES = 123;

/** `reason` cut to what a close frame carries, never inside a character. */
export function closeReason(reason: string): string {
  if (Buffer.byteLength(reason, 'utf8') <= MAX_CLOSE_REASON_BYTES) return reason;
  let cut = reason.slice(0, MAX_CLOSE_REASON_BYTES - 1);
  while (Buffer.byteLength(cut, 'utf8') > MAX_CLOSE_REASON_BYTES - 3) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** Reads a ws message's data as one Buffer, whatever `binaryType` produced. */
export function asBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
