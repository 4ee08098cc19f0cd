import { BosunError } from '../errors.ts';
import { reportUncaught } from './handlerErrors.ts';
import { addresseeOf } from './subjects.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, type FrameHandler, type HandlerErrorReporter, type Transport, type TransportStatus } from './types.ts';
import { DEFAULT_MAX_MESSAGE_BYTES, WS_FRAME_OVERHEAD_BYTES } from './wsProtocol.ts';
import type { WsGateway } from './WsGateway.ts';
import { assertStartable } from './startRule.ts';

export interface RoutedTransportOptions {
  /** Where exceptions thrown by the frame handler for frames from ws peers go; by default they become uncaught exceptions. */
  onHandlerError?: HandlerErrorReporter;
}

/**
 * The transport of a gateway node: its base transport (NATS or embedded) joined with the
 * ws peers of its `WsGateway`. To the node's runtime it is one transport like any other;
 * frames to a ws peer go over its socket, everything else over the base transport, and
 * frames for ws peers that arrive on the base transport (see `Transport.route`) are passed
 * on to them. Status is the base transport's: the node is connected when it reaches the
 * fleet, whatever its peers do.
 */
export class RoutedTransport implements Transport {
  readonly kind: Transport['kind'];
  readonly #base: Transport;
  readonly #gateway: WsGateway;
  readonly #onHandlerError: HandlerErrorReporter;
  #node: string | undefined;
  #onFrame: FrameHandler | undefined;
  #closed = false;

  constructor(base: Transport, gateway: WsGateway, options: RoutedTransportOptions = {}) {
    this.#base = base;
    this.#gateway = gateway;
    this.kind = base.kind;
    this.#onHandlerError = options.onHandlerError ?? reportUncaught;
  }

  get status(): TransportStatus {
    return this.#closed ? 'closed' : this.#base.status;
  }

  /** The smaller of the base transport's limit and what a ws peer takes by default. */
  get maxPayloadBytes(): number {
    return Math.min(this.#base.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_MAX_MESSAGE_BYTES - WS_FRAME_OVERHEAD_BYTES);
  }

  get server(): string | undefined {
    return this.#base.server;
  }

  async start(node: string, onFrame: FrameHandler): Promise<void> {
    assertStartable(this.#closed, this.#node);
    if (this.#gateway.bound) throw new BosunError('BOSUN_TRANSPORT', 'the gateway already serves another node');
    this.#onFrame = onFrame;
    this.#node = node;
    try {
      await this.#base.start(node, this.#fromBase);
    } catch (error) {
      this.#node = undefined;
      throw error;
    }
    const base = this.#base;
    this.#gateway.bind({
      node,
      deliverLocal: this.#fromPeer,
      publishBase: (subject, payload) => base.publish(subject, payload),
      ...(base.route ? { route: (peer: string) => base.route!(peer) } : {}),
    });
  }

  publish(subject: string, payload: Uint8Array): void {
    if (this.#node === undefined || this.#closed) return;
    if (!this.#gateway.sendToPeer(subject, payload)) this.#base.publish(subject, payload);
  }

  onStatus(listener: (status: TransportStatus) => void): () => void {
    return this.#base.onStatus(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#node !== undefined) this.#gateway.unbind();
    await this.#base.close();
  }

  /** The base transport's handler: the node's own frames, and those routed here for a peer. */
  readonly #fromBase = (subject: string, payload: Uint8Array): void => {
    if (this.#closed) return;
    if (addresseeOf(subject) === this.#node) {
      // the base transport catches and reports what the node's handler throws
      this.#onFrame!(subject, payload);
      return;
    }
    // a peer that left since its route was asked for is dropped here: at most once
    this.#gateway.sendToPeer(subject, payload);
  };

  readonly #fromPeer = (subject: string, payload: Uint8Array): void => {
    if (this.#closed) return;
    try {
      this.#onFrame!(subject, payload);
    } catch (error) {
      this.#onHandlerError(error, subject);
    }
  };
}
