/**
 * The gateway's NATS side, used whenever the gateway has NATS (`RECEPTOR_CONTROLLER_NATS_URL`,
 * the node's own `--nats`, or a connection handed in): the shared registry (KV, with
 * `RECEPTOR_CONTROLLER_GATEWAY_CONNECTION_REGISTRAR_IMPL=nats`), forwarding between
 * instances (core NATS), the responses stream and the jobs subject (JetStream when the
 * server has it, `nats-server -js`).
 */
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import type { ErrorSink } from '../../supervisors/types.ts';
import type { Clock } from '../clock.ts';
import { BosunError } from '../errors.ts';
import type { Store } from '../store/types.ts';
import { type NatsAuthFiles, natsAuthOptions } from '../transport/natsAuth.ts';
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
  /** The last log seq JetStream holds, while the responses forwarder runs. */
  forwardedThrough(): number | undefined;
  /** Takes no more jobs from the jobs subject (first at close, so no job arrives mid-shutdown). */
  stopIntake(): Promise<void>;
  /** Stops the responses forwarder, and closes the connection if the backend opened it. */
  close(): Promise<void>;
}

/** Where the gateway's NATS connection comes from. */
export type NatsTarget =
  | { kind: 'given'; connection: NatsConnection }
  | { kind: 'servers'; servers: string[]; auth: NatsAuthFiles; from: 'RECEPTOR_CONTROLLER_NATS_URL' | 'node' };

function transportError(message: string, error: unknown): BosunError {
  return new BosunError('BOSUN_TRANSPORT', `${message}: ${(error as Error).message}`, { cause: error });
}

async function connectTo(config: GatewayConfig, target: Extract<NatsTarget, { kind: 'servers' }>): Promise<NatsConnection> {
  const auth = await natsAuthOptions(target.auth);
  try {
    return await connect({ servers: target.servers, name: `receptor-gateway-${config.instanceId}`, maxReconnectAttempts: -1, ...auth });
  } catch (error) {
    throw transportError(`the gateway cannot reach NATS at ${target.servers.join(',')}`, error);
  }
}

/**
 * Connects to NATS and asks whether it runs JetStream.
 * @throws BosunError `BOSUN_TRANSPORT` when NATS cannot be reached or asked
 */
export async function openNatsBackend(config: GatewayConfig, target: NatsTarget, logger: GatewayLogger): Promise<NatsBackend> {
  const given = target.kind === 'given' ? target.connection : undefined;
  const connection = given ?? (await connectTo(config, target as Extract<NatsTarget, { kind: 'servers' }>));
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
    forwardedThrough() {
      return forwarder?.cursor;
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
