import type { Message } from '../message.ts';

/**
 * What travels between nodes. Every frame carries a version and named fields, never
 * positional encoding, so a field can be added without breaking older nodes.
 *
 * A stream is one (fromNode, toNode, method); `seq` numbers its messages from 1.
 */
export const FRAME_VERSION = 1;

/*
 * A data frame's message carries its sender's signature when the fleet runs with a guard.
 * Skip, ACK and resume frames carry nothing of the kind, so a node with a guard signs them
 * itself (`signature`, base64 ed25519 over the frame without it; see the guard's
 * `sealFrame`). Nodes without a guard neither add nor look at it.
 */
export type Frame =
  /** One message of a stream. */
  | { v: 1; type: 'data'; stream: string; seq: number; message: Message }
  /** The message at `seq` was dead-lettered by its sender: the receiver moves past it. */
  | { v: 1; type: 'skip'; stream: string; seq: number; signature?: string }
  /**
   * "Durably received". Ordered streams ACK cumulatively (`upTo`); unordered streams
   * name the sequence numbers they hold (`seqs`).
   */
  | { v: 1; type: 'ack'; stream: string; upTo?: number; seqs?: number[]; signature?: string }
  /** Sent by a node that just started to the senders it knows: resend now, I am back. */
  | { v: 1; type: 'resume'; stream: string; signature?: string };

/** The frames that say something about a stream without carrying a message: signed as frames. */
export type SignedFrame = Exclude<Frame, { type: 'data' }>;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeFrame(frame: Frame): Uint8Array {
  return encoder.encode(JSON.stringify(frame));
}

/**
 * The data frame of one message from the message's JSON text (`messageJson`), made once
 * for its outbox row and its frame: the same text as `encodeFrame` makes of it.
 */
export function encodeDataFrame(stream: string, seq: number, messageJson: string): Uint8Array {
  return encoder.encode(`{"v":${FRAME_VERSION},"type":"data","stream":${JSON.stringify(stream)},"seq":${seq},"message":${messageJson}}`);
}

/** Returns undefined for anything that is not a well-formed frame of a known version. */
export function decodeFrame(payload: Uint8Array): Frame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object') return undefined;
  const f = value as Partial<Frame> & Record<string, unknown>;
  if (f.v !== FRAME_VERSION || typeof f.stream !== 'string' || !parseStreamId(f.stream)) return undefined;
  if (f.signature !== undefined && typeof f.signature !== 'string') return undefined;
  switch (f.type) {
    case 'data':
      return Number.isSafeInteger(f.seq) && f.message && typeof f.message === 'object' ? (f as Frame) : undefined;
    case 'skip':
      return Number.isSafeInteger(f.seq) ? (f as Frame) : undefined;
    case 'ack':
      if (f.upTo !== undefined && !Number.isSafeInteger(f.upTo)) return undefined;
      if (f.seqs !== undefined && !(Array.isArray(f.seqs) && f.seqs.every(Number.isSafeInteger))) return undefined;
      return f as Frame;
    case 'resume':
      return f as Frame;
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

export function parseStreamId(stream: string): StreamId | undefined {
  const parts = stream.split('~');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) return undefined;
  return { fromNode: parts[0]!, toNode: parts[1]!, method: parts[2]! };
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
