import { transition } from 'xstate';
import { connectionMachine, type ConnectionEvent } from '../../actors/connectionMachine.ts';
import { reportUncaught } from './handlerErrors.ts';
import type { TransportStatus } from './types.ts';

type StatusListener = (status: TransportStatus) => void;
type ConnectionSnapshot = ReturnType<typeof connectionMachine.resolveState>;
type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** A transport's status, as the connection machine's state reads to its listeners. */
const STATUS_OF: Record<ConnectionState, TransportStatus> = {
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'disconnected',
  closed: 'closed',
};

const EVENT_OF: Record<TransportStatus, ConnectionEvent['type'] | undefined> = {
  // Connecting is where a link starts; nothing moves a link back to it.
  connecting: undefined,
  connected: 'CONNECTED',
  disconnected: 'DISCONNECTED',
  closed: 'CLOSE',
};

/**
 * A transport's status and the listeners told when it changes. The status is the state
 * of the link's connection machine (`actors/connectionMachine.ts`), stepped with xstate's
 * pure `transition` as the adapter reports what its connection did: the machine, not the
 * adapter, decides what state the link is in. `closed` is final.
 * @internal
 */
export class StatusCell {
  #snapshot: ConnectionSnapshot;
  readonly #listeners = new Set<StatusListener>();

  constructor(initial: TransportStatus) {
    const value = (Object.keys(STATUS_OF) as ConnectionState[]).find((state) => STATUS_OF[state] === initial)!;
    this.#snapshot = connectionMachine.resolveState({ value, context: { reconnects: 0, disconnects: 0 } });
  }

  get value(): TransportStatus {
    return STATUS_OF[this.#snapshot.value as ConnectionState];
  }

  /** How often the link went down after being up, and came up after being down. */
  get counts(): { reconnects: number; disconnects: number } {
    return { ...this.#snapshot.context };
  }

  /** The adapter's connection is now `next`; listeners hear of a change of state. */
  set(next: TransportStatus): void {
    const type = EVENT_OF[next];
    if (type === undefined) return;
    const before = this.value;
    [this.#snapshot] = transition(connectionMachine, this.#snapshot, { type });
    const now = this.value;
    if (now === before) return;
    for (const listener of [...this.#listeners]) {
      try {
        listener(now);
      } catch (error) {
        // a listener's bug must not stop the others hearing, nor the transport working
        reportUncaught(error, '');
      }
    }
  }

  listen(listener: StatusListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }
}
