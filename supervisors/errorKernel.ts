/**
 * Where every failure in the tree ends up. It is part of the error kernel, the part that
 * must not fail: a throwing logger or forwarder is contained here and never reaches the
 * supervisor that reported.
 */
import type { BaseLogger } from 'pino';
import type { ErrorReport, ErrorSink } from './types.ts';

/** The part of a pino logger the kernel uses. */
export type KernelLogger = Pick<BaseLogger, 'info' | 'warn' | 'error' | 'fatal'>;

/** Sends a report elsewhere, e.g. a `REQErrorLog` to the central node. May be async. */
export type ReportForwarder = (report: ErrorReport) => void | Promise<void>;

const LEVELS = { info: 'info', warning: 'warn', error: 'error', fatal: 'fatal' } as const;

/** How many reports `recent()` keeps. */
export const RECENT_REPORTS = 100;

export class ErrorKernel implements ErrorSink {
  readonly #logger: KernelLogger;
  readonly #forwarders: ReportForwarder[];
  readonly #counts = new Map<string, number>();
  readonly #recent: ErrorReport[] = [];
  #forwardFailures = 0;

  constructor(logger: KernelLogger, forwarders: readonly ReportForwarder[] = []) {
    this.#logger = logger;
    this.#forwarders = [...forwarders];
  }

  /** Adds a forwarder; returns a function that removes it again. */
  addForwarder(forwarder: ReportForwarder): () => void {
    this.#forwarders.push(forwarder);
    return () => {
      const index = this.#forwarders.indexOf(forwarder);
      if (index >= 0) this.#forwarders.splice(index, 1);
    };
  }

  report(report: ErrorReport): void {
    this.#counts.set(report.code, (this.#counts.get(report.code) ?? 0) + 1);
    this.#recent.push(report);
    if (this.#recent.length > RECENT_REPORTS) this.#recent.shift();
    this.#log(report);
    for (const forwarder of this.#forwarders) this.#forward(forwarder, report);
  }

  /** Reports seen so far, by code. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.#counts);
  }

  /** The last reports, oldest first. */
  recent(): ErrorReport[] {
    return [...this.#recent];
  }

  /** Forwarders that threw or rejected, in total. */
  get forwardFailures(): number {
    return this.#forwardFailures;
  }

  #log(report: ErrorReport): void {
    const level = LEVELS[report.severity] ?? 'error';
    const fields = { source: report.source, code: report.code, action: report.action, err: report.error };
    try {
      this.#logger[level](fields, report.message);
    } catch {
      // A broken logger must not take the kernel down with it.
    }
  }

  #forward(forwarder: ReportForwarder, report: ErrorReport): void {
    const failed = (error: unknown): void => {
      this.#forwardFailures += 1;
      try {
        this.#logger.warn({ err: error, code: report.code }, 'error report forwarder failed');
      } catch {
        // As above.
      }
    };
    try {
      const result = forwarder(report);
      if (result && typeof result.then === 'function') result.then(undefined, failed);
    } catch (error) {
      failed(error);
    }
  }
}
