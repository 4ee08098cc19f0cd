import { setup } from 'xstate';

/**
 * One outbound stream (fromNode, toNode, method). The machine decides *when* the stream
 * sends, waits and resends; the window bookkeeping and all I/O are actions and guards the
 * runtime provides (`subjectMachine.provide(...)`), so the machine itself does no I/O.
 *
 * Events arrive per batch (a group-committed set of accepted messages, one cumulative
 * ACK), never per message, so the machine costs nothing per message in the happy path.
 */
export type SubjectEvent =
  | { type: 'ENQUEUED' }
  | { type: 'ACKED' }
  | { type: 'ACK_TIMEOUT' }
  | { type: 'RETRY_DUE' }
  | { type: 'CONNECTED' }
  | { type: 'RESUME' };

export const subjectMachine = setup({
  types: { events: {} as SubjectEvent },
  actions: {
    /** Fill the window from the outbox and send what is new. */
    pump: () => {},
    /** Run every expired record through the message machine (retry or dead letter). */
    expire: () => {},
    /** Arm the durable retry timer for the stream. */
    armRetry: () => {},
    cancelRetry: () => {},
    /** Resend the window: go-back-N for ordered streams, the waiting ones otherwise. */
    resend: () => {},
  },
  guards: {
    windowEmpty: () => true,
    anyWaiting: () => false,
  },
}).createMachine({
  id: 'subject',
  initial: 'idle',
  states: {
    idle: {
      on: {
        ENQUEUED: { target: 'flowing', actions: 'pump' },
        RESUME: { actions: 'pump' },
      },
    },
    flowing: {
      always: [
        { guard: 'windowEmpty', target: 'idle' },
        { guard: 'anyWaiting', target: 'retryWait' },
      ],
      on: {
        ENQUEUED: { actions: 'pump' },
        ACKED: { actions: 'pump' },
        ACK_TIMEOUT: { actions: 'expire' },
        CONNECTED: { actions: 'resend' },
        RESUME: { actions: 'resend' },
      },
    },
    retryWait: {
      entry: 'armRetry',
      exit: 'cancelRetry',
      always: { guard: 'windowEmpty', target: 'idle' },
      on: {
        ENQUEUED: { actions: 'pump' },
        ACKED: { actions: 'pump' },
        RETRY_DUE: { target: 'flowing', actions: 'resend' },
        // The peer is back: no reason to sit out the rest of the wait.
        CONNECTED: { target: 'flowing', actions: 'resend' },
        RESUME: { target: 'flowing', actions: 'resend' },
      },
    },
  },
});
