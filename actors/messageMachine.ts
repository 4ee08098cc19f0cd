import { setup, transition } from 'xstate';

/**
 * One outbound message in flight. In the happy path a message never becomes a live actor:
 * its state is a compact record in its subject's window (`MessageRecord`), created in
 * `awaitingAck` and deleted when the ACK comes. Off the happy path — an ACK timeout, a
 * retry, a dead letter — the record is activated: its snapshot is resolved from the
 * record, the event is applied with xstate's pure `transition`, and the resulting state
 * is written back. The machine is therefore the single authority on retry decisions.
 */
export type MessageState = 'sending' | 'awaitingAck' | 'retryWait' | 'acked' | 'dead' | 'withdrawn';

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
  | { type: 'RETRY_DUE' }
  /** Wait for the stream's retry: a skip marker for the next resend, or a window restored with a retry pending. */
  | { type: 'HOLD' }
  /** Its frame is larger than the transport carries: it would be dropped at every try. */
  | { type: 'TOO_LARGE' }
  /** An operator withdrew it (`queue rm`) from an unordered stream. */
  | { type: 'WITHDRAWN' };

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
      on: { SENT: 'awaitingAck', HOLD: 'retryWait', TOO_LARGE: 'dead', ACKED: 'acked', WITHDRAWN: 'withdrawn' },
    },
    awaitingAck: {
      on: {
        ACKED: 'acked',
        ACK_TIMEOUT: [{ guard: 'retriesLeft', target: 'retryWait' }, { target: 'dead' }],
        // A resend of the whole window (go-back-N, reconnect) is another attempt.
        SENT: 'awaitingAck',
        TOO_LARGE: 'dead',
        WITHDRAWN: 'withdrawn',
      },
    },
    retryWait: {
      on: { ACKED: 'acked', RETRY_DUE: 'sending', WITHDRAWN: 'withdrawn' },
    },
    acked: { type: 'final' },
    dead: { type: 'final' },
    withdrawn: { type: 'final' },
  },
});

export interface MessageRecordState {
  state: MessageState;
  attempts: number;
  retries: number;
}

/** Where every message starts: the machine's initial state. */
export const INITIAL_MESSAGE_STATE = messageMachine.config.initial as MessageState;

/**
 * Applies one event to a record in place, through the machine: the one way a message's
 * state changes. Returns the record.
 */
export function applyMessageEvent<R extends MessageRecordState>(record: R, event: MessageEvent): R {
  const next = stepMessage(record, event);
  record.state = next.state;
  record.attempts = next.attempts;
  return record;
}

/** True when the machine would send the message again after an ACK timeout now (its `retriesLeft` guard). */
export function retriesAfterTimeout(record: MessageRecordState): boolean {
  return record.state === 'awaitingAck' && stepMessage(record, { type: 'ACK_TIMEOUT' }).state === 'retryWait';
}

/**
 * What the store keeps of a message in flight: the outbox row holds the message (its
 * `retries`) and, once it has been resent, its `attempts`; the stream's durable retry
 * timer says whether it waits for a retry. Nothing is written per send on the happy path,
 * so `sending` and `awaitingAck` are one durable state: "not settled".
 */
export interface PersistedMessage {
  attempts: number;
  retries: number;
  /** The stream's retry timer is armed: the message waits for it. */
  retryPending: boolean;
}

/** The persisted form of a message that is still in the outbox (not acked, dead or withdrawn). */
export function persistMessage(record: MessageRecordState): PersistedMessage {
  return { attempts: record.attempts, retries: record.retries, retryPending: record.state === 'retryWait' };
}

/**
 * The one restore function of the message machine: the state a message restarts in from
 * what the store kept. A retry pending restores `retryWait` (the timer fires `RETRY_DUE`);
 * anything else restores `sending`, as a message whose ACK may have been lost with the
 * process is sent again (the receiver's dedup makes that harmless). `attempts` and
 * `retries` come back as they were, so a restart never gives a message fresh retries.
 */
export function restoreMessage(persisted: PersistedMessage): MessageRecordState {
  const record: MessageRecordState = { state: INITIAL_MESSAGE_STATE, attempts: persisted.attempts, retries: persisted.retries };
  return persisted.retryPending ? applyMessageEvent(record, { type: 'HOLD' }) : record;
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
