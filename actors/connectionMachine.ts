import { assign, setup } from 'xstate';

/**
 * A node's link to its medium (the NATS broker, the gateway, the in-process bus). The
 * adapters reconnect by themselves; the machine is the state the link is in (every
 * transport's status is this machine's state, see `StatusCell`) and counts how many times
 * it has come back; in the node's tree its `connected` action is what makes every subject
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
    connecting: {
      on: {
        CONNECTED: { target: 'connected', actions: 'connected' },
        // Down before it was ever up (a broker that is not there yet): it keeps trying.
        DISCONNECTED: 'reconnecting',
        CLOSE: 'closed',
      },
    },
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
