import { randomBytes } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import { BosunError } from '../errors.ts';
import { ReportThrottle } from '../../supervisors/ReportThrottle.ts';
import { addresseeOf, assertNodeName, isPublishSubject } from './subjects.ts';
import {
  asBuffer,
  closeReason,
  CloseCode,
  decodeWsFrame,
  DEFAULT_MAX_MESSAGE_BYTES,
  encodeWsFrame,
  parseControl,
  WS_CHALLENGE_VERSION,
  WS_PROTOCOL_VERSION,
  type Challenge,
  type Hello,
  type HelloClaim,
  type Welcome,
} from './wsProtocol.ts';

/**
 * What `authenticate` makes of a hello: `proven` (signed by the key held for the node),
 * `unknown` (no key is held for the node yet: it is taken on its word, as without
 * `authenticate`), or `refused`, with an error code and why.
 */
export type HelloVerdict = { kind: 'proven' } | { kind: 'unknown' } | { kind: 'refused'; code: string; reason: string };

export interface WsGatewayOptions {
  /** Largest ws message a peer may send; a bigger one closes that peer's socket (ws code 1009). Default 1 MiB. */
  maxMessageBytes?: number;
  /** How often to ping every socket; one that has not answered by the next ping is cut. Default 15 s. */
  pingIntervalMs?: number;
  /** How long a new socket has to say hello. Default 10 s. */
  helloTimeoutMs?: number;
  /** Frames for a peer with this many bytes waiting in its socket are dropped (a slow link). Default 16 MiB. */
  maxBufferedBytes?: number;
  /**
   * Whether the socket opened by `request` may act as `node`, checked at its hello (e.g. a
   * credential in the upgrade's headers that belongs to that node). Everyone by default.
   */
  authorize?(node: string, request: IncomingMessage): boolean;
  /**
   * Checks that a peer holds its node's key. With it the gateway answers each version-2
   * hello with a fresh challenge and welcomes the peer only once its proof passes; a
   * version-1 hello, which cannot carry one, is judged as unsigned. A node taken on its
   * word (`unknown`) never replaces a connection that proved the same name. Without it
   * every name is taken on its word.
   */
  authenticate?(claim: HelloClaim, signature: string | undefined): HelloVerdict;
  /**
   * Told of hellos refused by `authenticate` or by the rule above, at most once a second
   * per node name and ten times a second in all (the next report says how many it held back).
   */
  onRefused?(code: string, message: string): void;
  /** Drives hello timeouts and pings. */
  clock?: Clock;
}

/** Counters since the gateway was made. */
export interface WsGatewayStats {
  /** Peers connected now. */
  peers: number;
  /** Frames received from peers. */
  fromPeers: number;
  /** Frames sent to peers. */
  toPeers: number;
  /** Frames from peers handed to the base transport. */
  toBase: number;
  /** Frames from peers to the gateway node itself. */
  toGatewayNode: number;
  /** Frames dropped: invalid subject, over a peer's size limit, or a peer's socket not draining. */
  dropped: number;
  /** Sockets closed for a missing or bad hello, a refused node, broken framing, or an oversize message. */
  refused: number;
  /** Connections closed because a newer one said hello with the same node name. */
  replaced: number;
}

/**
 * What the gateway forwards to; given by the `RoutedTransport` that binds it.
 * @internal
 */
export interface GatewayLink {
  /** The gateway node's own name. */
  readonly node: string;
  /** A frame from a peer to the gateway node itself. */
  deliverLocal(subject: string, payload: Uint8Array): void;
  /** A frame from a peer to a node not connected here. */
  publishBase(subject: string, payload: Uint8Array): void;
  /** Asks the base transport to receive `<node>.>` for a peer; see `Transport.route`. */
  route?(node: string): () => void;
}

interface Connection {
  readonly socket: WebSocket;
  readonly request: IncomingMessage;
  /** Set by a hello the gateway accepted. */
  node: string | undefined;
  /** A hello waiting for its proof, and the challenge the proof must sign (used once). */
  awaiting: { hello: Hello; challenge: string } | undefined;
  /** Whether the node proved its name with its key. */
  proven: boolean;
  /** Largest message the peer takes, from its hello. */
  maxMessageBytes: number;
  answered: boolean;
  helloTimer: TimerHandle | undefined;
  unroute: (() => void) | undefined;
}

const DEFAULT_PING_INTERVAL_MS = 15_000;
const DEFAULT_HELLO_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

