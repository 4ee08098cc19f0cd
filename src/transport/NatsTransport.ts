import {
  connect,
  Events,
  type ConnectionOptions,
  type Msg,
  type NatsConnection,
  type NatsError,
  type Subscription,
} from 'nats';
import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import { BosunError } from '../errors.ts';
import { reportUncaught } from './handlerErrors.ts';
import { natsAuthOptions, type NatsAuthFiles } from './natsAuth.ts';
import { StatusCell } from './StatusCell.ts';
import { assertNodeName, isPublishSubject } from './subjects.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, type FrameHandler, type HandlerErrorReporter, type Transport, type TransportStatus } from './types.ts';
import { assertStartable } from './startRule.ts';

export interface NatsTransportOptions extends NatsAuthFiles {
  /** `nats://host:port` or `host:port`, one or several. */
  servers: string | string[];
  /** Connection name shown by the server's monitoring; defaults to the node name. */
  name?: string;
  /** Wait between connection attempts, plus up to 10% jitter. Default 1000 ms. */
  reconnectTimeWaitMs?: number;
  /** How often the client pings the server to detect a dead link; nats.js defaults to 2 min. */
  pingIntervalMs?: number;
  /** Paces the retry of a first connection that nats.js gave up on. */
  clock?: Clock;
  /** Where exceptions thrown by the frame handler go; by default they become uncaught exceptions. */
  onHandlerError?: HandlerErrorReporter;
}

const DEFAULT_RECONNECT_TIME_WAIT_MS = 1000;
/** How long `close` waits for frames already published to reach the server. */
const CLOSE_FLUSH_TIMEOUT_MS = 1000;

/**
 * Core NATS. A node subscribes to `<node>.>`, so server permissions can confine it to its
 * own subjects. The connection is kept forever: `start` resolves at once and connecting,
 * like reconnecting, goes on in the background until `close`.
 *
 * `connected` means more than a TCP link: the server has confirmed the subscription, so
 * frames addressed to this node from then on reach it. Frames published while disconnected
 * are buffered by nats.js and discarded at its next connection attempt, so they are lost;
 * that is within the transport contract (at most once).
 */
export class NatsTransport implements Transport {
  readonly kind = 'nats' as const;
  readonly #options: NatsTransportOptions;
  readonly #clock: Clock;
  readonly #reconnectTimeWaitMs: number;
  readonly #onHandlerError: HandlerErrorReporter;
  readonly #status = new StatusCell('connecting');
  #node: string | undefined;
  #onFrame: FrameHandler | undefined;
  #connection: NatsConnection | undefined;
  #retry: TimerHandle | undefined;
  #closing = false;
  /** Bumped on every disconnect, so a subscription check from an older link cannot report `connected`. */
  #link = 0;
  #lastError: unknown;
  /** Nodes this transport receives for besides its own (`route`), with their subscriptions on the current connection. */
  readonly #routes = new Map<string, { count: number; subscription: Subscription | undefined }>();

  constructor(options: NatsTransportOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#reconnectTimeWaitMs = options.reconnectTimeWaitMs ?? DEFAULT_RECONNECT_TIME_WAIT_MS;
    this.#onHandlerError = options.onHandlerError ?? reportUncaught;
  }

  get status(): TransportStatus {
    return this.#status.value;
  }

  /** The server's `max_payload` once connected (until then NATS's default). */
  get maxPayloadBytes(): number {
    return this.#connection?.info?.max_payload ?? DEFAULT_MAX_PAYLOAD_BYTES;
  }

