/**
 * Time is injected everywhere so that tests can drive timers with a virtual clock
 * instead of sleeping.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  now(): number;
  /** Calls `fn` once after `ms`; delays beyond setTimeout's 2^31-1 ms limit are chunked. */
  setTimer(ms: number, fn: () => void): TimerHandle;
}

const MAX_DELAY = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    let handle: NodeJS.Timeout;
    const due = Date.now() + Math.max(0, ms);
    const arm = () => {
      const left = due - Date.now();
      handle = setTimeout(left > MAX_DELAY ? arm : fn, Math.min(Math.max(0, left), MAX_DELAY));
      handle.unref?.();
    };
    arm();
    return { cancel: () => clearTimeout(handle) };
  },
};

/**
 * A clock that only moves when told to. Timers fire in due order during `advance`.
 */
export class VirtualClock implements Clock {
  #now: number;
  #timers = new Map<number, { due: number; fn: () => void }>();
  #nextId = 0;

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { due: this.#now + Math.max(0, ms), fn });
    return { cancel: () => this.#timers.delete(id) };
  }

  /** Number of timers still armed. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves time forward by `ms`, firing due timers in order. Between timers it yields to
   * the event loop so promise chains started by one timer settle before the next fires.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await settle();
      let nextId = -1;
      let next: { due: number; fn: () => void } | undefined;
      for (const [id, t] of this.#timers) {
        if (t.due <= target && (!next || t.due < next.due)) {
          next = t;
          nextId = id;
        }
      }
      if (!next) break;
      this.#timers.delete(nextId);
      this.#now = Math.max(this.#now, next.due);
      next.fn();
    }
    this.#now = target;
    await settle();
  }
}

/** Lets pending promise callbacks and immediates run. */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
