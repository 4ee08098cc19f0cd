import { setup } from 'xstate';

/**
 * One method on the receiving node. `REQ…` methods run one message at a time, in stream
 * order; `REQn…` methods run up to a concurrency limit. The queue and the runs are the
 * runtime's; the machine tracks whether the subscriber is idle, busy or stopping.
 */
export type SubscriberEvent = { type: 'WORK' } | { type: 'IDLE' } | { type: 'DRAIN' };

export const subscriberMachine = setup({
  types: { events: {} as SubscriberEvent },
  actions: { runNext: () => {} },
}).createMachine({
  id: 'subscriber',
  initial: 'idle',
  states: {
    idle: { on: { WORK: { target: 'busy', actions: 'runNext' }, DRAIN: 'stopped' } },
    busy: { on: { WORK: { actions: 'runNext' }, IDLE: 'idle', DRAIN: 'draining' } },
    draining: { on: { IDLE: 'stopped', WORK: {} } },
    stopped: { type: 'final' },
  },
});
