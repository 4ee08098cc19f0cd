import type { Logger } from 'pino';
import { ReportThrottle } from '../../supervisors/ReportThrottle.ts';

/** One line per kind of error a minute, at most; the next says how many were held back. */
const EVERY_MS = 60_000;

/**
 * An error listener for what an input meets over and over (out of file descriptors:
 * "too many open files" on every accept, or on every poll of the input file): each code
 * is logged once a minute at most, with the count of those held back, instead of
 * filling the log.
 */
export function repeatedErrorLog(log: Logger, what: string, now: () => number = Date.now): (err: NodeJS.ErrnoException) => void {
  const throttle = new ReportThrottle({ everyMs: EVERY_MS, maxPerPeriod: 10 });
  return (err) => {
    const admitted = throttle.admit(err.code ?? err.message, now());
    if (!admitted) return;
    const repeated = admitted.held > 0 ? { repeated: admitted.held } : {};
    log.error({ code: err.code, ...repeated }, `${what}: ${err.message}${admitted.held > 0 ? ` (${admitted.held} more like it since the last line)` : ''}`);
  };
}
