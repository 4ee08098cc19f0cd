import { deadlineSignal, type DeadlineSignal } from '../deadlineSignal.ts';

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

/**
 * The run's signal joined with its own deadline (`ownDeadlineMs`), held by a timer of its
 * own (see `deadlineSignal`): a long tail once lost its deadline to a garbage collection
 * and ran on until the runtime stopped it with `BOSUN_METHOD_TIMEOUT`.
 */
export function ownDeadline(runSignal: AbortSignal, methodTimeout: number): DeadlineSignal {
  const deadlineMs = ownDeadlineMs(methodTimeout);
  if (deadlineMs === undefined) return { signal: runSignal, expired: false, clear: () => {} };
  return deadlineSignal(runSignal, deadlineMs, () => new Error(`methodTimeout ${methodTimeout}s reached`));
}
