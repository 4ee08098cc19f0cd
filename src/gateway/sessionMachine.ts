/**
 * One node's websocket session with the gateway, from upgrade to close. The machine does
 * no I/O of its own: the socket, the registry and the responses stream are behind
 * `SessionIO`, and its timers run on whatever clock the actor is created with.
 *
 * ```
 * open ─┬─ protocol:     awaitingHi ─HI→ registering ─done→ ready
 *       ├─ heartbeat:    a ws PING every pingIntervalMs
 *       └─ pongDeadline: no PONG for pongWaitMs → closing
 * closing ─SOCKET_CLOSED or closeTimeoutMs→ closed (final)
 * ```
 */
import { assign, fromPromise, setup } from 'xstate';
import type { HiCommand, ReceptorMessage } from './receptor/reader.ts';

/** What the session does to the world. Every call is made from a machine action. */
export interface SessionIO {
  /** Writes the gateway's HI. */
  sendHiReply(): void;
  /** Sends a websocket PING. */
  ping(): void;
  /** Starts the closing handshake. */
  close(code: number, reason: string): void;
  /** Drops the TCP connection without a handshake. */
  terminate(): void;
  /** Records (account, node) → this session; rejects if that is impossible. */
  register(hi: HiCommand): Promise<void>;
  /** A ROUTE command from the node (recorded, never acted on: there is no mesh behind us). */
  route(route: Record<string, unknown>): void;
  /** A routed message from the node: a reply to some directive, usually. */
  deliver(message: Extract<ReceptorMessage, { kind: 'routed' }>): void;
  /** A command we do not know, or a repeated HI: worth a log line, not a disconnect. */
  ignore(what: string): void;
  /** Takes the session out of the registry; called once, when it stops taking work. */
  release(): void;
}

export interface SessionTiming {
  /** Go: 0.9 × pong wait = 22.5 s. */
  pingIntervalMs: number;
  /** Go: 25 s from the last PONG (or from the upgrade) before the session is given up. */
  pongWaitMs: number;
  /** How long a node may take to send its HI after the upgrade. */
  handshakeTimeoutMs: number;
  /** How long to wait for the node's CLOSE before dropping the connection. */
  closeTimeoutMs: number;
}

export interface SessionInput {
  io: SessionIO;
  timing: SessionTiming;
}

export interface CloseRequest {
  code: number;
  reason: string;
}

export interface SessionContext extends SessionInput {
  nodeId: string | undefined;
  hi: HiCommand | undefined;
  routes: number;
  replies: number;
  /** Why the session is ending, once it is. */
  close: CloseRequest | undefined;
}

export type SessionEvent =
  | { type: 'HI'; hi: HiCommand }
  | { type: 'ROUTE'; route: Record<string, unknown> }
  | { type: 'ROUTED'; message: Extract<ReceptorMessage, { kind: 'routed' }> }
  | { type: 'UNKNOWN_COMMAND'; cmd: string }
  | { type: 'PROTOCOL_ERROR'; detail: string }
  | { type: 'PONG' }
  /** The gateway wants the session gone: disconnect API, a newer session, shutdown. */
  | { type: 'CLOSE'; code: number; reason: string }
  | { type: 'SOCKET_CLOSED'; code: number; reason: string };

/** The protocol state a session is in, as `describe()` and `/connection` show it. */
export type SessionPhase = 'awaitingHi' | 'registering' | 'ready' | 'closing' | 'closed';

export const CLOSE_NORMAL = 1000;
export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_INTERNAL_ERROR = 1011;

/** The parameterised action that records why the session ends. */
const closeWith = (code: number, reason: string) => ({ type: 'setClose', params: { code, reason } }) as const;

