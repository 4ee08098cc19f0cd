import { assign, setup } from 'xstate';

/**
 * A node's link to its medium (the NATS broker, the gateway, the in-process bus). The
 * adapters reconnect by themselves; the machine records what state the link is in and
 * how many times it has come back, and its `CONNECTED` edge is what makes every subject
 * resend its window at once instead of waiting for an ACK timeout.
 */
export type ConnectionEvent =
  | { type: 'CONNECTED' }
  | { type: 'DISCONNECTED' }
  | { type: 'CLOSE' };

export const connectionMachine = setup({
  types: {
    context: {} as { reconnects: number; disconnects: number },
    events: {} as ConnectionEvent,
  },
  actions: { connected: () => {} },
}).createMachine({
  id: 'connection',
  context: { reconnects: 0, disconnects: 0 },
  initial: 'connecting',
  states: {
    connecting: { on: { CONNECTED: { target: 'connected', actions: 'connected' }, CLOSE: 'closed' } },
    connected: {
      on: {
        DISCONNECTED: { target: 'reconnecting', actions: assign({ disconnects: ({ context }) => context.disconnects + 1 }) },
        CLOSE: 'closed',
      },
    },
    reconnecting: {
      on: {
        CONNECTED: {
          target: 'connected',
          actions: [assign({ reconnects: ({ context }) => context.reconnects + 1 }), 'connected'],
        },
        CLOSE: 'closed',
      },
    },
    closed: { type: 'final' },
  },
});
