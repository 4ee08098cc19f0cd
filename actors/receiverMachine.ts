import { setup, transition } from 'xstate';

/**
 * One inbound stream's receiver. Frames join a batch; one batch per stream is written at
 * a time (inbox rows and the stream's position together), and ACKed once durable. The
 * machine is stepped with xstate's pure `transition` once per batch, never per frame: the
 * receiver holds its state as this machine's state value, and nothing else decides it.
 */
export type ReceiverState = 'idle' | 'writing';

export type ReceiverEvent =
  /** A batch is handed to the store. */
  | { type: 'WRITE' }
  /** The batch is durable: its frames are ACKed. */
  | { type: 'COMMITTED' }
  /** The batch failed: nothing of it is durable, its frames come again with the sender's resend. */
  | { type: 'FAILED' };

export const receiverMachine = setup({
  types: { events: {} as ReceiverEvent },
}).createMachine({
  id: 'receiver',
  initial: 'idle',
  states: {
    idle: { on: { WRITE: 'writing' } },
    writing: { on: { COMMITTED: 'idle', FAILED: 'idle' } },
  },
});

/** Where a receiver starts, opened or reopened from its stream position. */
export const INITIAL_RECEIVER_STATE = receiverMachine.config.initial as ReceiverState;

const memo = new Map<string, ReceiverState>();

/** The receiver's next state. Pure; results are memoised (the machine is tiny and pure). */
export function stepReceiver(state: ReceiverState, event: ReceiverEvent): ReceiverState {
  const key = `${state}|${event.type}`;
  let next = memo.get(key);
  if (next === undefined) {
    const [snapshot] = transition(receiverMachine, receiverMachine.resolveState({ value: state, context: undefined as never }), event);
    next = snapshot.value as ReceiverState;
    memo.set(key, next);
  }
  return next;
}
