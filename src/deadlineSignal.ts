/** A signal that aborts when its parent does or when its deadline passes, whichever is first. */
export interface DeadlineSignal {
  readonly signal: AbortSignal;
  /** Whether the deadline (not the parent) ended it. */
  readonly expired: boolean;
  /** Clears the timer and lets go of the parent; call it once the work is done. */
  clear(): void;
}

/**
 * `parent` joined with a deadline `ms` from now, held by a timer of its own. Not
 * `AbortSignal.any([parent, AbortSignal.timeout(ms)])`: on Node 20 the joined signal holds
 * the timeout signal only weakly, so a garbage collection could take the deadline away,
 * and the work it bounds would then wait on, unbounded.
 */
export function deadlineSignal(parent: AbortSignal, ms: number, reason: () => unknown = () => new Error(`deadline of ${ms} ms reached`)): DeadlineSignal {
  const controller = new AbortController();
  let expired = false;
  const onStop = () => controller.abort(parent.reason);
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(reason());
  }, ms);
  const clear = () => {
    clearTimeout(timer);
    parent.removeEventListener('abort', onStop);
  };
  if (parent.aborted) onStop();
  else parent.addEventListener('abort', onStop, { once: true });
  controller.signal.addEventListener('abort', clear, { once: true });
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    clear,
  };
}
