import { assign, setup } from 'xstate';

/**
 * One method on the receiving node, and the only place its state changes. `REQ…` methods
 * run one lane per stream (a lane runs its stream's batches one after another, in stream
 * order); `REQn…` methods run up to `concurrency` lanes over every stream. The queue and
 * the runs are the runtime's; the machine decides whether a lane may start, counts the
 * lanes running, and knows whether an operator paused the method.
 *
 * - `idle`: nothing running. `busy`: lanes running or work queued. `draining`: no new
 *   lane starts, the running ones finish. `stopped`: drained.
 * - `paused` is orthogonal: entries wait in the queue until `RESUME`.
 */
export type SubscriberEvent =
  | { type: 'WORK' }
  | { type: 'LANE_STARTED' }
  /** `queued`: entries still waiting once the lane ended. */
  | { type: 'LANE_ENDED'; queued: number }
  | { type: 'PAUSE' }
  | { type: 'RESUME' }
  | { type: 'DRAIN' };

export interface SubscriberContext {
  concurrency: number;
  running: number;
  paused: boolean;
}

export const subscriberMachine = setup({
  types: { events: {} as SubscriberEvent, context: {} as SubscriberContext, input: {} as { concurrency: number } },
  actions: {
    startLanes: () => {},
    notifyIdle: () => {},
    laneEnded: assign({ running: ({ context }) => context.running - 1 }),
  },
  guards: {
    mayStartLane: ({ context }) => !context.paused && context.running < context.concurrency,
    lastLaneWithNothingToStart: ({ context, event }) =>
      context.running === 1 && (context.paused || (event as { queued?: number }).queued === 0),
    lastLane: ({ context }) => context.running === 1,
    nothingRunning: ({ context }) => context.running === 0,
  },
}).createMachine({
  id: 'subscriber',
  context: ({ input }) => ({ concurrency: input.concurrency, running: 0, paused: false }),
  initial: 'idle',
  on: {
    PAUSE: { actions: assign({ paused: true }) },
  },
  states: {
    idle: {
      on: {
        WORK: { target: 'busy', actions: 'startLanes' },
        RESUME: { target: 'busy', actions: [assign({ paused: false }), 'startLanes'] },
        DRAIN: 'stopped',
      },
    },
    busy: {
      on: {
        WORK: { actions: 'startLanes' },
        RESUME: { actions: [assign({ paused: false }), 'startLanes'] },
        LANE_STARTED: { guard: 'mayStartLane', actions: assign({ running: ({ context }) => context.running + 1 }) },
        LANE_ENDED: [
          { guard: 'lastLaneWithNothingToStart', target: 'idle', actions: ['laneEnded', 'notifyIdle'] },
          { actions: ['laneEnded', 'startLanes'] },
        ],
        DRAIN: [{ guard: 'nothingRunning', target: 'stopped' }, { target: 'draining' }],
      },
    },
    draining: {
      on: {
        RESUME: { actions: assign({ paused: false }) },
        LANE_ENDED: [{ guard: 'lastLane', target: 'stopped', actions: ['laneEnded', 'notifyIdle'] }, { actions: 'laneEnded' }],
      },
    },
    stopped: { type: 'final' },
  },
});
