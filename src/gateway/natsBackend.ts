/**
 * The gateway's NATS side, used with `RECEPTOR_CONTROLLER_GATEWAY_CONNECTION_REGISTRAR_IMPL=nats`
 * or `RECEPTOR_CONTROLLER_NATS_URL`: the shared registry (KV), forwarding between
 * instances (core NATS), the responses stream and the jobs subject (JetStream when the
 * server has it, `nats-server -js`).
 */
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import type { ErrorSink } from '../../supervisors/types.ts';
import type { Clock } from '../clock.ts';
import { BosunError } from '../errors.ts';
import type { Store } from '../store/types.ts';
import type { GatewayConfig } from './config.ts';
import type { GatewayLogger, ReceptorGateway } from './gateway.ts';
import { jetStreamManager } from './jetstream.ts';
import { type JobsIntake, startCoreJobsIntake, startJetStreamJobsIntake } from './jobsIntake.ts';
import { NatsInstanceLink } from './natsLink.ts';
import { NatsKvRegistry } from './natsRegistry.ts';
import { ResponseForwarder } from './responsesStream.ts';

export interface NatsBackend {
  /** Whether the server runs JetStream. */
  readonly jetStream: boolean;
  openRegistry(clock: Clock): Promise<NatsKvRegistry>;
  openLink(gateway: ReceptorGateway): Promise<NatsInstanceLink>;
  /** Starts the responses stream (JetStream only) and, if configured, the jobs intake. */
  startStreams(gateway: ReceptorGateway, store: Store, errors: ErrorSink): Promise<void>;
  /** Takes no more jobs from the jobs subject (first at close, so no job arrives mid-shutdown). */
  stopIntake(): Promise<void>;
  /** Stops the responses forwarder, and closes the connection if the backend opened it. */
  close(): Promise<void>;
}

function transportError(message: string, error: unknown): BosunError {
  return new BosunError('BOSUN_TRANSPORT', `${message}: ${(error as Error).message}`, { cause: error });
}

async function connectTo(config: GatewayConfig): Promise<NatsConnection> {
  if (!config.natsUrl) throw new BosunError('BOSUN_BAD_CONFIG', 'the nats registrar needs a NATS connection: set RECEPTOR_CONTROLLER_NATS_URL');
  try {
    return await connect({ servers: config.natsUrl.split(',').map((s) => s.trim()), name: `receptor-gateway-${config.instanceId}`, maxReconnectAttempts: -1 });
  } catch (error) {
    throw transportError(`the gateway cannot reach NATS at ${config.natsUrl}`, error);
  }
}

export async function connectNatsBackend(config: GatewayConfig, given: NatsConnection | undefined, logger: GatewayLogger): Promise<NatsBackend> {
  const connection = given ?? (await connectTo(config));
  let jsm: JetStreamManager | undefined;
  try {
    jsm = await jetStreamManager(connection);
  } catch (error) {
    if (!given) await connection.close();
    throw transportError('the gateway cannot ask NATS whether it runs JetStream', error);
  }
  if (!jsm) logger.warn({}, 'NATS runs without JetStream: responses stay in the local log only, and jobs are taken from a core subscription');
  let registry: NatsKvRegistry | undefined;
  let forwarder: ResponseForwarder | undefined;
  let intake: JobsIntake | undefined;
  return {
    jetStream: jsm !== undefined,
    async openRegistry(clock) {
      try {
        registry = await NatsKvRegistry.open(connection, clock, config);
      } catch (error) {
        throw transportError('cannot open the gateway registry in NATS KV (is JetStream enabled, nats-server -js?)', error);
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
    async startStreams(gateway, store, errors) {
      const { config: c, clock, metrics, responses } = gateway;
      if (jsm) {
        forwarder = await ResponseForwarder.start({
          jsm,
          js: connection.jetstream(),
          log: responses,
          store,
          clock,
          logger,
          errors,
          metrics,
          stream: c.responsesStream,
          subject: c.responsesSubject,
        }).catch((error) => {
          throw error instanceof BosunError ? error : transportError(`cannot set up the JetStream stream ${c.responsesStream}`, error);
        });
      }
      if (!c.jobsIntake) return;
      intake = jsm ? await startJetStreamJobsIntake(connection, jsm, gateway, logger) : await startCoreJobsIntake(connection, gateway, logger);
    },
    async stopIntake() {
      await intake?.stop();
      intake = undefined;
    },
    async close() {
      await intake?.stop();
      await forwarder?.stop();
      if (!given) await connection.drain();
    },
  };
}
