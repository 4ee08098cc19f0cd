import type { Clock, TimerHandle } from '../clock.ts';
import type { Store, StoreOp } from '../store/types.ts';
import { prefixRange, timerKey } from '../store/keys.ts';

/**
 * Deadlines as data. xstate drops armed delays when an actor is restored from a snapshot,
 * so every deadline that must survive a restart is a `{id, event, dueAt}` record written
 * in the same batch as the state it belongs to, and re-armed at start-up with
 * `max(0, dueAt - now)`. A deadline that passed while the node was down fires once.
 */
export interface TimerRecord {
  id: string;
  event: string;
  dueAt: number;
}

export class DurableTimers {
  #armed = new Map<string, { key: string; handle: TimerHandle }>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Every persisted deadline, soonest first. */
  async load(): Promise<TimerRecord[]> {
    const rows = await this.store.range<TimerRecord>(prefixRange('timer'));
    return rows.map(([, r]) => r);
  }

  /**
   * Arms `fire` at `dueAt` and returns the store operations that persist it, to be
   * written with the state change that armed it. Re-arming an id replaces its deadline.
   */
  arm(record: TimerRecord, fire: () => void): StoreOp[] {
    // Keys hold whole milliseconds; a deadline never fires early for the rounding.
    record = { ...record, dueAt: Math.ceil(record.dueAt) };
    const ops = this.#schedule(record, fire);
    ops.push({ type: 'put', key: timerKey(record.dueAt, record.id), value: record });
    return ops;
  }

  /** Re-arms a loaded record without writing it again. */
  rearm(record: TimerRecord, fire: () => void): void {
    this.#schedule(record, fire);
  }

  #schedule(record: TimerRecord, fire: () => void): StoreOp[] {
    const ops = this.cancel(record.id);
    const key = timerKey(record.dueAt, record.id);
    const handle = this.clock.setTimer(Math.max(0, record.dueAt - this.clock.now()), () => {
      this.#armed.delete(record.id);
      this.store.write([{ type: 'del', key }]).catch(() => {
        // A stale record only re-fires once after a restart; its owner ignores it.
      });
      fire();
    });
    this.#armed.set(record.id, { key, handle });
    return ops;
  }

  /** Disarms `id`; returns the operations that delete its record. */
  cancel(id: string): StoreOp[] {
    const armed = this.#armed.get(id);
    if (!armed) return [];
    armed.handle.cancel();
    this.#armed.delete(id);
    return [{ type: 'del', key: armed.key }];
  }

  has(id: string): boolean {
    return this.#armed.has(id);
  }

  stopAll(): void {
    for (const { handle } of this.#armed.values()) handle.cancel();
    this.#armed.clear();
  }
}
