/**
 * Retention of the responses log: without it the log grows for as long as the node
 * lives. A pass at start and then every minute deletes the oldest records that are older
 * than the maximum age or beyond the maximum count, in batches of a thousand, yielding to
 * request handling between batches so that a large backlog never stalls the gateway.
 *
 * When responses are forwarded to JetStream, a record JetStream does not hold yet is
 * never pruned, whatever the limits say: a NATS outage of a week must not lose replies.
 * Such records are kept past the limits, counted in a metric, and a warning says how many
 * (at the first pass that holds any, then hourly while it lasts).
 */
import type { ErrorSink } from '../../supervisors/types.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import { describeError } from '../errors.ts';
import type { GatewayLogger } from './gateway.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { ResponseLog } from './responses.ts';

/** Records deleted per store write. */
export const PRUNE_BATCH = 1000;
/** Time between passes. */
export const PRUNE_INTERVAL_MS = 60_000;
/** While records are held for JetStream, the warning is repeated this often. */
const HELD_WARNING_INTERVAL_MS = 3_600_000;

export interface ResponseRetentionDeps {
  log: ResponseLog;
  clock: Clock;
  logger: GatewayLogger;
  errors: ErrorSink;
  metrics: GatewayMetrics;
  /** 0: no age limit. */
  maxAgeMs: number;
  /** 0: no count limit. */
  maxRecords: number;
  /**
   * The last seq JetStream holds, when responses go there: nothing after it is pruned.
   * Absent, or `undefined`, while the log is the only copy anyone expects.
   */
  forwardedThrough?: () => number | undefined;
}

export class ResponseRetention {
  readonly #deps: ResponseRetentionDeps;
  #state: 'running' | 'stopping' | 'stopped' = 'running';
  #timer: TimerHandle | undefined;
  #pass: Promise<void> = Promise.resolve();
  /** When the last "held for JetStream" warning went out; undefined while nothing is held. */
  #heldWarnedAt: number | undefined;

  private constructor(deps: ResponseRetentionDeps) {
    this.#deps = deps;
  }

  /** Starts the first pass now (without waiting for it) and one every minute after it. */
  static start(deps: ResponseRetentionDeps): ResponseRetention {
    const retention = new ResponseRetention(deps);
    if (deps.maxAgeMs > 0 || deps.maxRecords > 0) retention.#runPass();
    return retention;
  }

  /** Waits for the batch in flight; what is left is pruned at the next start. */
  async stop(): Promise<void> {
    if (this.#state !== 'running') return this.#pass;
    this.#state = 'stopping';
    this.#timer?.cancel();
    await this.#pass;
    this.#state = 'stopped';
  }

  #runPass(): void {
    this.#pass = this.#prune().then(() => {
      if (this.#state === 'running') this.#timer = this.#deps.clock.setTimer(PRUNE_INTERVAL_MS, () => this.#runPass());
    });
  }

  async #prune(): Promise<void> {
    const { log, metrics, maxAgeMs, maxRecords, forwardedThrough } = this.#deps;
    try {
      const byCount = maxRecords > 0 ? log.lastSeq - maxRecords : 0;
      const byAge = maxAgeMs > 0 ? await this.#lastWrittenBy(this.#deps.clock.now() - maxAgeMs) : 0;
      const due = Math.max(byCount, byAge);
      const through = forwardedThrough?.();
      const allowed = through === undefined ? due : Math.min(due, through);
      this.#reportHeld(Math.max(0, due - Math.max(allowed, log.prunedThrough)));
      while (this.#state === 'running' && log.prunedThrough < allowed) {
        metrics.responsesPruned.inc({}, await log.pruneBatch(allowed, PRUNE_BATCH));
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      const { code, message } = describeError(error);
      this.#deps.errors.report({ source: 'receptor-gateway', severity: 'error', code, message: `pruning the responses log failed: ${message}`, error });
    }
  }

  /**
   * The last seq written at or before `cutoff`, found by bisection: the log is in
   * arrival order, so a few reads find it among millions of records.
   */
  async #lastWrittenBy(cutoff: number): Promise<number> {
    const { log } = this.#deps;
    let old = log.prunedThrough;
    let young = log.lastSeq + 1;
    while (young - old > 1) {
      const mid = old + Math.floor((young - old) / 2);
      const found = await log.writtenAt(mid);
      if (found && found.seq < young && found.at <= cutoff) old = found.seq;
      else young = mid;
    }
    return old;
  }

  #reportHeld(held: number): void {
    const { metrics, logger, clock } = this.#deps;
    metrics.responsesRetentionHeld.set(held);
    const now = clock.now();
    if (held > 0) {
      if (this.#heldWarnedAt !== undefined && now - this.#heldWarnedAt < HELD_WARNING_INTERVAL_MS) return;
      this.#heldWarnedAt = now;
      logger.warn(
        { held, forwarded: this.#deps.forwardedThrough?.() },
        `${held} responses are kept past the retention limits because JetStream does not have them yet; they are pruned once published`,
      );
    } else if (this.#heldWarnedAt !== undefined) {
      this.#heldWarnedAt = undefined;
      logger.info({}, 'the responses kept for JetStream are published; retention applies to them again');
    }
  }
}
