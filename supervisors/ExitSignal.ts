import type { ExitReason } from './types.ts';

/**
 * The "I have exited" half of a `ChildHandle`: fires once with the first reason given,
 * and calls listeners registered after that at once, so a child that dies before its
 * supervisor subscribes is still seen. A throwing listener is handed to `onListenerError`
 * rather than breaking the child.
 */
export class ExitSignal {
  #reason: ExitReason | undefined;
  readonly #listeners: ((reason: ExitReason) => void)[] = [];
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  /** The reason, once fired. */
  get reason(): ExitReason | undefined {
    return this.#reason;
  }

  /** Fires the signal; later calls are ignored. Returns whether this call fired it. */
  fire(reason: ExitReason): boolean {
    if (this.#reason) return false;
    this.#reason = reason;
    for (const listener of this.#listeners.splice(0)) this.#call(listener, reason);
    return true;
  }

  listen(listener: (reason: ExitReason) => void): void {
    if (this.#reason) this.#call(listener, this.#reason);
    else this.#listeners.push(listener);
  }

  /** Resolves with the reason once fired. */
  wait(): Promise<ExitReason> {
    return new Promise((resolve) => this.listen(resolve));
  }

  #call(listener: (reason: ExitReason) => void, reason: ExitReason): void {
    try {
      listener(reason);
    } catch (error) {
      this.#onListenerError(error);
    }
  }
}
