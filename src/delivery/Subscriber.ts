import { createActor, type Actor } from 'xstate';
import type { Logger } from 'pino';
import type { executionMachine } from '../../actors/executionMachine.ts';
import { subscriberMachine } from '../../actors/subscriberMachine.ts';
import type { Clock } from '../clock.ts';
import { isOrderedMethod } from '../message.ts';
import type { MethodContext, MethodSpec } from '../methods/types.ts';
import { execKey, inKey } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';
import { failure, HandlerRun, success, type Outcome } from './HandlerRun.ts';
import { follows, refusalOf, type RunBatch } from './runBatch.ts';
import { startedOp } from './runRecords.ts';
import type { InboxEntry } from './SubjectReceiver.ts';
import { WorkQueue } from './WorkQueue.ts';

export type { Outcome } from './HandlerRun.ts';

/** Entries of a method that does not batch still share a finish when they are refusals. */
const MAX_REFUSALS_AT_ONCE = 256;

export interface SubscriberDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  /** Builds the handler context (everything but the message and signal). */
  context(entry: InboxEntry, signal: AbortSignal): MethodContext;
  /**
   * The run is over: returns the store operations that record it (the reply's outbox row,
   * for instance) and a callback for once they are durable.
   */
  finish(entry: InboxEntry, outcome: Outcome, spec: MethodSpec | undefined): { ops: StoreOp[]; done(ok: boolean): void };
  onError(error: unknown): void;
  concurrency: number;
  /**
   * May this message run here? Throws a `BosunError` (bad signature, not allowed, …)
   * to refuse it: the run ends with that error, and the handler never starts.
   */
  authorize?(message: InboxEntry['message'], delivery: { stream: string; seq: number }): void | Promise<void>;
  /** Gets ready for a run (opens the stream its reply will take, so replies keep order). */
  prepare?(entry: InboxEntry): void | Promise<void>;
}

/**
 * The subscriber of one method on the receiving node: it runs inbox entries through the
 * method's handler — ordered methods one batch at a time per stream, in stream order — and
 * records each batch durably: a `started` record before a non-idempotent effect, so that
 * a crash mid-run is reconciled (an effect the method can check) or reported as
 * interrupted, never silently re-run.
 *
 * Runs are pipelined: the write that records batch k's outcomes also carries batch k+1's
 * `started` record, so a busy stream costs one synced write per batch, and the batches
 * of different streams meet in the store's group commit.
 */
export class Subscriber {
  readonly method: string;
  readonly ordered: boolean;
  readonly actor: Actor<typeof subscriberMachine>;
  #queue: WorkQueue<InboxEntry>;
  #handlers: HandlerRun;
  #done = 0;
  #failed = 0;
  #idleWaiters: Array<() => void> = [];
  #drained: Promise<void> | undefined;
  /** Set by an operator: only these nodes may send this method here. */
  allowedNodes: string[] | undefined;
  #spec: MethodSpec | undefined;

