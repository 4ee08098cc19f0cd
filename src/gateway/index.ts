/**
 * The receptor-controller compatible gateway: python-receptor nodes dial in over
 * websockets; internal services send them work over HTTP and read their replies from a
 * durable responses stream.
 */
import type { Server } from 'node:http';
import type { NatsConnection } from 'nats';
import type { ErrorSink } from '../../supervisors/types.ts';
import { type Clock, systemClock } from '../clock.ts';
import { BosunError } from '../errors.ts';
import type { Store } from '../store/types.ts';
import type { NatsAuthFiles } from '../transport/natsAuth.ts';
import { type Env, type GatewayConfig, readGatewayConfig } from './config.ts';
import { type GatewayLogger, ReceptorGateway } from './gateway.ts';
import { GatewayHttp, type UpgradeHandler } from './http.ts';
import { GatewayMetrics } from './metrics.ts';
import type { NatsTarget } from './natsBackend.ts';
import { NatsMembership } from './natsMembership.ts';
import { NodeOwners } from './nodeOwners.ts';
import { LocalRegistry } from './registry.ts';
import { ResponseLog } from './responses.ts';
import { ResponseRetention } from './responsesRetention.ts';

export type { GatewayConfig, Env } from './config.ts';
export type { GatewayLogger, JobRequest, PingResult, StatusResult } from './gateway.ts';
export { ReceptorGateway } from './gateway.ts';
export { RECEPTOR_WS_PATH, type UpgradeHandler } from './http.ts';
export type { ConnectionEntry, ConnectionRegistry } from './registry.ts';
export type { LoggedResponse } from './responses.ts';
export { RESPONSE_KEY_HEADER } from './responsesStream.ts';
export { REPLY_TO_HEADER } from './jobsIntake.ts';
export { canonicalAccount, sameAccount } from './account.ts';
export type { ResponseRecord } from './receptor/reply.ts';

export interface ReceptorGatewayOptions {
  /** `HOST:PORT` (`[::1]:9090` for IPv6); port 0 picks a free one. */
  listen: string;
  /** The node's store: the registry mirror and the responses log live there. */
  store: Store;
  clock?: Clock;
  logger: GatewayLogger;
  errors: ErrorSink;
  /** `RECEPTOR_CONTROLLER_*` settings, usually `process.env`. */
  env: Env;
  /**
   * A NATS connection for the shared registry and forwarding between instances
   * (`RECEPTOR_CONTROLLER_GATEWAY_CONNECTION_REGISTRAR_IMPL=nats`), the responses stream
   * and the jobs subject. Without it the gateway connects itself to `RECEPTOR_CONTROLLER_NATS_URL`
   * when that is set, else to `nodeNats`.
   */
  nats?: NatsConnection;
  /**
   * The node's own NATS (`bosun start --nats`): the gateway's NATS unless
   * `RECEPTOR_CONTROLLER_NATS_URL` names other servers or is `off`.
   */
  nodeNats?: { servers: string[]; auth?: NatsAuthFiles };
  /** @internal Directive message ids, for tests that replay captured bytes. */
  newId?: () => string;
}

export interface RunningReceptorGateway {
  readonly host: string;
  readonly port: number;
  /** The HTTP server; bosun's own websocket endpoint can be mounted on it. */
  readonly server: Server;
  readonly gateway: ReceptorGateway;
  /** Routes websocket upgrades for `path` to `handler` (e.g. a `WebSocketServer`'s `handleUpgrade`). */
  addUpgradeRoute(path: string, handler: UpgradeHandler): void;
  /** Closes every session (CLOSE 1000), ends streams, stops listening. Leaves the store open. */
  close(): Promise<void>;
}

function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new BosunError('BOSUN_BAD_CONFIG', `the gateway's listen address must be HOST:PORT, got "${listen}"`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

/** The NATS the gateway uses, if any: one handed in, then the environment's, then the node's. */
function natsTarget(config: GatewayConfig, options: ReceptorGatewayOptions): NatsTarget | undefined {
  if (options.nats) return { kind: 'given', connection: options.nats };
  switch (config.nats.kind) {
    case 'servers':
      return { kind: 'servers', servers: config.nats.servers, auth: {}, from: 'RECEPTOR_CONTROLLER_NATS_URL' };
    case 'node':
      return options.nodeNats ? { kind: 'servers', servers: options.nodeNats.servers, auth: options.nodeNats.auth ?? {}, from: 'node' } : undefined;
    case 'off':
      return undefined;
  }
}

/**
 * Starts the gateway: opens its part of the store, starts the session supervisor, and
 * listens. @throws BosunError `BOSUN_BAD_CONFIG` for a bad setting.
 */
export async function startReceptorGateway(options: ReceptorGatewayOptions): Promise<RunningReceptorGateway> {
  const config = readGatewayConfig(options.env);
  const clock = options.clock ?? systemClock;
  const { host, port } = parseListen(options.listen);
  const target = natsTarget(config, options);
  if (!target && config.registrar === 'nats') {
    throw new BosunError('BOSUN_BAD_CONFIG', 'the nats registrar needs NATS: set RECEPTOR_CONTROLLER_NATS_URL, or start the node with --nats');
  }

  const responses = new ResponseLog(options.store, clock);
  await responses.open();
  const metrics = new GatewayMetrics();
  metrics.responsesLogRecords.from(() => responses.size);
  // Every gateway starts on its local registry; joining NATS moves it to the shared one.
  const registry = new LocalRegistry(options.store);
  await registry.open();

  const gateway = await ReceptorGateway.start({
    config,
    clock,
    logger: options.logger,
    errors: options.errors,
    registry,
    owners: new NodeOwners(options.store, config.nodeAccounts),
    responses,
    metrics,
    newId: options.newId,
  });
  const http = new GatewayHttp(gateway, options.logger);
  let nats: NatsMembership;
  try {
    nats = await NatsMembership.start({ target, gateway, store: options.store, clock, logger: options.logger, errors: options.errors });
  } catch (error) {
    await gateway.stop();
    throw error;
  }
  try {
    await new Promise<void>((resolve, reject) => {
      http.server.once('error', reject);
      http.server.listen(port, host, () => {
        http.server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await nats.stopIntake();
    await gateway.stop();
    await nats.close();
    throw new BosunError('BOSUN_BAD_CONFIG', `the gateway cannot listen on ${options.listen}: ${(error as Error).message}`, { cause: error });
  }
  const retention = ResponseRetention.start({
    log: responses,
    clock,
    logger: options.logger,
    errors: options.errors,
    metrics,
    maxAgeMs: config.responsesMaxAgeMs,
    maxRecords: config.responsesMaxRecords,
    // When responses are meant for JetStream, nothing it lacks is pruned.
    forwardedThrough: () => nats.forwardedThrough(),
  });
  const address = http.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  options.logger.info(
    {
      host,
      port: boundPort,
      nodeId: config.nodeId,
      registrar: config.registrar,
      nats: nats.state.kind,
      ...(nats.state.kind === 'joined' ? { jetStream: nats.state.backend.jetStream } : {}),
    },
    'receptor gateway listening',
  );

  let closing: Promise<void> | undefined;
  return {
    host,
    port: boundPort,
    server: http.server,
    gateway,
    addUpgradeRoute: (path, handler) => http.addUpgradeRoute(path, handler),
    close() {
      closing ??= (async () => {
        http.beginClose();
        await retention.stop();
        await nats.stopIntake();
        await gateway.stop();
        await http.close();
        await nats.close();
      })();
      return closing;
    },
  };
}
