import type { Clock } from '../clock.ts';
import type { Message } from '../message.ts';
import { execKey, inKey, prefixRange, regKey } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';
import type { DurableTimers, TimerRecord } from '../delivery/DurableTimers.ts';
import { streamIdOf } from '../delivery/frames.ts';
import type { InboxEntry } from '../delivery/SubjectReceiver.ts';

/**
 * Scheduled re-runs (`schedule: [interval, total]`). A schedule is always in exactly one
 * of two durable states, each entered in one batch that leaves the other:
 *
 * - waiting: a durable timer, written with the record of the run before;
 * - due: an inbox entry of the run, written with the deletion of the timer that fired.
 *
 * A due run is an ordinary inbox entry, so a restart (of the node, or of the method's
 * subscriber) runs it, or reports it interrupted if it had started; the batch that
 * records the run deletes the entry and arms the next timer or ends the schedule. A run
 * the node was down for fires once when it comes back; the schedule then goes on from there.
 *
 * Each schedule's runs take a stream of their own, `<stream>~<schedule>` at sequence 0,
 * so the records of a run (due, started) are apart from every other schedule's and from
 * the stream's received messages. Sequence 0 is how the guard knows a local re-run: no
 * received message has it.
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

  /**
   * Re-arms every waiting schedule found in the store. Due runs are inbox entries, which
   * the inbound side has taken back already; this only clears what an earlier version
   * left: stale timers, and due runs it kept as a schedule without a timer.
   */
  async restore(): Promise<number> {
    const timers = new Map<string, TimerRecord[]>();
    for (const t of await this.timers.load()) {
      if (t.id.startsWith('sched~')) timers.set(t.id, [...(timers.get(t.id) ?? []), t]);
    }
    const ops: StoreOp[] = [];
    const dropTimers = (records: TimerRecord[]) => {
      for (const r of records) ops.push(this.timers.deletion(r));
    };
    const legacy: Array<{ entry: InboxEntry; started: boolean }> = [];
    const legacyStarted = new Set<string>();
    let restored = 0;
    for (const [key, next] of await this.store.range<Message>(prefixRange(regKey('sched')))) {
      const id = key.slice(regKey('sched!').length);
      const entry = this.#entry(next);
      // Soonest first: the last one is the latest armed, any other one is stale.
      const records = timers.get(id) ?? [];
      timers.delete(id);
      const timer = records.pop();
      dropTimers(records);
      restored++;
      if ((await this.store.get(inKey(entry.stream, entry.seq))) !== undefined) {
        if (timer) dropTimers([timer]);
      } else if (timer) {
        this.timers.rearm(timer, (del) => void this.#fire(next, del), { ownerDeletes: true });
      } else {
        // An earlier version deleted a fired timer and kept nothing else until the run was
        // recorded; all schedules of a stream shared one started record, so a run that
        // record may be about is taken as started: reported, never run twice.
        const shared = execKey(streamIdOf(next.fromNode, next.toNode, next.method), 0);
        const startedRecord = await this.store.get(shared);
        ops.push({ type: 'put', key: inKey(entry.stream, entry.seq), value: entry.message });
        if (startedRecord !== undefined) {
          legacyStarted.add(shared);
          ops.push({ type: 'put', key: execKey(entry.stream, entry.seq), value: startedRecord });
        }
        legacy.push({ entry, started: startedRecord !== undefined });
      }
    }
    // Timers of schedules that are over.
    dropTimers([...timers.values()].flat());
    for (const key of legacyStarted) ops.push({ type: 'del', key });
    if (ops.length > 0) await this.store.write(ops);
    for (const { entry, started } of legacy) await this.resume(entry, started);
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
      ...this.timers.arm({ id, event: 'RUN', dueAt }, (del) => void this.#fire(next, del), { ownerDeletes: true }),
    ];
  }

  /**
   * The timer fired: the run becomes due in the batch that deletes the timer, and only
   * then runs. A write that fails is tried again; once the store is closed (the node
   * stopping or dead) the timer's record is left for the next start to fire.
   */
  async #fire(message: Message, deleteTimer: StoreOp): Promise<void> {
    const entry = this.#entry(message);
    const due: StoreOp[] = [deleteTimer, { type: 'put', key: inKey(entry.stream, entry.seq), value: message }];
    for (let pause = 100; ; pause = Math.min(pause * 2, 5_000)) {
      if (this.store.status !== 'open') return;
      try {
        await this.store.write(due);
        break;
      } catch {
        // Whatever else writes meets the same fault and reports it.
        await new Promise<void>((resolve) => this.clock.setTimer(pause, resolve));
      }
    }
    this.run(entry);
  }

  #entry(message: Message): InboxEntry {
    const of = message.scheduled?.of ?? message.id;
    const stream = `${streamIdOf(message.fromNode, message.toNode, message.method)}~${Buffer.from(of).toString('base64url')}`;
    return { stream, seq: 0, message };
  }
}
