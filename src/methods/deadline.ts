/** Longest head start a streaming method takes on the runtime's `methodTimeout`. */
const MAX_END_MARGIN_MS = 500;

/**
 * When a streaming method should end by itself, in milliseconds from its start: a little
 * before `methodTimeout`, so that it can stop what it started, send its last line and
 * return a result. The runtime turns a run still going at `methodTimeout` into a
 * `BOSUN_METHOD_TIMEOUT` error and no longer waits for it; for a stream, reaching the
 * timeout is the normal end, not an error. The margin is 10% of the timeout, at most
 * 500 ms. Undefined for `methodTimeout` -1 (no limit).
 */
export function ownDeadlineMs(methodTimeout: number): number | undefined {
  if (methodTimeout < 0) return undefined;
  const ms = methodTimeout * 1000;
  return Math.max(0, ms - Math.min(MAX_END_MARGIN_MS, ms / 10));
}

