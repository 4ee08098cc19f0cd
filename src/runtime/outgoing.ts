import type { Clock } from '../clock.ts';
import { BosunError } from '../errors.ts';
import type { Message } from '../message.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, type Transport } from '../transport/types.ts';
import { dataFrameBytes, fitsInFrame, prefixWithin } from '../delivery/frameBudget.ts';
import { streamIdOf } from '../delivery/frames.ts';
import type { MessageGuard } from './MessageGuard.ts';
import { needsRelay, relayEnvelope } from './relay.ts';

export interface OutgoingDeps {
  node: string;
  clock: Clock;
  transport: Pick<Transport, 'kind' | 'maxPayloadBytes'>;
  guard?: MessageGuard;
  routes?: Record<string, string>;
}

/**
 * What a message this node sends looks like in the outbox: routed (a relay named by
 * `routes`), sealed by the guard, put in its relay's envelope, and small enough for a
 * frame. Accepted input, replies and error reports all take this one path.
 */
export class Outgoing {
  constructor(private readonly deps: OutgoingDeps) {}

  /** The largest frame the transport carries now. */
  maxFrameBytes(): number {
    return this.deps.transport.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  }

  seal(message: Message): Message {
    return this.deps.guard ? this.deps.guard.seal(message) : message;
  }

  /** A message that names no relay takes the one `routes` gives for its target, if any. */
  withRoute(message: Message): Message {
    const via = this.deps.routes?.[message.toNode];
    if (via === undefined || via === this.deps.node || via === message.toNode || message.relayViaNode !== undefined) return message;
    return { ...message, relayViaNode: via };
  }

  /** What goes in the outbox for `message`: itself, or the envelope that takes it to its relay. */
  route(message: Message): Message {
    return needsRelay(message, this.deps.node) ? this.seal(relayEnvelope(message, this.deps.node, this.deps.clock.now())) : message;
  }

  /**
   * Refuses a message whose frame the transport cannot carry: it would be dropped at every
   * try. A relayed message is measured in its envelope, where its JSON is escaped again.
   */
  assertFits(message: Message, routed: Message): void {
    const limit = this.maxFrameBytes();
    const stream = streamIdOf(this.deps.node, routed.toNode, routed.method);
    if (fitsInFrame(stream, routed, limit)) return;
    const how = routed === message ? '' : ` in its envelope to relay ${routed.toNode}`;
    throw new BosunError(
      'BOSUN_MESSAGE_TOO_LARGE',
      `message ${message.id} to ${message.toNode} is ${dataFrameBytes(stream, routed)} bytes as a frame${how}; the ${this.deps.transport.kind} transport carries at most ${limit} (characters JSON escapes, like " and \\, count double, and double again in a relay envelope)`,
    );
  }

  /**
   * What goes into the outbox for a message this node makes (a reply): sealed, routed, and
   * with its data cut where the frame would be larger than the transport carries — JSON
   * escaping may make a byte of output 6 bytes in a frame, 7 in a relay envelope's. `cut`
   * makes the message that says its data was cut, from the data's size.
   */
  fitted(message: Message, cut: (size: number) => Message): Message {
    const limit = this.maxFrameBytes();
    const routed = this.route(this.seal(message));
    if (fitsInFrame(streamIdOf(this.deps.node, routed.toNode, routed.method), routed, limit)) return routed;
    const text = message.data ?? '';
    const size = Buffer.byteLength(text);
    const note = (kept: number) => `\n[bosun: output cut at ${kept} of ${size} bytes]`;
    const shell = cut(size);
    // The note's number only shrinks: measured with the largest, the frame cannot outgrow it.
    const shellRouted = this.route(this.seal({ ...shell, data: note(size) }));
    const overhead = dataFrameBytes(streamIdOf(this.deps.node, shellRouted.toNode, shellRouted.method), shellRouted);
    const kept = prefixWithin(text, limit - overhead, needsRelay(shell, this.deps.node) ? 2 : 1);
    return this.route(this.seal({ ...shell, data: kept + note(Buffer.byteLength(kept)) }));
  }
}
