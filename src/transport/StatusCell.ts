import { reportUncaught } from './handlerErrors.ts';
import type { TransportStatus } from './types.ts';

type StatusListener = (status: TransportStatus) => void;

/**
 * A transport's current status and the listeners told when it changes. `closed` is final.
 * @internal
 */
export class StatusCell {
  #value: TransportStatus;
  readonly #listeners = new Set<StatusListener>();

  constructor(initial: TransportStatus) {
    this.#value = initial;
  }

  get value(): TransportStatus {
    return this.#value;
  }

  /** Moves to `next` and tells every listener; a repeat of the current status is not news. */
  set(next: TransportStatus): void {
    if (next === this.#value || this.#value === 'closed') return;
    this.#value = next;
    for (const listener of [...this.#listeners]) {
      try {
        listener(next);
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
