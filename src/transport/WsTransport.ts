import WebSocket from 'ws';
import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import { BosunError } from '../errors.ts';
import { Backoff, type BackoffOptions } from './Backoff.ts';
import { reportUncaught } from './handlerErrors.ts';
import { StatusCell } from './StatusCell.ts';
import { assertNodeName } from './subjects.ts';
import type { FrameHandler, HandlerErrorReporter, Transport, TransportStatus } from './types.ts';
import {
  asBuffer,
  CloseCode,
  decodeWsFrame,
  DEFAULT_MAX_MESSAGE_BYTES,
  WS_FRAME_OVERHEAD_BYTES,
  encodeWsFrame,
  parseControl,
  WS_PROTOCOL_VERSION,
  type Hello,
  type HelloClaim,
  type Proof,
} from './wsProtocol.ts';
import { assertStartable } from './startRule.ts';

export interface WsTransportOptions {
  /** The gateway's endpoint, `ws://host:port/bosun` or `wss://…`. */
  url: string;
  /** Pause between connection attempts: exponential from `minMs` to `maxMs`, with jitter. Default 250 ms to 30 s. */
  reconnect?: Partial<BackoffOptions> & {
    /** A connection that lasts this long resets the backoff to `minMs`. Default 10 s. */
    stableMs?: number;
  };
  /** Extra HTTP headers of the upgrade request, e.g. credentials the gateway checks. */
  headers?: Record<string, string>;
  /**
   * Signs the gateway's challenge with the node's key, proving its name (see `WsGateway`'s
   * `authenticate`); the signature is base64. Without it the node answers a challenge
   * unsigned, which a gateway that holds its key refuses.
   */
  signHello?(claim: HelloClaim): string;
  /**
   * How often to ping the gateway; a link that has not answered by the next ping is dropped.
   * Also bounds the opening handshake. Default 10 s.
   */
  pingIntervalMs?: number;
  /** Largest ws message accepted from the gateway. Default 1 MiB. */
  maxMessageBytes?: number;
  /** Frames published while this many bytes wait in the socket are dropped (a slow link). Default 16 MiB. */
  maxBufferedBytes?: number;
  /** Drives reconnects, pings and the stability timer. */
  clock?: Clock;
  /** Jitter source; `Math.random` by default. */
  random?: () => number;
  /** Where exceptions thrown by the frame handler go; by default they become uncaught exceptions. */
  onHandlerError?: HandlerErrorReporter;
}

const DEFAULT_RECONNECT: BackoffOptions = { minMs: 250, maxMs: 30_000 };
const DEFAULT_STABLE_MS = 10_000;
const DEFAULT_PING_INTERVAL_MS = 10_000;
const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** How long `close` waits for the closing handshake (which pushes out what is queued) before cutting the socket. */
const CLOSE_TIMEOUT_MS = 1000;

/**
 * A node that can only dial out: it connects to a gateway node over a websocket (see
 * `WsGateway`) and reaches the whole fleet through it. `start` resolves at once; dialling
 * goes on in the background, forever, with exponential backoff and jitter.
 *
 * `connected` means the gateway has welcomed the node's hello, so frames addressed to it
 * from then on reach it. Like core NATS this is at most once: a frame published while the
 * link is down, over the gateway's size limit, or onto a socket that is not draining, is
 * dropped, and the reason is kept in `lastError`.
 */
export class WsTransport implements Transport {
  readonly kind = 'ws' as const;
  readonly #url: string;
  readonly #options: WsTransportOptions;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  readonly #stableMs: number;
  readonly #pingIntervalMs: number;
  readonly #maxMessageBytes: number;
  readonly #maxBufferedBytes: number;
  readonly #onHandlerError: HandlerErrorReporter;
  readonly #status = new StatusCell('connecting');
  #node: string | undefined;
  #onFrame: FrameHandler | undefined;
  #socket: WebSocket | undefined;
  /** The socket the gateway has welcomed; frames go out only on it. */
  #welcomed: WebSocket | undefined;
  /** Largest message the gateway takes, from its welcome. */
  #gatewayMaxBytes = DEFAULT_MAX_MESSAGE_BYTES;
  #retry: TimerHandle | undefined;
  #ping: TimerHandle | undefined;
  #stable: TimerHandle | undefined;
  #answered = true;
  #closing = false;
  #lastError: unknown;

