/**
 * A node's answer to a directive (`response`, more to come; `eof`, the last), checked and
 * turned into the record the responses stream carries (receptor-wire.md §8).
 */
import type { ReceptorMessage } from './reader.ts';

/** One entry of the responses stream, keyed by `in_response_to` (the job's id). */
export interface ResponseRecord {
  account: string;
  sender: string;
  message_id: string;
  message_type: 'response' | 'eof';
  payload: unknown;
  code: number;
  in_response_to: string;
  serial: number;
}

export type ReplyVerdict = { ok: true; record: ResponseRecord } | { ok: false; reason: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Reads a routed message as a reply from the node of `account`. A reply not addressed to
 * this gateway, or whose `in_response_to` is no UUID, is refused (as Go refuses it). The
 * timestamp is not read: Go dropped the whole connection over one it could not parse.
 */
export function readReply(
  message: Extract<ReceptorMessage, { kind: 'routed' }>,
  context: { account: string; gatewayId: string },
): ReplyVerdict {
  const { routing, envelope } = message;
  if (routing.recipient !== context.gatewayId) {
    return { ok: false, reason: `addressed to ${JSON.stringify(routing.recipient)}, not to this gateway` };
  }
  const type = envelope.message_type;
  if (type !== 'response' && type !== 'eof') return { ok: false, reason: `message_type ${JSON.stringify(type)} is not a reply` };
  const { sender, message_id: messageId, in_response_to: inResponseTo } = envelope;
  if (typeof inResponseTo !== 'string' || !UUID.test(inResponseTo)) return { ok: false, reason: 'in_response_to is not a UUID' };
  if (typeof sender !== 'string' || typeof messageId !== 'string') return { ok: false, reason: 'sender or message_id is not a string' };
  const code = envelope.code ?? 0;
  const serial = envelope.serial ?? 0;
  if (!Number.isInteger(code) || !Number.isInteger(serial)) return { ok: false, reason: 'code or serial is not an integer' };
  return {
    ok: true,
    record: {
      account: context.account,
      sender,
      message_id: messageId,
      message_type: type,
      payload: envelope.raw_payload ?? null,
      code: code as number,
      in_response_to: inResponseTo,
      serial: serial as number,
    },
  };
}