  constructor(
    method: string,
    spec: MethodSpec | undefined,
    private readonly deps: SubscriberDeps,
  ) {
    this.method = method;
    this.#spec = spec;
    this.ordered = isOrderedMethod(method);
    this.#queue = new WorkQueue<InboxEntry>((e) => e.stream, this.ordered);
    this.#handlers = new HandlerRun(deps.clock, (entry, signal) => deps.context(entry, signal));
    // Lanes start outside the machine's action: an action must not start work itself.
    this.actor = createActor(
      subscriberMachine.provide({
        actions: { startLanes: () => queueMicrotask(() => this.#startLanes()), notifyIdle: () => this.#notifyIdle() },
      }),
      { input: { concurrency: deps.concurrency } },
    );
    this.actor.subscribe({ error: () => {} });
    this.actor.start();
  }

  /** The method this subscriber runs; undefined while it answers every message as unknown. */
  get spec(): MethodSpec | undefined {
    return this.#spec;
  }

  /**
   * Starts or stops serving the method: with a spec its entries run, without one they are
   * answered `BOSUN_UNKNOWN_METHOD`. Runs in progress are not affected.
   */
  serve(spec: MethodSpec | undefined): void {
    this.#spec = spec;
  }

  enqueue(entries: InboxEntry[]): void {
    for (const e of entries) this.#queue.push(e);
    this.actor.send({ type: 'WORK' });
  }

  /** Reports an entry whose run a crash cut short, without running it again. */
  interrupted(entry: InboxEntry): Promise<void> {
    return this.interruptedBatch([entry], execKey(entry.stream, entry.seq));
  }

  /**
   * Reports a batch a crash cut short, without running it again: every entry's outcome
   * and the removal of its started record go in one write, so a crash in between can
   * neither lose the report of some nor let the rest run.
   */
  async interruptedBatch(entries: InboxEntry[], recordKey: string): Promise<void> {
    const outcome = (e: InboxEntry): Outcome => ({
      ok: false,
      code: 'BOSUN_INTERRUPTED',
      message: `${e.message.method} ${e.message.id} was running when the node stopped; it was not run again`,
    });
    const batch: RunBatch = { entries, spec: undefined, refusals: entries.map(outcome), recordKey };
    if (!(await this.#prepareAll(entries))) return;
    const { ops, done } = this.#finishOps(batch, batch.refusals as Outcome[]);
    await this.#write(ops, done, true);
  }

  get info(): Record<string, unknown> {
    const { running } = this.actor.getSnapshot().context;
    return { queued: this.#queue.size, running, done: this.#done, failed: this.#failed };
  }

  /** Runs handed to an execution actor: those still going after the turn they started in. */
  get runs(): ReadonlySet<Actor<typeof executionMachine>> {
    return this.#handlers.runs;
  }

  /**
   * Stops taking work and waits for the runs in progress, up to `graceMs`; then it stops
   * them (their handlers see their signal abort). A run cut short this way stays
   * recorded as started, so the next start reconciles it or reports it as interrupted.
   * Draining twice waits for the same drain.
   */
  drain(graceMs: number): Promise<void> {
    this.#drained ??= this.#drain(graceMs);
    return this.#drained;
  }

  async #drain(graceMs: number): Promise<void> {
    if (this.actor.getSnapshot().status === 'active') this.actor.send({ type: 'DRAIN' });
    if (this.actor.getSnapshot().context.running === 0) return;
    let timer: { cancel(): void } | undefined;
    const idle = new Promise<boolean>((resolve) => this.#idleWaiters.push(() => resolve(true)));
    const late = new Promise<boolean>((resolve) => (timer = this.deps.clock.setTimer(graceMs, () => resolve(false))));
    const finished = await Promise.race([idle, late]);
    timer?.cancel();
    if (!finished) this.#handlers.stopAll();
  }

  /** Stops taking work (runs in progress finish); entries keep arriving and wait. */
  pause(): void {
    this.actor.send({ type: 'PAUSE' });
  }

  resume(): void {
    this.actor.send({ type: 'RESUME' });
  }

  get paused(): boolean {
    return this.actor.getSnapshot().context.paused;
  }

  /** May a lane go on to its stream's next batch? Not while paused, draining or stopped. */
  get #taking(): boolean {
    const s = this.actor.getSnapshot();
    return s.status === 'active' && s.value === 'busy' && !s.context.paused;
  }

  #notifyIdle(): void {
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  /** Starts a lane per entry that may start now, up to the concurrency the machine allows. */
  #startLanes(): void {
    while (this.actor.getSnapshot().can({ type: 'LANE_STARTED' })) {
      const entry = this.#queue.take();
      if (!entry) break;
      this.actor.send({ type: 'LANE_STARTED' });
      void this.#lane(entry).then(() => {
        this.#queue.done(entry);
        this.actor.send({ type: 'LANE_ENDED', queued: this.#queue.size });
      });
    }
  }

  /**
   * One stream's turn: its batches one after another, each batch's finish written
   * together with the next one's start. A failure to write is retried (the stream must
   * not move on past a batch whose outcome is not durable) until the subscriber drains.
   */
  async #lane(first: InboxEntry): Promise<void> {
    const holder = {};
    let batch = await this.#open(this.#gather(first), holder, true);
    if (!batch) return;
    if (batch.start && !(await this.#retrying(() => this.deps.store.write([batch!.start!])))) return batch.planned?.release();
    while (batch) {
      const outcomes = await this.#apply(batch);
      const following: InboxEntry[] = this.#taking ? this.#queue.takeFollowing(batch.entries.at(-1)!, this.#batchSize(), follows) : [];
      let next: RunBatch | undefined = following.length > 0 ? await this.#open(following, holder, false) : undefined;
      if (!(await this.#prepareAll(batch.entries))) {
        batch.planned?.release();
        return next?.planned?.release();
      }
      const { ops, done } = this.#finishOps(batch, outcomes);
      if (next?.start) ops.push(next.start);
      const hold = next?.start !== undefined || !batch.spec?.idempotent || outcomes.some((o) => o.ok && o.forward?.length);
      // Another stream's batch has a file this one needs: finish alone, then wait for it.
      const waiting = following.length > 0 && next === undefined;
      const ok = await this.#write(ops, done, hold || waiting);
      batch.planned?.release();
      if (!ok) return next?.planned?.release();
      if (waiting) {
        next = await this.#open(following, holder, true);
        if (next?.start && !(await this.#retrying(() => this.deps.store.write([next!.start!])))) return next.planned?.release();
      }
      batch = next;
    }
  }

  #batchSize(): number {
    const spec = this.spec;
    return spec ? (spec.batch?.max ?? 1) : MAX_REFUSALS_AT_ONCE;
  }

  #gather(first: InboxEntry): InboxEntry[] {
    return [first, ...this.#queue.takeFollowing(first, this.#batchSize() - 1, follows)];
  }

  /**
   * Makes a batch ready to run: refusals decided, reply streams opened, the effect planned
   * and its started record made (not written). Undefined when planning would have to wait
   * and `wait` is false, or when the subscriber drained while the store failed.
   */
  async #open(entries: InboxEntry[], holder: object, wait: boolean): Promise<RunBatch | undefined> {
    const spec = this.spec;
    const rules = { method: this.method, allowedNodes: this.allowedNodes, authorize: this.deps.authorize };
    const refusals = await Promise.all(entries.map((e) => refusalOf(e, spec, rules)));
    const batch: RunBatch = { entries, spec, refusals };
    const runnable = entries.filter((_, i) => refusals[i] === undefined);
    if (!spec || runnable.length === 0) return batch;
    if (!(await this.#prepareAll(entries))) return undefined;
    if (spec.batch) {
      try {
        const planned = await spec.batch.plan(
          runnable.map((e) => this.#handlers.contextOf(e)),
          { holder, wait },
        );
        if (!planned) return undefined;
        batch.planned = planned;
      } catch (e) {
        const refused = failure(e);
        batch.refusals = refusals.map((r) => r ?? refused);
        return batch;
      }
    }
    if (!spec.idempotent) {
      const firstSeq = entries[0]!.seq;
      batch.recordKey = execKey(entries[0]!.stream, firstSeq);
      batch.start = startedOp(entries[0]!.stream, firstSeq, entries.at(-1)!.seq, this.deps.clock.now(), batch.planned?.checkpoint);
    }
    return batch;
  }

  /** Runs the batch's effect: every entry's outcome, in order. */
  async #apply(batch: RunBatch): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    const runnable = batch.entries.filter((_, i) => batch.refusals[i] === undefined);
    let results: Outcome[] = [];
    if (batch.planned) {
      try {
        results = (await batch.planned.apply()).map((r) => (r instanceof Error ? failure(r) : success(r.output, r.forward)));
      } catch (e) {
        results = runnable.map(() => failure(e));
      }
    } else if (runnable.length > 0) {
      for (const entry of runnable) results.push(await this.#handlers.execute(entry, batch.spec!));
    }
    let next = 0;
    for (const refusal of batch.refusals) outcomes.push(refusal ?? results[next++] ?? failure(new Error('the batch gave no result')));
    return outcomes;
  }

  /** The write that records a batch: every entry's outcome, its inbox row and started record gone. */
  #finishOps(batch: RunBatch, outcomes: Outcome[]): { ops: StoreOp[]; done(ok: boolean): void } {
    const ops: StoreOp[] = [];
    const dones: Array<(ok: boolean) => void> = [];
    batch.entries.forEach((entry, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) this.#done++;
      else this.#failed++;
      const finished = this.deps.finish(entry, outcome, batch.spec);
      for (const op of finished.ops) ops.push(op);
      ops.push({ type: 'del', key: inKey(entry.stream, entry.seq) });
      dones.push(finished.done);
    });
    if (batch.recordKey) ops.push({ type: 'del', key: batch.recordKey });
    return { ops, done: (ok) => dones.forEach((d) => d(ok)) };
  }

  /**
   * Writes a batch's records. Held (`hold`): tried again until durable, so the stream
   * does not move on; false only when the subscriber drained first. Otherwise (an
   * idempotent batch, which a crash may repeat) the lane goes on at once.
   */
  async #write(ops: StoreOp[], done: (ok: boolean) => void, hold: boolean): Promise<boolean> {
    if (hold) {
      const ok = await this.#retrying(() => this.deps.store.write(ops));
      done(ok);
      return ok;
    }
    void this.deps.store.write(ops).then(
      () => done(true),
      (e) => {
        done(false);
        this.deps.onError(e);
      },
    );
    return true;
  }

  /**
   * The streams the batch's replies go to must be open when its records are made, so
   * that they go in the one batch that records the run: one written after it is lost to
   * a crash in between. A stream may have closed (its subtree restarting): until it
   * opens again the batch waits, unrecorded, as on a crash.
   */
  async #prepareAll(entries: InboxEntry[]): Promise<boolean> {
    const prepare = this.deps.prepare;
    if (!prepare) return true;
    return this.#retrying(async () => {
      for (const e of entries) await prepare(e);
    });
  }

  /**
   * Tries `step` until it succeeds, with a growing pause, reporting each failure; gives up
   * (false) only when this subscriber stops or drains.
   */
  async #retrying(step: () => Promise<void> | void): Promise<boolean> {
    for (let pause = 100; ; pause = Math.min(pause * 2, 5_000)) {
      try {
        await step();
        return true;
      } catch (e) {
        this.deps.onError(e);
        if (this.actor.getSnapshot().status !== 'active' || this.#drained) return false;
        await new Promise<void>((resolve) => this.deps.clock.setTimer(pause, resolve));
      }
    }
  }
}

