import { BosunError } from '../errors.ts';
import { streamIdOf } from '../delivery/frames.ts';
import { isOrderedMethod, isValidName, type Message } from '../message.ts';

/**
 * Relaying: a message with `relayViaNode` travels to the relay first, inside a
 * `REQRelay` envelope (`REQnRelay` for an unordered method), on the sender's ordinary
 * stream to the relay. The relay's run of the envelope puts the original message in its
 * own outbox, in the same write that records the run, so the message is handed on once
 * and in order. The original keeps its sender, id and signature: the target checks it
 * as if it had come directly, and sends its reply back through the same relay.
 */
export const RELAY_METHOD = 'REQRelay';
export const UNORDERED_RELAY_METHOD = 'REQnRelay';
export const RELAY_METHODS: ReadonlySet<string> = new Set([RELAY_METHOD, UNORDERED_RELAY_METHOD]);

/** True when `node` must hand `message` to a relay instead of sending it itself. */
export function needsRelay<M extends Pick<Message, 'toNode' | 'relayViaNode'>>(message: M, node: string): message is M & { relayViaNode: string } {
  return message.relayViaNode !== undefined && message.relayViaNode !== node && message.relayViaNode !== message.toNode;
}

/** The method of the envelope that carries a message of `method`. */
export function relayMethodFor(method: string): string {
  return isOrderedMethod(method) ? RELAY_METHOD : UNORDERED_RELAY_METHOD;
}

/** The stream on which `node` sends a message: to its target, or to its relay. */
export function outboundStreamOf(node: string, m: Pick<Message, 'toNode' | 'method' | 'relayViaNode'>): string {
  return needsRelay(m, node) ? streamIdOf(node, m.relayViaNode, relayMethodFor(m.method)) : streamIdOf(node, m.toNode, m.method);
}

/** The envelope that carries `message` from `node` to its relay. */
export function relayEnvelope(message: Message & { relayViaNode: string }, node: string, now: number): Message {
  return {
    // The envelope shares the message's id: its ACK is the message's first hop, and the
    // queue and audit show the same id on every node.
    id: message.id,
    fromNode: node,
    toNode: message.relayViaNode,
    method: relayMethodFor(message.method),
    methodArgs: [message.toNode, message.method],
    data: JSON.stringify(message),
    replyMethod: 'none',
    replyMethodArgs: [],
    ACKTimeout: message.ACKTimeout,
    retries: message.retries,
    retryWait: message.retryWait,
    methodTimeout: -1,
    acceptedAt: now,
  };
}

/** The message an envelope carries, checked: only its own sender's message, for a relay through `node`. */
export function relayedMessage(envelope: Message, node: string): Message {
  let inner: unknown;
  try {
    inner = JSON.parse(envelope.data ?? '');
  } catch {
    throw bad('its data is not JSON');
  }
  if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) throw bad('its data is not a message');
  const m = inner as Record<string, unknown>;
  if (typeof m.id !== 'string' || m.id === '' || m.id.length > 256) throw bad('the message has no valid id');
  if (m.fromNode !== envelope.fromNode) {
    throw bad(`a node relays only its own messages, and this one is from ${String(m.fromNode)}, not ${envelope.fromNode}`);
  }
  if (m.relayViaNode !== node) throw bad(`the message names relay ${String(m.relayViaNode)}, not ${node}`);
  for (const field of ['toNode', 'method'] as const) {
    if (typeof m[field] !== 'string' || !isValidName(m[field] as string)) throw bad(`its ${field} is not a valid name`);
  }
  if (m.toNode === node) throw bad(`the message is for ${node} itself`);
  if (m.method !== envelope.methodArgs[1] || m.toNode !== envelope.methodArgs[0]) throw bad('the envelope names another target or method');
  if (RELAY_METHODS.has(m.method as string)) throw bad('a relay envelope cannot carry another');
  if (isOrderedMethod(m.method as string) !== (envelope.method === RELAY_METHOD)) throw bad('an ordered method travels in REQRelay, an unordered one in REQnRelay');
  for (const field of ['methodArgs', 'replyMethodArgs'] as const) {
    const v = m[field];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw bad(`its ${field} is not an array of strings`);
  }
  if (typeof m.replyMethod !== 'string') throw bad('it has no replyMethod');
  if (m.data !== undefined && typeof m.data !== 'string') throw bad('its data is not a string');
  const numbers = { ACKTimeout: m.ACKTimeout, retryWait: m.retryWait, methodTimeout: m.methodTimeout, acceptedAt: m.acceptedAt };
  for (const [field, v] of Object.entries(numbers)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`its ${field} is not a number`);
  }
  if ((m.ACKTimeout as number) <= 0 || (m.retryWait as number) < 0) throw bad('its ACKTimeout or retryWait is out of range');
  if (typeof m.retries !== 'number' || !Number.isInteger(m.retries) || m.retries < -1) throw bad('its retries is not a whole number of -1 or more');
  return m as unknown as Message;
}

function bad(why: string): BosunError {
  return new BosunError('BOSUN_BAD_MESSAGE', `cannot relay the message: ${why}`);
}
