/** Longest head start a streaming method takes on the runtime's `methodTimeout`. */
const MAX_END_MARGIN_MS = 1000;

/**
 * When a streaming method should end by itself, in milliseconds from its start: a little
 * before `methodTimeout`, so that it can stop what it started, send its last line and
 * return a result. The runtime turns a run still going at `methodTimeout` into a
 * `BOSUN_METHOD_TIMEOUT` error and no longer waits for it; for a stream, reaching the
 * timeout is the normal end, not an error. The margin is 20% of the timeout, at most
 * 1 s: stopping a process group and sending the last line must fit in it on a busy machine. Undefined for `methodTimeout` -1 (no limit).
 */
export function ownDeadlineMs(methodTimeout: number): number | undefined {
  if (methodTimeout < 0) return undefined;
  const ms = methodTimeout * 1000;
  return Math.max(0, ms - Math.min(MAX_END_MARGIN_MS, ms / 5));
}


/** A run's own deadline: `signal` aborts at the run's stop or at the deadline, whichever comes first. */
export interface OwnDeadline {
  readonly signal: AbortSignal;
  /** Whether the deadline (not the run's stop) ended it. */
  readonly expired: boolean;
  /** Clears the timer and lets go of the run's signal; call it when the run ends. */
  clear(): void;
}

/**
 * The run's signal joined with its own deadline (`ownDeadlineMs`), held by a timer of its
 * own. Not `AbortSignal.any([signal, AbortSignal.timeout(ms)])`: on Node 20 the joined
 * signal holds the timeout signal only weakly, so a garbage collection during a long tail
 * could take it, and the tail then ran on until the runtime stopped it with
 * `BOSUN_METHOD_TIMEOUT`.
 */
export function ownDeadline(runSignal: AbortSignal, methodTimeout: number): OwnDeadline {
  const deadlineMs = ownDeadlineMs(methodTimeout);
  if (deadlineMs === undefined) return { signal: runSignal, expired: false, clear: () => {} };
  const controller = new AbortController();
  let expired = false;
  const onStop = () => controller.abort(runSignal.reason);
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new Error(`methodTimeout ${methodTimeout}s reached`));
  }, deadlineMs);
  const clear = () => {
    clearTimeout(timer);
    runSignal.removeEventListener('abort', onStop);
  };
  if (runSignal.aborted) onStop();
  else runSignal.addEventListener('abort', onStop, { once: true });
  controller.signal.addEventListener('abort', clear, { once: true });
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    clear,
  };
}
