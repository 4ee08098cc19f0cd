/**
 * Binds one websocket to a session actor: socket events become machine events, machine
 * actions become socket calls, and the whole is a supervised child (`handle`).
 */
import type { WebSocket } from 'ws';
import { createActor, type Actor } from 'xstate';
import { ExitSignal } from '../../supervisors/ExitSignal.ts';
import type { ChildHandle, TreeNode } from '../../supervisors/types.ts';
import type { Clock } from '../clock.ts';
import { BosunError } from '../errors.ts';
import type { GatewayConfig } from './config.ts';
import type { GatewayMetrics } from './metrics.ts';
import { type HiCommand, type ReceptorMessage, ReceptorReader } from './receptor/reader.ts';
import { hiReply } from './receptor/writer.ts';
import { CLOSE_NORMAL, type SessionEvent, type SessionPhase, sessionMachine, sessionPhase } from './sessionMachine.ts';

/** What a session needs from the gateway around it. */
export interface SessionHost {
  readonly config: GatewayConfig;
  readonly clock: Clock;
  readonly metrics: GatewayMetrics;
  register(session: ReceptorSession, hi: HiCommand): Promise<void>;
  release(session: ReceptorSession): void;
  deliver(session: ReceptorSession, message: Extract<ReceptorMessage, { kind: 'routed' }>): void;
  note(session: ReceptorSession, level: 'debug' | 'info' | 'warn', message: string): void;
}

export class ReceptorSession {
  readonly id: string;
  readonly account: string;
  readonly actor: Actor<typeof sessionMachine>;
  readonly #ws: WebSocket;
  readonly #host: SessionHost;
  readonly #reader: ReceptorReader;
  readonly #exit = new ExitSignal();
  #released = false;

