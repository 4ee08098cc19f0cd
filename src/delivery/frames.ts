import { randomBytes } from 'node:crypto';
import type { Message } from '../message.ts';

/**
 * What travels between nodes. Every frame carries a version and named fields, never
 * positional encoding, so a field can be added without breaking older nodes.
 *
 * A stream is one (fromNode, toNode, method); `seq` numbers its messages from 1, within
 * one **incarnation** of the stream's sender state (`inc`): a random id made when the
 * sender first creates the stream and kept in its store. A sender whose store was lost
 * makes a new one and numbers from 1 again.
 *
 * Version 2 (version 1 had no incarnation and no delivery signature; nodes of the two
 * versions drop each other's frames as "not a bosun frame": upgrade a fleet together).
 */
export const FRAME_VERSION = 2;

/*
 * Authentication (a node with a guard; see src/security/README.md, "Frames"):
 *
 * - A data frame's message carries its sender's signature over the whole envelope, and the
 *   frame carries the **delivery signature** `sig` of the node that publishes it (the
 *   stream's sender; for relayed traffic the relay, while the message keeps its original
 *   sender's signature): ed25519 over `bosun-delivery-v1\n` and the canonical JSON of
 *   `{type, stream, inc, seq, sha256}`, `sha256` the hex digest of the message's JSON text.
 *   A captured message cannot be published again under another number or incarnation.
 * - Skip, ACK and resume frames carry no message: the node that sends one signs it
 *   (`signature`, ed25519 over `bosun-frame-v1\n` and the canonical JSON of the frame
 *   without it). An ACK names the incarnation it acknowledges and the id of the message at
 *   `upTo` (`id`), or of each message in `seqs` (`ids`): a sender drops only what the ACK
 *   names, so an ACK earned on another message or incarnation drops nothing.
 *
 * Nodes without a guard send no signatures and look at none.
 */
export type Frame = DataFrame | SkipFrame | AckFrame | ResumeFrame;

/** One message of a stream. */
export interface DataFrame {
  v: 2;
  type: 'data';
  stream: string;
  inc: string;
  seq: number;
  /** The delivery signature (a node with a guard). */
  sig?: string;
  message: Message;
}

/** The message at `seq` was dead-lettered by its sender: the receiver moves past it. */
export interface SkipFrame {
  v: 2;
  type: 'skip';
  stream: string;
  inc: string;
  seq: number;
  signature?: string;
}

/**
 * "Durably received". Ordered streams ACK cumulatively (`upTo`, with the id of the
 * message there, none for a skip); unordered streams name the sequence numbers they hold
 * (`seqs`, with `ids`: each message's id, '' for a skip).
 */
export interface AckFrame {
  v: 2;
  type: 'ack';
  stream: string;
  inc: string;
  upTo?: number;
  id?: string;
  seqs?: number[];
  ids?: string[];
  signature?: string;
}

/** Sent by a node that just started to the senders it knows: resend now, I am back. */
export interface ResumeFrame {
  v: 2;
  type: 'resume';
  stream: string;
  signature?: string;
}

/** The frames that say something about a stream without carrying a message: signed as frames. */
export type SignedFrame = Exclude<Frame, DataFrame>;

/** What an ACK says, before it is a frame. */
export type AckBody = Omit<AckFrame, 'v' | 'type' | 'stream' | 'signature'>;

const INCARNATION = /^[0-9a-z]{1,11}-[0-9a-f]{16}$/;

/**
 * A new incarnation id: the time it was made (base 36 ms) and 64 random bits. The time
 * lets a receiver tell a sender that started over (a newer incarnation) from a replay of
 * an older one.
 */
export function newIncarnation(now: number = Date.now()): string {
  return `${Math.max(0, Math.floor(now)).toString(36)}-${randomBytes(8).toString('hex')}`;
}

/** When the incarnation was made (ms): older ones are never taken again. */
export function incarnationTime(inc: string): number {
  return parseInt(inc.slice(0, inc.indexOf('-')), 36);
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A frame's bytes. `Buffer.from` rather than `TextEncoder`: for frames of a few hundred
 * bytes it is about four times as fast (a slice of a shared pool, not an allocation).
 */
export function encodeFrame(frame: Frame): Uint8Array {
  return Buffer.from(JSON.stringify(frame), 'utf8');
}

/**
 * The data frame of one message from the message's JSON text (`messageJson`), made once
 * for its outbox row and its frame: the same text as `encodeFrame` makes of it.
 */
export function encodeDataFrame(stream: string, inc: string, seq: number, messageJson: string, sig?: string): Uint8Array {
  const signed = sig === undefined ? '' : `"sig":${JSON.stringify(sig)},`;
  return Buffer.from(`{"v":${FRAME_VERSION},"type":"data","stream":${JSON.stringify(stream)},"inc":"${inc}","seq":${seq},${signed}"message":${messageJson}}`, 'utf8');
}

/**
 * The JSON text a received message came in, for messages `decodeFrame` took apart from
 * their frame's text: the receiver writes it to the inbox, and checks the delivery
 * signature over it, instead of serialising the message again. Kept beside the message,
 * never in it, so nothing from the wire can set it.
 */
const receivedText = new WeakMap<Message, string>();

/** The JSON text `message` arrived in, when the decoder kept it (see `receivedText`). */
export function messageTextOf(message: Message): string | undefined {
  return receivedText.get(message);
}

const DATA_FRAME_START = `{"v":${FRAME_VERSION},"type":"data",`;
const MESSAGE_MEMBER = ',"message":';
const DATA_FRAME_KEYS = new Set(['v', 'type', 'stream', 'inc', 'seq', 'sig']);

/**
 * A data frame as `encodeDataFrame` writes it (`message` last), taken apart without
 * serialising the message again: the text before `,"message":` closed with `}` must be a
 * frame without a message (only the data frame's own fields), and the text after it, up
 * to the final `}`, the message. Then the frame is exactly what parsing the whole text
 * would give, and the message's text is known. Anything else is left to the general path.
 */
function splitDataFrame(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith(DATA_FRAME_START) || text.charCodeAt(text.length - 1) !== 0x7d) return undefined;
  const at = text.indexOf(MESSAGE_MEMBER);
  if (at < 0) return undefined;
  try {
    const frame = JSON.parse(`${text.slice(0, at)}}`) as Record<string, unknown>;
    for (const key in frame) if (!DATA_FRAME_KEYS.has(key)) return undefined;
    const json = text.slice(at + MESSAGE_MEMBER.length, -1);
    const message = JSON.parse(json) as unknown;
    if (!message || typeof message !== 'object' || Array.isArray(message)) return undefined;
    receivedText.set(message as Message, json);
    frame.message = message;
    return frame;
  } catch {
    return undefined;
  }
}

