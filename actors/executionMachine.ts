import { assign, fromPromise, setup } from 'xstate';

/**
 * One run of a method handler. The handler itself is injected (`provide({ actors })`):
 * the machine only knows that a run can succeed, fail, or be cut off by its
 * `methodTimeout`. Stopping the invoked actor aborts its signal, which is how a timed-out
 * handler learns to kill what it started.
 */
export interface ExecutionInput {
  method: string;
  /** Milliseconds; undefined for no limit. */
  timeoutMs?: number;
  /** What the injected handler needs (the runtime passes the handler already running); opaque to the machine. */
  payload?: unknown;
}

export interface ExecutionContext extends ExecutionInput {
  output?: string;
  /** What the handler hands on besides its output; opaque to the machine. */
  forward?: unknown[];
  error?: unknown;
}

export type ExecutionEvent = { type: 'TIMEOUT' };

export const executionMachine = setup({
  types: {
    input: {} as ExecutionInput,
    context: {} as ExecutionContext,
    events: {} as ExecutionEvent,
  },
  actors: {
    handler: fromPromise<{ output?: string; forward?: unknown[] }, ExecutionInput>(async () => ({})),
  },
}).createMachine({
  id: 'execution',
  context: ({ input }) => ({ ...input }),
  initial: 'running',
  states: {
    running: {
      invoke: {
        src: 'handler',
        input: ({ context }) => ({ method: context.method, timeoutMs: context.timeoutMs, payload: context.payload }),
        onDone: { target: 'succeeded', actions: assign({ output: ({ event }) => event.output.output, forward: ({ event }) => event.output.forward }) },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error }) },
      },
      on: { TIMEOUT: 'timedOut' },
    },
    succeeded: { type: 'final' },
    failed: { type: 'final' },
    timedOut: { type: 'final' },
  },
});