export const sessionMachine = setup({
  types: {
    input: {} as SessionInput,
    context: {} as SessionContext,
    events: {} as SessionEvent,
  },
  actors: {
    register: fromPromise<void, { io: SessionIO; hi: HiCommand }>(({ input }) => input.io.register(input.hi)),
  },
  delays: {
    pingInterval: ({ context }) => context.timing.pingIntervalMs,
    pongWait: ({ context }) => context.timing.pongWaitMs,
    handshakeTimeout: ({ context }) => context.timing.handshakeTimeoutMs,
    closeTimeout: ({ context }) => context.timing.closeTimeoutMs,
  },
  actions: {
    sendHiReply: ({ context }) => context.io.sendHiReply(),
    ping: ({ context }) => context.io.ping(),
    route: ({ context, event }) => {
      if (event.type === 'ROUTE') context.io.route(event.route);
    },
    countRoute: assign({ routes: ({ context }) => context.routes + 1 }),
    deliver: ({ context, event }) => {
      if (event.type === 'ROUTED') context.io.deliver(event.message);
    },
    countReply: assign({ replies: ({ context }) => context.replies + 1 }),
    ignoreCommand: ({ context, event }) => {
      if (event.type === 'UNKNOWN_COMMAND') context.io.ignore(`unknown command ${JSON.stringify(event.cmd)}`);
      if (event.type === 'HI') context.io.ignore('a second HI on an established session');
    },
    rememberHi: assign({
      hi: ({ event, context }) => (event.type === 'HI' ? event.hi : context.hi),
      nodeId: ({ event, context }) => (event.type === 'HI' ? event.hi.id : context.nodeId),
    }),
    setClose: assign((_, params: CloseRequest) => ({ close: params })),
    closeRequested: assign({
      close: ({ event, context }) => (event.type === 'CLOSE' ? { code: event.code, reason: event.reason } : context.close),
    }),
    protocolError: assign({
      close: ({ event, context }) =>
        event.type === 'PROTOCOL_ERROR' ? { code: CLOSE_PROTOCOL_ERROR, reason: event.detail.slice(0, 120) } : context.close,
    }),
    socketClosed: assign({
      close: ({ event, context }) =>
        context.close ?? (event.type === 'SOCKET_CLOSED' ? { code: event.code, reason: event.reason || 'closed by the node' } : undefined),
    }),
    release: ({ context }) => context.io.release(),
    closeSocket: ({ context }) => context.io.close(context.close?.code ?? CLOSE_NORMAL, context.close?.reason ?? 'closing'),
    terminate: ({ context }) => context.io.terminate(),
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({ ...input, nodeId: undefined, hi: undefined, routes: 0, replies: 0, close: undefined }),
  initial: 'open',
  states: {
    open: {
      type: 'parallel',
      on: {
        CLOSE: { target: 'closing', actions: 'closeRequested' },
        PROTOCOL_ERROR: { target: 'closing', actions: 'protocolError' },
        SOCKET_CLOSED: { target: 'closed', actions: 'socketClosed' },
      },
      states: {
        protocol: {
          initial: 'awaitingHi',
          states: {
            awaitingHi: {
              on: {
                HI: { target: 'registering', actions: ['rememberHi', 'sendHiReply'] },
                ROUTE: { target: '#session.closing', actions: closeWith(CLOSE_PROTOCOL_ERROR, 'expected HI first') },
                ROUTED: { target: '#session.closing', actions: closeWith(CLOSE_PROTOCOL_ERROR, 'expected HI first') },
                UNKNOWN_COMMAND: { target: '#session.closing', actions: closeWith(CLOSE_PROTOCOL_ERROR, 'expected HI first') },
              },
              after: { handshakeTimeout: { target: '#session.closing', actions: closeWith(CLOSE_NORMAL, 'no HI received') } },
            },
            registering: {
              invoke: {
                src: 'register',
                input: ({ context }) => ({ io: context.io, hi: context.hi as HiCommand }),
                onDone: 'ready',
                onError: [
                  // A node id of another account: the node's own doing, said as a policy refusal.
                  {
                    guard: ({ event }) => (event.error as { code?: unknown } | undefined)?.code === 'BOSUN_GATEWAY_NODE_TAKEN',
                    target: '#session.closing',
                    actions: closeWith(CLOSE_POLICY_VIOLATION, 'node id belongs to another account'),
                  },
                  { target: '#session.closing', actions: closeWith(CLOSE_INTERNAL_ERROR, 'registration failed') },
                ],
              },
              on: { ROUTE: { actions: ['route', 'countRoute'] }, ROUTED: { actions: ['deliver', 'countReply'] }, HI: { actions: 'ignoreCommand' }, UNKNOWN_COMMAND: { actions: 'ignoreCommand' } },
            },
            ready: {
              on: { ROUTE: { actions: ['route', 'countRoute'] }, ROUTED: { actions: ['deliver', 'countReply'] }, HI: { actions: 'ignoreCommand' }, UNKNOWN_COMMAND: { actions: 'ignoreCommand' } },
            },
          },
        },
        heartbeat: {
          initial: 'waiting',
          states: { waiting: { after: { pingInterval: { target: 'waiting', reenter: true, actions: 'ping' } } } },
        },
        pongDeadline: {
          initial: 'armed',
          states: {
            armed: {
              on: { PONG: { target: 'armed', reenter: true } },
              after: { pongWait: { target: '#session.closing', actions: closeWith(CLOSE_NORMAL, 'pong deadline passed') } },
            },
          },
        },
      },
    },
    closing: {
      entry: ['release', 'closeSocket'],
      // Replies already on their way are still recorded: a closing socket loses nothing it has read.
      on: { ROUTED: { actions: ['deliver', 'countReply'] }, SOCKET_CLOSED: { target: 'closed', actions: 'socketClosed' } },
      after: { closeTimeout: { target: 'closed', actions: 'terminate' } },
    },
    closed: { type: 'final', entry: 'release' },
  },
});

/** The one-word phase of a session snapshot. */
export function sessionPhase(value: unknown): SessionPhase {
  if (value === 'closing' || value === 'closed') return value;
  const protocol = (value as { open?: { protocol?: SessionPhase } }).open?.protocol;
  return protocol ?? 'awaitingHi';
}