  constructor(ws: WebSocket, account: string, id: string, host: SessionHost) {
    this.#ws = ws;
    this.account = account;
    this.id = id;
    this.#host = host;
    this.#reader = new ReceptorReader(host.config.maxMessageBytes);
    const { config, clock } = host;
    this.actor = createActor(sessionMachine, {
      input: {
        io: {
          sendHiReply: () => void this.#write(hiReply(config.nodeId)).catch((error: Error) => host.note(this, 'debug', error.message)),
          ping: () => this.#socketCall(() => ws.ping()),
          close: (code, reason) => this.#socketCall(() => ws.close(code, reason)),
          terminate: () => ws.terminate(),
          register: (hi) => host.register(this, hi),
          route: (route) => host.note(this, 'debug', `ROUTE ${JSON.stringify(route.edges ?? null)}`),
          deliver: (message) => host.deliver(this, message),
          ignore: (what) => host.note(this, 'warn', `ignored ${what}`),
          release: () => this.#release(),
        },
        timing: {
          pingIntervalMs: config.pingIntervalMs,
          pongWaitMs: config.pongWaitMs,
          handshakeTimeoutMs: config.handshakeTimeoutMs,
          closeTimeoutMs: config.writeWaitMs,
        },
      },
      clock: { setTimeout: (fn, ms) => clock.setTimer(ms, fn), clearTimeout: (timer) => (timer as ReturnType<Clock['setTimer']> | undefined)?.cancel() },
    });
    this.actor.subscribe({
      complete: () => this.#exit.fire({ kind: 'normal' }),
      error: (error) => {
        ws.terminate();
        this.#release();
        this.#exit.fire({ kind: 'error', error });
      },
    });
    ws.on('message', (data, isBinary) => this.#onMessage(data as Buffer | Buffer[] | ArrayBuffer, isBinary));
    ws.on('pong', () => this.#send({ type: 'PONG' }));
    ws.on('close', (code, reason) => this.#send({ type: 'SOCKET_CLOSED', code, reason: reason.toString('utf8') }));
    ws.on('error', (error) => host.note(this, 'debug', `socket error: ${error.message}`));
  }

  /** The node id from the HI, once received. */
  get nodeId(): string | undefined {
    return this.actor.getSnapshot().context.nodeId;
  }

  /** `meta.capabilities` from the HI. */
  get capabilities(): unknown {
    return this.actor.getSnapshot().context.hi?.meta?.capabilities ?? null;
  }

  /** Out of the registry for good: the session takes no more work. */
  get released(): boolean {
    return this.#released;
  }

  /** Resolves once the session has ended, however it ended. */
  get ended(): Promise<unknown> {
    return this.#exit.wait();
  }

  get phase(): SessionPhase {
    const snapshot = this.actor.getSnapshot();
    return snapshot.status === 'active' ? sessionPhase(snapshot.value) : 'closed';
  }

  /** Starts the actor; the returned handle is what the gateway supervisor holds. */
  start(): ChildHandle {
    this.actor.start();
    return {
      stop: async () => {
        this.close(CLOSE_NORMAL, 'closing');
        await this.#exit.wait();
      },
      kill: () => {
        this.#ws.terminate();
        this.actor.stop();
        this.#release();
        this.#exit.fire({ kind: 'killed' });
      },
      onExit: (listener) => this.#exit.listen(listener),
      describe: () => this.describe(),
    };
  }

  describe(): Omit<TreeNode, 'id' | 'restarts' | 'kind'> {
    const { context } = this.actor.getSnapshot();
    return {
      state: this.phase,
      children: [],
      info: { account: this.account, nodeId: context.nodeId, session: this.id, routes: context.routes, replies: context.replies },
    };
  }

  /** Asks the session to end with a websocket CLOSE. */
  close(code: number, reason: string): void {
    this.#send({ type: 'CLOSE', code, reason });
  }

  /**
   * Writes one receptor message to a ready session. Rejects with `BOSUN_GATEWAY_SEND_FAILED`
   * if the write does not complete within the write wait (the socket is then dropped, as
   * Go's write deadline dropped it).
   */
  send(bytes: Buffer): Promise<void> {
    // A registering session has already sent its HI reply, so the node can take directives.
    if (this.phase !== 'ready' && this.phase !== 'registering') {
      return Promise.reject(new BosunError('BOSUN_GATEWAY_NOT_CONNECTED', `the session of ${this.nodeId ?? 'this node'} is ${this.phase}`));
    }
    return this.#write(bytes);
  }

  #write(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const failed = (message: string) => reject(new BosunError('BOSUN_GATEWAY_SEND_FAILED', message));
      const timer = this.#host.clock.setTimer(this.#host.config.writeWaitMs, () => {
        failed(`write to ${this.nodeId ?? 'the node'} did not complete within ${this.#host.config.writeWaitMs} ms`);
        this.#ws.terminate();
      });
      try {
        this.#ws.send(bytes, { binary: true }, (error) => {
          timer.cancel();
          if (error) failed(`write to ${this.nodeId ?? 'the node'} failed: ${error.message}`);
          else {
            this.#host.metrics.messagesSent.inc();
            resolve();
          }
        });
      } catch (error) {
        timer.cancel();
        failed(`write failed: ${(error as Error).message}`);
      }
    });
  }

  #onMessage(data: Buffer | Buffer[] | ArrayBuffer, isBinary: boolean): void {
    const chunk = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    this.#host.metrics.messagesReceived.inc();
    this.#host.metrics.payloadSizes.observe(chunk.length);
    if (!isBinary) {
      this.#host.metrics.protocolErrors.inc();
      this.#send({ type: 'PROTOCOL_ERROR', detail: 'text websocket message; receptor speaks binary' });
      return;
    }
    let messages: ReceptorMessage[];
    try {
      messages = this.#reader.push(chunk);
    } catch (error) {
      this.#host.metrics.protocolErrors.inc();
      this.#send({ type: 'PROTOCOL_ERROR', detail: (error as Error).message });
      return;
    }
    for (const message of messages) this.#send(toEvent(message));
  }

  #send(event: SessionEvent): void {
    if (this.actor.getSnapshot().status === 'active') this.actor.send(event);
  }

  /** ws throws on some calls made in the wrong ready state; the close event follows anyway. */
  #socketCall(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.#host.note(this, 'debug', `socket call failed: ${(error as Error).message}`);
      this.#ws.terminate();
    }
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#host.release(this);
  }
}

function toEvent(message: ReceptorMessage): SessionEvent {
  switch (message.kind) {
    case 'hi':
      return { type: 'HI', hi: message.hi };
    case 'route':
      return { type: 'ROUTE', route: message.route };
    case 'command':
      return { type: 'UNKNOWN_COMMAND', cmd: message.cmd };
    case 'routed':
      return { type: 'ROUTED', message };
  }
}