/**
 * The gateway side of the ws transport: nodes that can only dial out connect here, and the
 * gateway node forwards between them and the rest of the fleet. A frame from a peer goes
 * to the peer it is addressed to if that one is connected here, to the gateway node if it
 * is addressed to it, and to the base transport (NATS or embedded) otherwise; frames for a
 * peer arriving on the base transport go to the peer.
 *
 * It serves websocket upgrades (`attach` to an `http.Server`, or route upgrades to
 * `handleUpgrade`) and forwards once a `RoutedTransport` has bound it to the gateway
 * node's base transport; until then it refuses upgrades with 503.
 */
export class WsGateway {
  readonly #maxMessageBytes: number;
  readonly #pingIntervalMs: number;
  readonly #helloTimeoutMs: number;
  readonly #maxBufferedBytes: number;
  readonly #authorize: WsGatewayOptions['authorize'];
  readonly #authenticate: WsGatewayOptions['authenticate'];
  readonly #onRefused: WsGatewayOptions['onRefused'];
  readonly #refusalReports = new ReportThrottle();
  readonly #clock: Clock;
  readonly #wss: WebSocketServer;
  readonly #connections = new Set<Connection>();
  readonly #peers = new Map<string, Connection>();
  readonly #detachers = new Set<() => void>();
  #link: GatewayLink | undefined;
  #ping: TimerHandle | undefined;
  #closed = false;
  readonly #stats: Omit<WsGatewayStats, 'peers'> = {
    fromPeers: 0,
    toPeers: 0,
    toBase: 0,
    toGatewayNode: 0,
    dropped: 0,
    refused: 0,
    replaced: 0,
  };

  constructor(options: WsGatewayOptions = {}) {
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#pingIntervalMs = options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    this.#helloTimeoutMs = options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.#authorize = options.authorize;
    this.#authenticate = options.authenticate;
    this.#onRefused = options.onRefused;
    this.#clock = options.clock ?? systemClock;
    // sockets are tracked here, with their node names, rather than by ws
    this.#wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: this.#maxMessageBytes });
  }

  /** Nodes connected here now. */
  peers(): string[] {
    return [...this.#peers.keys()];
  }

  get stats(): WsGatewayStats {
    return { peers: this.#peers.size, ...this.#stats };
  }

  /** Whether a `RoutedTransport` is using this gateway. */
  get bound(): boolean {
    return this.#link !== undefined;
  }

  /**
   * Serves websocket upgrades to `path` (query string ignored) on `server`. Upgrades to
   * other paths are left to the server's other `upgrade` listeners, or refused with 404 if
   * there are none. Returns the function that detaches the gateway from the server.
   */
  attach(server: HttpServer | HttpsServer, path = '/bosun'): () => void {
    if (this.#closed) throw new BosunError('BOSUN_TRANSPORT', 'cannot attach a closed gateway');
    const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
      if (pathOf(request) === path) this.handleUpgrade(request, socket, head);
      else if (server.listenerCount('upgrade') === 1) refuseUpgrade(socket, 404, `no websocket endpoint at ${pathOf(request)}`);
    };
    server.on('upgrade', onUpgrade);
    const detach = (): void => {
      server.off('upgrade', onUpgrade);
      this.#detachers.delete(detach);
    };
    this.#detachers.add(detach);
    return detach;
  }

  /**
   * Takes over an HTTP upgrade request's socket, for a server that routes upgrades itself
   * (its `upgrade` event: request, socket, head).
   */
  readonly handleUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (this.#closed) return refuseUpgrade(socket, 503, 'the gateway is closed');
    if (this.#link === undefined) return refuseUpgrade(socket, 503, 'the gateway node is not running');
    this.#wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws, request));
  };

  /**
   * Starts forwarding for the gateway node behind `link`.
   * @internal
   */
  bind(link: GatewayLink): void {
    if (this.#closed) throw new BosunError('BOSUN_TRANSPORT', 'cannot bind a closed gateway');
    if (this.#link !== undefined) throw new BosunError('BOSUN_TRANSPORT', `the gateway already serves node ${this.#link.node}`);
    this.#link = link;
  }

  /**
   * Stops forwarding: every peer is told the gateway node is going away, and upgrades are
   * refused until the next `bind`.
   * @internal
   */
  unbind(): void {
    this.#link = undefined;
    for (const connection of [...this.#connections]) {
      this.#forget(connection);
      connection.socket.close(CloseCode.goingAway, 'the gateway node is stopping');
    }
  }

  /**
   * Sends a frame to the peer it is addressed to. False when that node is not connected
   * here (the frame is someone else's to deliver); true when it is, even if the frame had
   * to be dropped.
   * @internal
   */
  sendToPeer(subject: string, payload: Uint8Array): boolean {
    const to = addresseeOf(subject);
    const peer = to === undefined ? undefined : this.#peers.get(to);
    if (peer === undefined) return false;
    const frame = encodeWsFrame(subject, payload);
    if (frame === undefined) this.#stats.dropped++;
    else this.#send(peer, frame);
    return true;
  }

  /** Closes every socket, detaches from every server and refuses upgrades from now on. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.unbind();
    this.#closed = true;
    for (const detach of [...this.#detachers]) detach();
    this.#ping?.cancel();
    this.#ping = undefined;
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #accept(socket: WebSocket, request: IncomingMessage): void {
    const connection: Connection = {
      socket,
      request,
      node: undefined,
      awaiting: undefined,
      proven: false,
      maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
      answered: true,
      helloTimer: undefined,
      unroute: undefined,
    };
    if (this.#link === undefined) {
      // unbound while ws finished the handshake
      socket.close(CloseCode.goingAway, 'the gateway node is not running');
      return;
    }
    connection.helloTimer = this.#clock.setTimer(this.#helloTimeoutMs, () => {
      connection.helloTimer = undefined;
      if (connection.node === undefined) this.#refuse(connection, CloseCode.badHello, `no hello within ${this.#helloTimeoutMs} ms`);
    });
    this.#connections.add(connection);
    socket.on('message', (data, isBinary) => this.#onMessage(connection, asBuffer(data), isBinary));
    socket.on('pong', () => {
      connection.answered = true;
    });
    socket.on('error', (error: Error & { code?: string }) => {
      // ws closes the socket itself after an error; an oversize message is the one worth counting
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.#stats.refused++;
    });
    socket.on('close', () => this.#forget(connection));
    this.#armPing();
  }

  #onMessage(connection: Connection, data: Buffer, isBinary: boolean): void {
    // ws still reads while a socket it was told to close waits for the peer's closing handshake
    if (!this.#connections.has(connection)) return;
    connection.answered = true;
    if (connection.node === undefined) {
      if (isBinary) return this.#refuse(connection, CloseCode.badHello, 'say hello before sending frames');
      if (connection.awaiting !== undefined) return this.#proof(connection, data.toString('utf8'));
      return this.#hello(connection, data.toString('utf8'));
    }
    // control messages after the hello are reserved for later versions
    if (!isBinary) return;
    if (this.#peers.get(connection.node) !== connection) return;
    this.#forward(data);
  }

  #hello(connection: Connection, text: string): void {
    const link = this.#link;
    if (link === undefined) return;
    const hello = parseControl(text);
    if (hello?.type !== 'hello') return this.#refuse(connection, CloseCode.badHello, 'expected a hello');
    const node = hello.node;
    try {
      assertNodeName(node);
    } catch {
      return this.#refuse(connection, CloseCode.badHello, 'the node name must be one subject token');
    }
    if (node === link.node) return this.#refuse(connection, CloseCode.badHello, 'that is the gateway node’s own name');
    if (this.#authorize !== undefined && !this.#authorize(node, connection.request)) {
      return this.#refuse(connection, CloseCode.forbidden, closeReason(`not allowed to connect as ${node}`));
    }
    if (this.#authenticate === undefined) return this.#admit(connection, hello, false);
    if (hello.v < WS_CHALLENGE_VERSION) return this.#judge(connection, hello, { challenge: '', node, gateway: link.node }, undefined);
    // the hello timer goes on running: it bounds the proof too
    const challenge: Challenge = { v: WS_PROTOCOL_VERSION, type: 'challenge', gateway: link.node, challenge: randomBytes(32).toString('base64') };
    connection.awaiting = { hello, challenge: challenge.challenge };
    connection.socket.send(JSON.stringify(challenge));
  }

  #proof(connection: Connection, text: string): void {
    const link = this.#link;
    const awaiting = connection.awaiting;
    if (link === undefined || awaiting === undefined) return;
    // one proof per challenge: whatever comes next on this socket is judged against nothing
    connection.awaiting = undefined;
    const proof = parseControl(text);
    if (proof?.type !== 'proof') return this.#refuse(connection, CloseCode.badHello, 'expected the proof of the challenge');
    this.#judge(connection, awaiting.hello, { challenge: awaiting.challenge, node: awaiting.hello.node, gateway: link.node }, proof.signature);
  }

  #judge(connection: Connection, hello: Hello, claim: HelloClaim, signature: string | undefined): void {
    const verdict = this.#authenticate!(claim, signature);
    if (verdict.kind === 'refused') return this.#refuseHello(connection, hello.node, verdict.code, verdict.reason);
    const proven = verdict.kind === 'proven';
    if (!proven && this.#peers.get(hello.node)?.proven) {
      return this.#refuseHello(
        connection,
        hello.node,
        'BOSUN_GATEWAY_FORBIDDEN',
        `${hello.node} is connected with a proven key; a hello that proves no key cannot replace it`,
      );
    }
    this.#admit(connection, hello, proven);
  }

  #admit(connection: Connection, hello: Hello, proven: boolean): void {
    const link = this.#link;
    if (link === undefined) return;
    const node = hello.node;
    connection.helloTimer?.cancel();
    connection.helloTimer = undefined;
    connection.node = node;
    connection.proven = proven;
    connection.maxMessageBytes = hello.maxMessageBytes;
    const older = this.#peers.get(node);
    this.#peers.set(node, connection);
    if (older === undefined) {
      connection.unroute = link.route?.(node);
    } else {
      // the node is the same, so is its route: a restarted node whose old link is not yet
      // known to be dead must not lose frames while the old socket times out
      connection.unroute = older.unroute;
      older.unroute = undefined;
      this.#stats.replaced++;
      older.socket.close(CloseCode.replaced, 'replaced by a newer connection for the same node');
    }
    const welcome: Welcome = { v: WS_PROTOCOL_VERSION, type: 'welcome', gateway: link.node, maxMessageBytes: this.#maxMessageBytes };
    connection.socket.send(JSON.stringify(welcome));
  }

  #forward(data: Buffer): void {
    const link = this.#link;
    if (link === undefined) return;
    const frame = decodeWsFrame(data);
    this.#stats.fromPeers++;
    if (frame === undefined || !isPublishSubject(frame.subject)) {
      this.#stats.dropped++;
      return;
    }
    const to = addresseeOf(frame.subject);
    if (to === undefined) {
      this.#stats.dropped++;
      return;
    }
    if (to === link.node) {
      this.#stats.toGatewayNode++;
      link.deliverLocal(frame.subject, frame.payload);
      return;
    }
    const peer = this.#peers.get(to);
    if (peer !== undefined) {
      // already a well-formed frame: pass the bytes on as they came
      this.#send(peer, data);
      return;
    }
    this.#stats.toBase++;
    link.publishBase(frame.subject, frame.payload);
  }

  #send(peer: Connection, frame: Buffer): void {
    if (frame.length > peer.maxMessageBytes || peer.socket.bufferedAmount > this.#maxBufferedBytes) {
      this.#stats.dropped++;
      return;
    }
    try {
      peer.socket.send(frame);
      this.#stats.toPeers++;
    } catch {
      // closing; its close event cleans up
      this.#stats.dropped++;
    }
  }

  /** Refuses a hello that did not prove its name, and reports it, limited. */
  #refuseHello(connection: Connection, node: string, code: string, reason: string): void {
    this.#refuse(connection, CloseCode.forbidden, closeReason(reason));
    const admitted = this.#refusalReports.admit(node, this.#clock.now());
    if (!admitted || this.#onRefused === undefined) return;
    const { remoteAddress, remotePort } = connection.request.socket;
    const more = admitted.held > 0 ? ` (${admitted.held} more refused since the last report)` : '';
    try {
      this.#onRefused(code, `refused a ws peer saying hello as ${node} from ${remoteAddress ?? '?'}:${remotePort ?? '?'}: ${reason}${more}`);
    } catch {
      // a failing listener must not break the gateway
    }
  }

  #refuse(connection: Connection, code: number, reason: string): void {
    this.#stats.refused++;
    this.#forget(connection);
    connection.socket.close(code, reason);
  }

  /** Removes a connection from forwarding, and its route unless a newer connection took it over. */
  #forget(connection: Connection): void {
    if (!this.#connections.delete(connection)) return;
    connection.helloTimer?.cancel();
    connection.helloTimer = undefined;
    const node = connection.node;
    if (node !== undefined && this.#peers.get(node) === connection) this.#peers.delete(node);
    connection.unroute?.();
    connection.unroute = undefined;
    if (this.#connections.size === 0) {
      this.#ping?.cancel();
      this.#ping = undefined;
    }
  }

  #armPing(): void {
    if (this.#ping !== undefined) return;
    this.#ping = this.#clock.setTimer(this.#pingIntervalMs, () => {
      this.#ping = undefined;
      for (const connection of [...this.#connections]) {
        if (!connection.answered) {
          this.#forget(connection);
          // a dead link cannot carry a closing handshake
          connection.socket.terminate();
          continue;
        }
        connection.answered = false;
        try {
          connection.socket.ping();
        } catch {
          // closing; its close event cleans up
        }
      }
      if (this.#connections.size > 0) this.#armPing();
    });
  }
}

function pathOf(request: IncomingMessage): string {
  return (request.url ?? '/').split('?')[0]!;
}

/** Answers an upgrade request with a plain HTTP error and hangs up. */
function refuseUpgrade(socket: Duplex, status: number, detail: string): void {
  const body = JSON.stringify({ status, detail });
  socket.once('error', () => {});
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
