/**
 * A supervisor's mailbox: operations run one at a time, in the order they were posted,
 * the way an Erlang process handles one message at a time.
 * @internal
 */
export class Mailbox {
  #tail: Promise<void> = Promise.resolve();

  /** Runs `op` after everything posted before it; resolves or rejects with its result. */
  run<T>(op: () => T | Promise<T>): Promise<T> {
    const result = this.#tail.then(op);
    this.#tail = result.then(
      () => {},
      () => {},
    );
    return result;
  }
}
