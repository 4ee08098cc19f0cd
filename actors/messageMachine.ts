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
  const state = nextState(record, event);
  record.attempts = attemptsAfter(record, event);
  record.state = state;
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
  return { state: nextState(record, event), attempts: attemptsAfter(record, event), retries: record.retries };
}

/**
 * The owner counts sends (every `SENT` is one): the machine is evaluated from inside other
 * actors' actions, where xstate forbids `assign`.
 */
function attemptsAfter(record: MessageRecordState, event: MessageEvent): number {
  return record.attempts + (event.type === 'SENT' ? 1 : 0);
}

/**
 * Where `event` takes the record, by xstate's pure `transition`, memoised: every message
 * steps through this at least twice (sent, ACKed), so a machine evaluation per message
 * would cost more than the rest of its delivery. A transition without a guard depends on
 * the state alone and is kept by (state, event); a guarded one (an ACK timeout: retries
 * left?) by the whole record.
 */
function nextState(record: MessageRecordState, event: MessageEvent): MessageState {
  let byEvent = unguarded.get(record.state);
  if (!byEvent) unguarded.set(record.state, (byEvent = new Map()));
  const known = byEvent.get(event.type);
  if (known) return known;
  if (known === undefined && !isGuarded(record.state, event.type)) {
    const target = evaluate(record, event);
    byEvent.set(event.type, target);
    return target;
  }
  byEvent.set(event.type, null);
  const key = `${record.state}|${event.type}|${record.attempts}|${record.retries}`;
  let target = guarded.get(key);
  if (target === undefined) {
    target = evaluate(record, event);
    if (guarded.size >= MEMO_LIMIT) guarded.clear();
    guarded.set(key, target);
  }
  return target;
}

const MEMO_LIMIT = 10_000;
/** Targets of unguarded transitions by state and event; `null` marks a guarded one. */
const unguarded = new Map<MessageState, Map<MessageEvent['type'], MessageState | null>>();
const guarded = new Map<string, MessageState>();

/** True when one of the state's transitions for the event has a guard, as the machine declares it. */
function isGuarded(state: MessageState, type: MessageEvent['type']): boolean {
  const transitions = messageMachine.getStateNodeById(`message.${state}`).on[type] ?? [];
  return transitions.some((t) => t.guard !== undefined);
}

function evaluate(record: MessageRecordState, event: MessageEvent): MessageState {
  const snapshot = messageMachine.resolveState({
    value: record.state,
    context: { attempts: record.attempts, retries: record.retries },
  });
  const [next] = transition(messageMachine, snapshot, event);
  return next.value as MessageState;
}
