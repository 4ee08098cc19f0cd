/**
 * How nodes exchange frames: one narrow `Transport` interface, one adapter per medium,
 * chosen by configuration.
 */
import { BosunError } from '../errors.ts';
import type { EmbeddedBus } from './EmbeddedBus.ts';
import { NatsTransport, type NatsTransportOptions } from './NatsTransport.ts';
import type { Transport } from './types.ts';
import { WsTransport, type WsTransportOptions } from './WsTransport.ts';

export type { FrameHandler, HandlerErrorReporter, Transport, TransportStatus } from './types.ts';
export { EmbeddedBus, type BusFaults, type BusStats, type EmbeddedBusOptions } from './EmbeddedBus.ts';
export { NatsTransport, type NatsTransportOptions } from './NatsTransport.ts';
export { WsTransport, type WsTransportOptions } from './WsTransport.ts';
export { WsGateway, type HelloVerdict, type WsGatewayOptions, type WsGatewayStats } from './WsGateway.ts';
export type { HelloClaim } from './wsProtocol.ts';
export { RoutedTransport, type RoutedTransportOptions } from './RoutedTransport.ts';
export { listenWsGateway, type ListenWsGatewayOptions, type WsGatewayServer } from './listenWsGateway.ts';
export { addresseeOf, assertNodeName, isPublishSubject } from './subjects.ts';

export type TransportConfig =
  | { kind: 'embedded'; bus: EmbeddedBus }
  | ({ kind: 'nats' } & NatsTransportOptions)
  | ({ kind: 'ws' } & WsTransportOptions);

/** A new, unstarted transport for the configured medium. */
export function createTransport(config: TransportConfig): Transport {
  switch (config.kind) {
    case 'embedded':
      return config.bus.transport();
    case 'nats': {
      const { kind: _kind, ...options } = config;
      return new NatsTransport(options);
    }
    case 'ws': {
      const { kind: _kind, ...options } = config;
      return new WsTransport(options);
    }
    default:
      // configuration arrives as JSON, so the type system cannot promise this is unreachable
      throw new BosunError('BOSUN_BAD_CONFIG', `unknown transport kind ${JSON.stringify((config as { kind: unknown }).kind)}`);
  }
}
