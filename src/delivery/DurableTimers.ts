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

/** Called when a timer fires, with the operation that deletes its record. */
export type OnFire = (deleteRecord: StoreOp) => void;

export interface ArmOptions {
  /**
   * The owner deletes the record: `fire` writes `deleteRecord` in the batch that records
   * what the firing started, so a crash leaves either the timer or that state, never both
   * and never neither. Otherwise the record is deleted as the timer fires, without
   * waiting, and a crash before that write lands fires it once more after the restart:
   * fine for a deadline whose owner takes a second firing as a no-op.
   */
  ownerDeletes?: boolean;
}

export class DurableTimers {
  #armed = new Map<string, { key: string; dueAt: number; handle: TimerHandle }>();

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
  arm(record: TimerRecord, fire: OnFire, options: ArmOptions = {}): StoreOp[] {
    // Keys hold whole milliseconds; a deadline never fires early for the rounding.
    record = { ...record, dueAt: Math.ceil(record.dueAt) };
    const ops = this.#schedule(record, fire, options);
    ops.push({ type: 'put', key: timerKey(record.dueAt, record.id), value: record });
    return ops;
  }

  /** Re-arms a loaded record without writing it again. */
  rearm(record: TimerRecord, fire: OnFire, options: ArmOptions = {}): void {
    this.#schedule(record, fire, options);
  }

  #schedule(record: TimerRecord, fire: OnFire, { ownerDeletes = false }: ArmOptions): StoreOp[] {
    const ops = this.cancel(record.id);
    const key = timerKey(record.dueAt, record.id);
    const handle = this.clock.setTimer(Math.max(0, record.dueAt - this.clock.now()), () => {
      this.#armed.delete(record.id);
      const deleteRecord = this.deletion(record);
      if (!ownerDeletes) {
        this.store.write([deleteRecord]).catch(() => {
          // A stale record only re-fires once after a restart; its owner ignores it.
        });
      }
      fire(deleteRecord);
    });
    this.#armed.set(record.id, { key, dueAt: record.dueAt, handle });
    return ops;
  }

  /** The operation that deletes a loaded record (one that is not armed, or is stale). */
  deletion(record: TimerRecord): StoreOp {
    return { type: 'del', key: timerKey(record.dueAt, record.id) };
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

  /** When the armed timer `id` fires, or undefined when none is armed. */
  dueAt(id: string): number | undefined {
    return this.#armed.get(id)?.dueAt;
  }

  stopAll(): void {
    for (const { handle } of this.#armed.values()) handle.cancel();
    this.#armed.clear();
  }
}
