/**
 * OTP's restart intensity: the supervisor keeps the times of its recent restarts and
 * gives up once more than `intensity` fall within the last `period`. Mirrors
 * `add_restart/1`: timestamps older than `now - period` are dropped, the new one is
 * added, and the check is `count > intensity`.
 *
 * OTP counts in whole monotonic seconds; this counts in the injected clock's
 * milliseconds, so a restart exactly `period` ago still counts and one a millisecond
 * older does not.
 */
export class RestartIntensity {
  /** Newest first. */
  #restarts: number[] = [];
  readonly #intensity: number;
  readonly #periodMs: number;

  constructor(intensity: number, periodSeconds: number) {
    this.#intensity = intensity;
    this.#periodMs = periodSeconds * 1000;
  }

  /** Records a restart at `now`. Returns false when that one is over the limit. */
  add(now: number): boolean {
    const threshold = now - this.#periodMs;
    const kept: number[] = [now];
    for (const at of this.#restarts) {
      if (at < threshold) break;
      kept.push(at);
    }
    this.#restarts = kept;
    return kept.length <= this.#intensity;
  }

  /** Restarts still inside the period as of the last `add`. */
  get recent(): number {
    return this.#restarts.length;
  }
}