/** Returns undefined for anything that is not a well-formed frame of a known version. */
export function decodeFrame(payload: Uint8Array): Frame | undefined {
  let value: unknown;
  try {
    const text = decoder.decode(payload);
    value = splitDataFrame(text) ?? JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object') return undefined;
  const f = value as Record<string, unknown>;
  if (f.v !== FRAME_VERSION || typeof f.stream !== 'string' || !parseStreamId(f.stream)) return undefined;
  if (f.signature !== undefined && typeof f.signature !== 'string') return undefined;
  if (f.type !== 'resume' && !(typeof f.inc === 'string' && INCARNATION.test(f.inc))) return undefined;
  switch (f.type) {
    case 'data':
      if (f.sig !== undefined && typeof f.sig !== 'string') return undefined;
      return Number.isSafeInteger(f.seq) && f.message && typeof f.message === 'object' && !Array.isArray(f.message) ? (f as unknown as Frame) : undefined;
    case 'skip':
      return Number.isSafeInteger(f.seq) ? (f as unknown as Frame) : undefined;
    case 'ack':
      if (f.upTo !== undefined && !Number.isSafeInteger(f.upTo)) return undefined;
      if (f.id !== undefined && typeof f.id !== 'string') return undefined;
      if (f.seqs !== undefined && !(Array.isArray(f.seqs) && f.seqs.every(Number.isSafeInteger))) return undefined;
      if (f.ids !== undefined && !(Array.isArray(f.ids) && Array.isArray(f.seqs) && f.ids.length === f.seqs.length && f.ids.every((id) => typeof id === 'string'))) return undefined;
      return f as unknown as Frame;
    case 'resume':
      return f as unknown as Frame;
    default:
      return undefined;
  }
}

export interface StreamId {
  fromNode: string;
  toNode: string;
  method: string;
}

export function streamIdOf(fromNode: string, toNode: string, method: string): string {
  return `${fromNode}~${toNode}~${method}`;
}

/** Streams parsed lately: every frame names its stream, and a node has few of them. */
const parsedStreams = new Map<string, Readonly<StreamId>>();
const PARSED_STREAMS_MAX = 4096;

/** The parts of a stream id; undefined when it is not one. The result is shared: do not change it. */
export function parseStreamId(stream: string): Readonly<StreamId> | undefined {
  const known = parsedStreams.get(stream);
  if (known) return known;
  const parts = stream.split('~');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) return undefined;
  const ids = Object.freeze({ fromNode: parts[0]!, toNode: parts[1]!, method: parts[2]! });
  // Bounded whatever streams frames name: a full table starts again.
  if (parsedStreams.size >= PARSED_STREAMS_MAX) parsedStreams.clear();
  parsedStreams.set(stream, ids);
  return ids;
}

/** steward's subject kinds: commands expect output back, events only delivery. */
function kindOf(method: string): 'CommandACK' | 'EventACK' {
  return /Command/.test(method) ? 'CommandACK' : 'EventACK';
}

/*
 * Every subject is `<addressee>.<publisher>.<method>.<kind>`. The addressee comes first, so
 * a node receives everything for it on `<node>.>`; the publisher comes second, so a
 * nats-server can let a node publish only subjects that name it (`bosun nats-config`),
 * and a receiver drops a frame whose subject does not name the stream's other party.
 * Without the publisher in the subject, any node allowed to reach central could ACK
 * central's messages to another node, or burn the sequence numbers of its streams. On a
 * broker that does not confine publishers, a node with a guard still drops such frames:
 * it checks signatures before a frame changes anything (`runtime/FrameAuth.ts`).
 */

/** Subject a data or skip frame travels on: `<toNode>.<fromNode>.<method>.<CommandACK|EventACK>`. */
export function dataSubject(s: StreamId): string {
  return `${s.toNode}.${s.fromNode}.${s.method}.${kindOf(s.method)}`;
}

/** Subject of the ACK that goes back to the sender: `<fromNode>.<toNode>.<method>.ACK`. */
export function ackSubject(s: StreamId): string {
  return `${s.fromNode}.${s.toNode}.${s.method}.ACK`;
}

/** Subject a restarted receiver nudges its senders on: `<fromNode>.<toNode>.<method>.RESUME`. */
export function resumeSubject(s: StreamId): string {
  return `${s.fromNode}.${s.toNode}.${s.method}.RESUME`;
}

/** The node a subject says published it: its second token (undefined when it has none). */
export function publisherOf(subject: string): string | undefined {
  const first = subject.indexOf('.');
  if (first < 0) return undefined;
  const second = subject.indexOf('.', first + 1);
  return second < 0 ? undefined : subject.slice(first + 1, second);
}
