import type { Clock } from '../clock.ts';
import type { Message } from '../message.ts';
import { execKey, prefixRange, regKey } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';
import type { DurableTimers } from '../delivery/DurableTimers.ts';
import { streamIdOf } from '../delivery/frames.ts';
import type { InboxEntry } from '../delivery/SubjectReceiver.ts';

/**
 * Scheduled re-runs (`schedule: [interval, total]`). After each run of a scheduled
 * message the next run is a durable timer plus the message to run, written in the same
 * batch that records the run, so a restart of the node keeps the schedule. A run the
 * node was down for fires once when it comes back; the schedule then goes on from there.
 */
export class Scheduler {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly timers: DurableTimers,
    /** Hands a due run to the method's subscriber. */
    private readonly run: (entry: InboxEntry) => void,
    /**
     * Takes back a due run that a crash may have cut short (`started`: its run was
     * recorded as started): the inbox's rule for interrupted runs applies.
     */
    private readonly resume: (entry: InboxEntry, started: boolean) => Promise<void>,
  ) {}

  /** Re-arms every schedule found in the store. */
  async restore(): Promise<number> {
    const due = new Map((await this.timers.load()).filter((t) => t.id.startsWith('sched~')).map((t) => [t.id, t]));
    let restored = 0;
    for (const [key, next] of await this.store.range<Message>(prefixRange('reg!sched'))) {
      const id = key.slice('reg!sched!'.length);
      const timer = due.get(id);
      if (timer) this.timers.rearm(timer, () => this.#fire(next));
      else {
        // No timer: it fired (firing deletes its record) and the node died before the run
        // was recorded, since the batch that records a run also arms the next one or ends
        // the schedule. Skipping the entry would end the schedule for good after a crash
        // while a run was due or running. Resumed like an inbox entry, the run is done or
        // reported interrupted, and either way its record arms the next one.
        const entry = this.#entry(next);
        await this.resume(entry, (await this.store.get(execKey(entry.stream, entry.seq))) !== undefined);
      }
      restored++;
    }
    return restored;
  }

  /**
   * The store operations that schedule the next run after `message` ran (none when the
   * schedule is over or the message has none).
   */
  afterRun(message: Message): StoreOp[] {
    if (!message.schedule) return [];
    const [interval, total] = message.schedule;
    const now = this.clock.now();
    const firstRunAt = message.scheduled?.firstRunAt ?? now;
    const dueAt = Math.round(now + interval * 1000);
    const base = message.scheduled?.of ?? message.id;
    const id = `sched~${message.fromNode}~${base}`;
    if (dueAt > firstRunAt + total * 1000) return [{ type: 'del', key: regKey(`sched!${id}`) }];
    const run = (message.scheduled?.run ?? 0) + 1;
    const next: Message = { ...message, id: `${base}#${run}`, scheduled: { firstRunAt, run, of: base }, acceptedAt: now };
    return [
      { type: 'put', key: regKey(`sched!${id}`), value: next },
      ...this.timers.arm({ id, event: 'RUN', dueAt }, () => this.#fire(next)),
    ];
  }

  #fire(message: Message): void {
    this.run(this.#entry(message));
  }

  #entry(message: Message): InboxEntry {
    // Scheduled runs are local: they take sequence 0 of the stream, which no message has.
    return { stream: streamIdOf(message.fromNode, message.toNode, message.method), seq: 0, message };
  }
}
