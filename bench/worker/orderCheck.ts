import type { MethodSpec } from '../../src/methods/types.ts';
import type { OrderReport } from '../harness/protocol.ts';
import { wallNow } from '../harness/time.ts';

/** The ordered method whose messages carry their index in `data`. */
export const ORDER_CHECKED_METHOD = 'REQBenchSeq';

/**
 * Checks, on the receiving node, that messages run exactly once and in order: each one's
 * `data` is its index in the sequence the sender accepted, so every run must see exactly
 * the next index. A lower index ran twice (or went backwards); a higher one means the
 * messages in between were lost or overtaken.
 */
export class OrderChecker {
  #expected: number;
  #executed = 0;
  #duplicates = 0;
  #gaps = 0;
  #skipped = 0;
  #firstAt: number | undefined;
  #lastAt: number | undefined;
  #onNext: ((at: number, data: string | undefined) => void) | undefined;

  constructor(expectFrom: number) {
    this.#expected = expectFrom;
  }

  get executed(): number {
    return this.#executed;
  }

  get firstAt(): number | undefined {
    return this.#firstAt;
  }

  get lastAt(): number | undefined {
    return this.#lastAt;
  }

  /** Calls `notify` once, at the next run. */
  armNext(notify: (at: number, data: string | undefined) => void): void {
    this.#onNext = notify;
  }

  report(): OrderReport {
    return {
      executed: this.#executed,
      expected: this.#expected,
      duplicates: this.#duplicates,
      gaps: this.#gaps,
      skipped: this.#skipped,
      firstAt: this.#firstAt,
      lastAt: this.#lastAt,
    };
  }

  get method(): MethodSpec {
    return {
      name: ORDER_CHECKED_METHOD,
      summary: 'bench: check that data counts up by one from run to run',
      idempotent: true,
      // A counter that cannot hang, run as REQNone is: the scenarios that use it compare
      // delivery rates with delivery-nats, and an execution actor per run would measure
      // the method's cost instead of the delivery path's.
      inline: true,
      replies: false,
      handler: async (ctx) => {
        this.#observe(ctx.message.data);
        return {};
      },
    };
  }

  #observe(data: string | undefined): void {
    const at = wallNow();
    this.#firstAt ??= at;
    this.#lastAt = at;
    this.#executed++;
    const index = Number(data);
    if (index === this.#expected) this.#expected++;
    else if (index < this.#expected) this.#duplicates++;
    else {
      this.#gaps++;
      this.#skipped += index - this.#expected;
      this.#expected = index + 1;
    }
    const notify = this.#onNext;
    if (notify) {
      this.#onNext = undefined;
      notify(at, data);
    }
  }
}
