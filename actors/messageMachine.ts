import { setup, transition } from 'xstate';

/**
 * One outbound message in flight. In the happy path a message never becomes a live actor:
 * its state is a compact record in its subject's window (`MessageRecord`), created in
 * `awaitingAck` and deleted when the ACK comes. Off the happy path — an ACK timeout, a
 * retry, a dead letter — the record is activated: its snapshot is resolved from the
 * record, the event is applied with xstate's pure `transition`, and the resulting state
 * is written back. The machine is therefore the single authority on retry decisions.
 */
export type MessageState = 'sending' | 'awaitingAck' | 'retryWait' | 'acked' | 'dead';

export interface MessageContext {
  /**
   * Sends so far. The record's owner counts them (every `SENT` is one): the machine is
   * evaluated from inside other actors' actions, where xstate forbids `assign`.
   */
  attempts: number;
  /** Re-sends allowed after the first; -1 is forever. */
  retries: number;
}

export type MessageEvent =
  | { type: 'SENT' }
  | { type: 'ACKED' }
  | { type: 'ACK_TIMEOUT' }
  | { type: 'RETRY_DUE' };

export const messageMachine = setup({
  types: {
    context: {} as MessageContext,
    events: {} as MessageEvent,
  },
  guards: {
    retriesLeft: ({ context }) => context.retries < 0 || context.attempts <= context.retries,
  },
}).createMachine({
  id: 'message',
  // Static: a context factory would make xstate call `assign` while resolving snapshots.
  context: { attempts: 0, retries: -1 },
  initial: 'sending',
  states: {
    sending: {
      on: { SENT: 'awaitingAck' },
    },
    awaitingAck: {
      on: {
        ACKED: 'acked',
        ACK_TIMEOUT: [{ guard: 'retriesLeft', target: 'retryWait' }, { target: 'dead' }],
        // A resend of the whole window (go-back-N, reconnect) is another attempt.
        SENT: 'awaitingAck',
      },
    },
    retryWait: {
      on: { ACKED: 'acked', RETRY_DUE: 'sending' },
    },
    acked: { type: 'final' },
    dead: { type: 'final' },
  },
});

export interface MessageRecordState {
  state: MessageState;
  attempts: number;
  retries: number;
}

/**
 * Activates a message from its compact record, applies one event, and returns the
 * record's next state. Pure.
 */
export function stepMessage(record: MessageRecordState, event: MessageEvent): MessageRecordState {
  // Results are memoised per (state, event, attempts, retries): the machine is pure, and a
  // resend of a full window must not cost a machine evaluation per record.
  const key = `${record.state}|${event.type}|${record.attempts}|${record.retries}`;
  const known = memo.get(key);
  if (known) return known;
  const next = evaluate(record, event);
  if (memo.size >= MEMO_LIMIT) memo.clear();
  memo.set(key, next);
  return next;
}

const MEMO_LIMIT = 10_000;
const memo = new Map<string, MessageRecordState>();

function evaluate(record: MessageRecordState, event: MessageEvent): MessageRecordState {
  const snapshot = messageMachine.resolveState({
    value: record.state,
    context: { attempts: record.attempts, retries: record.retries },
  });
  const [next] = transition(messageMachine, snapshot, event);
  const attempts = record.attempts + (event.type === 'SENT' ? 1 : 0);
  return { state: next.value as MessageState, attempts, retries: record.retries };
}
