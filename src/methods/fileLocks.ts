/**
 * Who may change a file now, so that at most one batch at a time has an effect in flight
 * on it: a batch's started record names the file's length before its effect, and a
 * crash is undone by cutting the file back to that length, which would also cut off a
 * later batch of another stream had it appended meanwhile.
 *
 * A holder (one stream's lane) may take a file it already holds again: its next batch
 * plans while the previous one's finish is being written. Waiters are served in turn.
 */
export class FileLocks {
  readonly #held = new Map<string, { holder: object; count: number; waiters: Array<() => void> }>();

  /** Takes every path, in sorted order (no two holders can wait on each other). */
  async acquire(paths: readonly string[], holder: object): Promise<void> {
    for (const p of [...paths].sort()) await this.#acquireOne(p, holder);
  }

  /**
   * Takes every path only if none is held by someone else, or waited for (a holder going
   * on batch after batch must not starve the others); false, nothing taken, otherwise.
   */
  tryAcquire(paths: readonly string[], holder: object): boolean {
    for (const p of paths) {
      const lock = this.#held.get(p);
      if (lock && (lock.holder !== holder || lock.waiters.length > 0)) return false;
    }
    for (const p of paths) this.#take(p, holder);
    return true;
  }

  release(paths: readonly string[], holder: object): void {
    for (const p of paths) {
      const lock = this.#held.get(p);
      if (!lock || lock.holder !== holder) continue;
      if (--lock.count > 0) continue;
      const next = lock.waiters.shift();
      if (next) next();
      else this.#held.delete(p);
    }
  }

  /** True while someone holds `path`. */
  isHeld(path: string): boolean {
    return this.#held.has(path);
  }

  #take(p: string, holder: object): void {
    const lock = this.#held.get(p);
    if (lock) lock.count++;
    else this.#held.set(p, { holder, count: 1, waiters: [] });
  }

  #acquireOne(p: string, holder: object): Promise<void> {
    const lock = this.#held.get(p);
    if (!lock || lock.holder === holder) {
      this.#take(p, holder);
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      lock.waiters.push(() => {
        lock.holder = holder;
        lock.count = 1;
        resolve();
      }),
    );
  }
}
