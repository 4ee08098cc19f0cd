/**
 * What the gateway writes to a node, byte for byte as the Go gateway writes it:
 * compact JSON with a trailing newline, zero msg_ids, and one websocket message per
 * receptor message (receptor-wire.md §5, §7).
 */
import { encodeFrame, FrameType } from './frame.ts';

/**
 * The keys of a directive's inner envelope, in Go's order. The node builds its envelope
 * class from these keywords: one key more or less and it drops the message without a reply.
 */
export interface DirectiveEnvelope {
  message_id: string;
  sender: string;
  recipient: string;
  message_type: 'directive';
  timestamp: string;
  raw_payload: unknown;
  directive: string;
  in_response_to: string;
  code: number;
  serial: number;
}

export interface DirectiveInput {
  /** The gateway's node id: the node answers to it, so it must be the id of the HI reply. */
  gatewayId: string;
  /** The node's id; the node forwards, into a dead queue, anything addressed elsewhere. */
  recipient: string;
  messageId: string;
  /** Go's zone-less timestamp, see `goTimestamp`. */
  timestamp: string;
  payload: unknown;
  directive: string;
}

/**
 * JSON as Go's encoder writes it: `JSON.stringify`, plus Go's escapes of `<`, `>`, `&`,
 * U+2028 and U+2029 (they only occur inside strings, so replacing them everywhere is safe),
 * and a trailing newline.
 */
export function goJson(value: unknown): Buffer {
  const text = JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return Buffer.from(`${text}\n`, 'utf8');
}

/** The gateway's answer to a node's HI, sent before anything else. */
export function hiReply(gatewayId: string): Buffer {
  return encodeFrame(FrameType.command, goJson({ cmd: 'HI', id: gatewayId, expire_time: null, meta: null }));
}

/** The envelope of a directive, with exactly the keys the node accepts. */
export function directiveEnvelope(input: DirectiveInput): DirectiveEnvelope {
  return {
    message_id: input.messageId,
    sender: input.gatewayId,
    recipient: input.recipient,
    message_type: 'directive',
    timestamp: input.timestamp,
    raw_payload: input.payload,
    directive: input.directive,
    in_response_to: '',
    code: 0,
    serial: 0,
  };
}

/** A directive as one websocket message: HEADER frame + routing, PAYLOAD frame + envelope. */
export function directiveMessage(input: DirectiveInput): Buffer {
  const routing = { sender: input.gatewayId, recipient: input.recipient, route_list: [input.recipient] };
  return Buffer.concat([
    encodeFrame(FrameType.header, goJson(routing)),
    encodeFrame(FrameType.payload, goJson(directiveEnvelope(input))),
  ]);
}

/** `.123400000` → `.1234`, and no dot at all for a whole second: Go's `.999999999` layout. */
function trimFraction(iso: string): string {
  return iso.replace(/\.?0+$/, '');
}

/** Go's `2006-01-02T15:04:05.999999999` in UTC: no zone, trailing zeros trimmed. */
export function goTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString();
  return trimFraction(iso.slice(0, -1));
}

/** Go's JSON form of a `time.Time` in UTC (RFC 3339 with trimmed fraction and `Z`). */
export function goJsonTime(ms: number): string {
  return `${goTimestamp(ms)}Z`;
}