  constructor(options: WsTransportOptions) {
    this.#options = options;
    this.#url = options.url;
    this.#clock = options.clock ?? systemClock;
    this.#backoff = new Backoff({ ...DEFAULT_RECONNECT, ...stripUndefined(options.reconnect) }, options.random);
    this.#stableMs = options.reconnect?.stableMs ?? DEFAULT_STABLE_MS;
    this.#pingIntervalMs = options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.#onHandlerError = options.onHandlerError ?? reportUncaught;
  }

  get status(): TransportStatus {
    return this.#status.value;
  }

  /** What the gateway takes (from its welcome; until then the default), less the ws frame's own bytes. */
  get maxPayloadBytes(): number {
    return this.#gatewayMaxBytes - WS_FRAME_OVERHEAD_BYTES;
  }

  /** The last connection error, refusal or dropped frame's reason, for diagnostics; dialling goes on regardless. */
  get lastError(): unknown {
    return this.#lastError;
  }

  async start(node: string, onFrame: FrameHandler): Promise<void> {
    assertStartable(this.#closing, this.#node);
    assertNodeName(node);
    assertWsUrl(this.#url);
    this.#node = node;
    this.#onFrame = onFrame;
    this.#dial();
  }

  publish(subject: string, payload: Uint8Array): void {
    const socket = this.#welcomed;
    if (socket === undefined) return;
    const frame = encodeWsFrame(subject, payload);
    if (frame === undefined) {
      this.#lastError = new BosunError('BOSUN_TRANSPORT', `cannot publish to ${JSON.stringify(subject)}: not a valid subject`);
      return;
    }
    if (frame.length > this.#gatewayMaxBytes) {
      // sent anyway, it would make the gateway close the link
      this.#lastError = new BosunError('BOSUN_TOO_LARGE', `frame to ${subject} is ${frame.length} bytes; the gateway takes at most ${this.#gatewayMaxBytes}`);
      return;
    }
    if (socket.bufferedAmount > this.#maxBufferedBytes) {
      this.#lastError = new BosunError('BOSUN_TRANSPORT', `dropped a frame to ${subject}: ${socket.bufferedAmount} bytes wait in the socket`);
      return;
    }
    try {
      socket.send(frame);
    } catch (error) {
      this.#lastError = error;
    }
  }

  onStatus(listener: (status: TransportStatus) => void): () => void {
    return this.#status.listen(listener);
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#status.set('closed');
    this.#cancelTimers();
    this.#retry?.cancel();
    this.#retry = undefined;
    const socket = this.#socket;
    this.#socket = undefined;
    this.#welcomed = undefined;
    if (socket === undefined) return;
    if (socket.readyState === WebSocket.CLOSED) return;
    if (socket.readyState !== WebSocket.OPEN) {
      socket.terminate();
      return;
    }
    // the closing handshake goes out after the frames already queued
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.terminate();
        resolve();
      }, CLOSE_TIMEOUT_MS);
      timer.unref();
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.close(CloseCode.normal, 'node closing');
    });
  }

  #dial(): void {
    const socket = new WebSocket(this.#url, {
      perMessageDeflate: false,
      maxPayload: this.#maxMessageBytes,
      handshakeTimeout: this.#pingIntervalMs,
      ...(this.#options.headers ? { headers: this.#options.headers } : {}),
    });
    this.#socket = socket;
    socket.on('open', () => this.#onOpen(socket));
    socket.on('message', (data, isBinary) => this.#onMessage(socket, data, isBinary));
    socket.on('pong', () => {
      this.#answered = true;
    });
    socket.on('error', (error) => {
      this.#lastError = error;
    });
    socket.on('close', (code, reason) => this.#onClose(socket, code, reason.toString('utf8')));
  }

  #onOpen(socket: WebSocket): void {
    if (socket !== this.#socket) return;
    const hello: Hello = { v: WS_PROTOCOL_VERSION, type: 'hello', node: this.#node!, maxMessageBytes: this.#maxMessageBytes };
    socket.send(JSON.stringify(hello));
    this.#answered = true;
    this.#armPing(socket);
  }

  #onMessage(socket: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    if (socket !== this.#socket || this.#closing) return;
    this.#answered = true;
    if (!isBinary) {
      const control = parseControl(asBuffer(data).toString('utf8'));
      if (control?.type === 'welcome') this.#onWelcome(socket, control.maxMessageBytes);
      else if (control?.type === 'challenge' && socket !== this.#welcomed) {
        this.#onChallenge(socket, { challenge: control.challenge, node: this.#node!, gateway: control.gateway });
      }
      return;
    }
    if (socket !== this.#welcomed) return;
    const frame = decodeWsFrame(asBuffer(data));
    // the gateway sends only well-formed frames; anything else is ignored rather than fatal
    if (frame === undefined) return;
    try {
      this.#onFrame!(frame.subject, frame.payload);
    } catch (error) {
      this.#onHandlerError(error, frame.subject);
    }
  }

  #onChallenge(socket: WebSocket, claim: HelloClaim): void {
    const signature = this.#options.signHello?.(claim);
    const proof: Proof = { v: WS_PROTOCOL_VERSION, type: 'proof', ...(signature !== undefined ? { signature } : {}) };
    socket.send(JSON.stringify(proof));
  }

  #onWelcome(socket: WebSocket, gatewayMaxBytes: number): void {
    this.#welcomed = socket;
    this.#gatewayMaxBytes = gatewayMaxBytes;
    this.#status.set('connected');
    this.#stable?.cancel();
    this.#stable = this.#clock.setTimer(this.#stableMs, () => {
      this.#stable = undefined;
      if (this.#welcomed === socket) this.#backoff.reset();
    });
  }

  #armPing(socket: WebSocket): void {
    this.#ping = this.#clock.setTimer(this.#pingIntervalMs, () => {
      this.#ping = undefined;
      if (socket !== this.#socket) return;
      if (!this.#answered) {
        this.#lastError = new BosunError('BOSUN_TRANSPORT', `the gateway did not answer a ping within ${this.#pingIntervalMs} ms`);
        // close() would wait for a closing handshake the dead link cannot carry
        socket.terminate();
        return;
      }
      this.#answered = false;
      try {
        socket.ping();
      } catch {
        // the socket is closing; its close event takes over
      }
      this.#armPing(socket);
    });
  }

  #onClose(socket: WebSocket, code: number, reason: string): void {
    if (socket !== this.#socket) return;
    this.#socket = undefined;
    this.#cancelTimers();
    if (code === CloseCode.replaced) {
      this.#lastError = new BosunError('BOSUN_GATEWAY_DUPLICATE', `the gateway took another connection for node ${this.#node}: ${reason}`);
    } else if (code === CloseCode.forbidden) {
      this.#lastError = new BosunError('BOSUN_GATEWAY_FORBIDDEN', `the gateway refused node ${this.#node}: ${reason}`);
    } else if (code === CloseCode.badHello || code === CloseCode.protocolError || code === CloseCode.tooBig) {
      this.#lastError = new BosunError('BOSUN_GATEWAY_PROTOCOL', `the gateway closed the link (${code}): ${reason}`);
    }
    if (this.#welcomed === socket) {
      this.#welcomed = undefined;
      this.#status.set('disconnected');
    }
    if (this.#closing) return;
    this.#retry = this.#clock.setTimer(this.#backoff.next(), () => {
      this.#retry = undefined;
      if (!this.#closing) this.#dial();
    });
  }

  #cancelTimers(): void {
    this.#ping?.cancel();
    this.#ping = undefined;
    this.#stable?.cancel();
    this.#stable = undefined;
  }
}

function assertWsUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new BosunError('BOSUN_BAD_CONFIG', `${JSON.stringify(url)} is not a websocket URL`, { cause: error });
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new BosunError('BOSUN_BAD_CONFIG', `${JSON.stringify(url)} is not a websocket URL: use ws:// or wss://`);
  }
}

function stripUndefined<T extends object>(value: T | undefined): Partial<T> {
  if (value === undefined) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
