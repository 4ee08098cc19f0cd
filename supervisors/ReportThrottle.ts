/** One source's reports are let through at most once in this time... */
const DEFAULT_EVERY_MS = 1000;
/** ...and all sources' together at most this many times. */
const DEFAULT_MAX_PER_PERIOD = 10;
/** Sources whose last report is remembered (the oldest is forgotten first). */
const DEFAULT_MAX_SOURCES = 1000;

export interface ReportThrottleOptions {
  everyMs?: number;
  maxPerPeriod?: number;
  maxSources?: number;
}

/**
 * Limits reports of something an outsider can provoke at will (forged frames, refused
 * handshakes): at most one a period per source, the next one saying how many were held
 * back meanwhile, and at most a few a period in all. Whoever floods a node must not make it
 * flood central's error log in turn, nor hide one source's refusals behind another's.
 */
export class ReportThrottle {
  readonly #everyMs: number;
  readonly #maxPerPeriod: number;
  readonly #maxSources: number;
  readonly #last = new Map<string, { at: number; held: number }>();
  #periodStart = -Infinity;
  #inPeriod = 0;

  constructor(options: ReportThrottleOptions = {}) {
    this.#everyMs = options.everyMs ?? DEFAULT_EVERY_MS;
    this.#maxPerPeriod = options.maxPerPeriod ?? DEFAULT_MAX_PER_PERIOD;
    this.#maxSources = options.maxSources ?? DEFAULT_MAX_SOURCES;
  }

  /**
   * Whether a report from `source` at `now` may go out: undefined when it is held back,
   * else how many of this source's reports were held back since its last one.
   */
  admit(source: string, now: number): { held: number } | undefined {
    const last = this.#last.get(source);
    if (last && now - last.at < this.#everyMs) {
      last.held++;
      return undefined;
    }
    if (now - this.#periodStart >= this.#everyMs) {
      this.#periodStart = now;
      this.#inPeriod = 0;
    }
    if (this.#inPeriod >= this.#maxPerPeriod) {
      if (last) last.held++;
      return undefined;
    }
    this.#inPeriod++;
    // Deleted and set again: the map's order is the order of last reports.
    this.#last.delete(source);
    this.#last.set(source, { at: now, held: 0 });
    if (this.#last.size > this.#maxSources) this.#last.delete(this.#last.keys().next().value!);
    return { held: last?.held ?? 0 };
  }
}