  /**
   * The server this node is connected to now (`host:port`), which may be one the cluster
   * announced rather than one of `servers`; undefined while disconnected.
   */
  get server(): string | undefined {
    const connection = this.#connection;
    if (connection === undefined || this.#status.value !== 'connected') return undefined;
    return connection.getServer();
  }

  /** The last connection or server error seen, for diagnostics; connecting goes on regardless. */
  get lastError(): unknown {
    return this.#lastError;
  }

  async start(node: string, onFrame: FrameHandler): Promise<void> {
    assertStartable(this.#closing, this.#node);
    assertNodeName(node);
    this.#node = node;
    this.#onFrame = onFrame;
    let options: ConnectionOptions;
    try {
      options = await this.#connectionOptions(node);
    } catch (error) {
      this.#node = undefined;
      throw error;
    }
    if (!this.#closing) this.#connect(options);
  }

  publish(subject: string, payload: Uint8Array): void {
    const connection = this.#connection;
    // before the first connection there is nowhere to buffer: the frame is lost
    if (connection === undefined) return;
    if (!isPublishSubject(subject)) {
      this.#lastError = new BosunError('BOSUN_TRANSPORT', `cannot publish to ${JSON.stringify(subject)}: not a valid subject`);
      return;
    }
    try {
      connection.publish(subject, payload);
    } catch (error) {
      // closed, or over the server's max_payload: at most once, never a throw
      this.#lastError = error;
    }
  }

  /**
   * Subscribes to `<node>.>` as well, for a node reachable through this one; the
   * subscription is made again on every new connection (nats.js itself renews it across
   * reconnects of one connection).
   */
  route(node: string): () => void {
    if (this.#node === undefined) throw new BosunError('BOSUN_TRANSPORT', 'start the transport before routing for other nodes');
    assertNodeName(node);
    if (this.#closing) return () => {};
    let route = this.#routes.get(node);
    if (route === undefined) {
      route = { count: 0, subscription: undefined };
      this.#routes.set(node, route);
      if (this.#connection !== undefined) route.subscription = this.#subscribe(this.#connection, node);
    }
    route.count++;
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      if (--route.count > 0) return;
      this.#routes.delete(node);
      try {
        route.subscription?.unsubscribe();
      } catch {
        // the connection is closed already, and the subscription with it
      }
    };
  }

  onStatus(listener: (status: TransportStatus) => void): () => void {
    return this.#status.listen(listener);
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    const wasConnected = this.#status.value === 'connected';
    this.#closing = true;
    this.#status.set('closed');
    this.#retry?.cancel();
    this.#retry = undefined;
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection === undefined) return;
    // nats.js's close() discards what publish() buffered; push it out first
    if (wasConnected) await withTimeout(connection.flush(), CLOSE_FLUSH_TIMEOUT_MS);
    await connection.close();
  }

  async #connectionOptions(node: string): Promise<ConnectionOptions> {
    const o = this.#options;
    const servers = typeof o.servers === 'string' ? [o.servers] : o.servers;
    if (servers.length === 0) throw new BosunError('BOSUN_BAD_CONFIG', 'servers must name at least one NATS server');
    // nats.js rejects a malformed URL only after start() has resolved; catch it here
    for (const server of servers) assertServerUrl(server);
    const options: ConnectionOptions = {
      servers: o.servers,
      name: o.name ?? node,
      // start() must not wait for a broker that is down; nats.js then retries the first
      // connection at the reconnect pace, forever, without rejecting
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      // keep retrying through auth errors too: credentials may be fixed server-side
      ignoreAuthErrorAbort: true,
      reconnectDelayHandler: this.#reconnectDelay,
      // the servers a cluster announces join the list, so a node whose every configured
      // server is gone still finds the rest of the cluster
      ignoreClusterUpdates: false,
    };
    // nats.js copies undefined values over its defaults, so only set what was given
    if (o.pingIntervalMs !== undefined) options.pingInterval = o.pingIntervalMs;
    Object.assign(options, await natsAuthOptions(o));
    return options;
  }

  /**
   * Pace of connection attempts. nats.js asks for it before every attempt, including while
   * it waits for the first connection; throwing is the only way to stop that wait, which
   * would otherwise outlive `close` and keep the process alive.
   */
  readonly #reconnectDelay = (): number => {
    if (this.#closing) throw new BosunError('BOSUN_TRANSPORT', 'transport closed');
    const jitter = Math.floor(Math.random() * (this.#reconnectTimeWaitMs / 10 + 1));
    return this.#reconnectTimeWaitMs + jitter;
  };

  #connect(options: ConnectionOptions): void {
    connect(options).then(
      (connection) => this.#attach(connection, options),
      (error: unknown) => {
        if (this.#closing) return;
        this.#lastError = error;
        this.#retryLater(options);
      },
    );
  }

  #retryLater(options: ConnectionOptions): void {
    this.#retry = this.#clock.setTimer(this.#reconnectTimeWaitMs, () => {
      this.#retry = undefined;
      if (!this.#closing) this.#connect(options);
    });
  }

  #attach(connection: NatsConnection, options: ConnectionOptions): void {
    if (this.#closing) {
      void connection.close();
      return;
    }
    this.#connection = connection;
    this.#subscribe(connection, this.#node!);
    for (const [node, route] of this.#routes) route.subscription = this.#subscribe(connection, node);
    void this.#followStatus(connection);
    this.#confirmSubscribed(connection);
    void connection.closed().then((error) => {
      if (this.#closing || this.#connection !== connection) return;
      // nats.js gave up on this connection (it should not with unlimited reconnects); start over
      this.#connection = undefined;
      this.#lastError = error;
      this.#link++;
      this.#status.set('disconnected');
      this.#retryLater(options);
    });
  }

  #subscribe(connection: NatsConnection, node: string): Subscription {
    return connection.subscribe(`${node}.>`, { callback: this.#onMessage });
  }

  async #followStatus(connection: NatsConnection): Promise<void> {
    for await (const event of connection.status()) {
      if (this.#closing || this.#connection !== connection) return;
      if (event.type === Events.Disconnect) {
        this.#link++;
        this.#status.set('disconnected');
      } else if (event.type === Events.Reconnect) {
        this.#confirmSubscribed(connection);
      } else if (event.type === Events.Error) {
        this.#lastError = event.data;
      }
    }
  }

  /** A ping round trip after the subscription proves the server has registered it. */
  #confirmSubscribed(connection: NatsConnection): void {
    const link = this.#link;
    connection.flush().then(
      () => {
        if (!this.#closing && this.#connection === connection && this.#link === link) this.#status.set('connected');
      },
      () => {
        // the link dropped before the server answered; the next reconnect checks again
      },
    );
  }

  readonly #onMessage = (error: NatsError | null, message: Msg): void => {
    if (error !== null) {
      this.#lastError = error;
      return;
    }
    if (this.#closing) return;
    try {
      this.#onFrame!(message.subject, message.data);
    } catch (handlerError) {
      this.#onHandlerError(handlerError, message.subject);
    }
  };
}

function assertServerUrl(server: string): void {
  const hostPort = server.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  // a bare IPv6 address has colons of its own; nats.js brackets it itself
  if (!hostPort.startsWith('[') && hostPort.split(':').length > 2) return;
  try {
    new URL(`http://${hostPort}`);
  } catch (error) {
    throw new BosunError('BOSUN_BAD_CONFIG', `${JSON.stringify(server)} is not a NATS server URL`, { cause: error });
  }
}

function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}
