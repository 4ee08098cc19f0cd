/**
 * The gateway's NATS side for `RECEPTOR_CONTROLLER_GATEWAY_CONNECTION_REGISTRAR_IMPL=nats`:
 * the shared registry (KV, needs JetStream: `nats-server -js`) and forwarding between
 * instances (core NATS).
 */
import { connect, type NatsConnection } from 'nats';
import type { Clock } from '../clock.ts';
import { BosunError } from '../errors.ts';
import type { GatewayConfig } from './config.ts';
import type { GatewayLogger, ReceptorGateway } from './gateway.ts';
import { NatsInstanceLink } from './natsLink.ts';
import { NatsKvRegistry } from './natsRegistry.ts';

export interface NatsBackend {
  openRegistry(clock: Clock): Promise<NatsKvRegistry>;
  openLink(gateway: ReceptorGateway): Promise<NatsInstanceLink>;
  /** Closes the connection if the backend opened it. */
  close(): Promise<void>;
}

export async function connectNatsBackend(config: GatewayConfig, given: NatsConnection | undefined, logger: GatewayLogger): Promise<NatsBackend> {
  let nc = given;
  if (!nc) {
    if (!config.natsUrl) {
      throw new BosunError('BOSUN_BAD_CONFIG', 'the nats registrar needs a NATS connection: set RECEPTOR_CONTROLLER_NATS_URL');
    }
    try {
      nc = await connect({ servers: config.natsUrl.split(',').map((s) => s.trim()), name: `receptor-gateway-${config.instanceId}`, maxReconnectAttempts: -1 });
    } catch (error) {
      throw new BosunError('BOSUN_TRANSPORT', `the gateway cannot reach NATS at ${config.natsUrl}: ${(error as Error).message}`, { cause: error });
    }
  }
  const connection = nc;
  let registry: NatsKvRegistry | undefined;
  return {
    async openRegistry(clock) {
      try {
        registry = await NatsKvRegistry.open(connection, clock, config);
      } catch (error) {
        throw new BosunError('BOSUN_TRANSPORT', `cannot open the gateway registry in NATS KV (is JetStream enabled, nats-server -js?): ${(error as Error).message}`, {
          cause: error,
        });
      }
      return registry;
    },
    async openLink(gateway) {
      if (registry) {
        registry.onLost = (entry) => {
          logger.info({ account: entry.account, node: entry.nodeId }, 'a newer session of this node registered on another instance');
          gateway.localCloseDuplicate(entry.sessionId);
        };
      }
      return NatsInstanceLink.open(connection, gateway);
    },
    async close() {
      if (!given) await connection.drain();
    },
  };
}
