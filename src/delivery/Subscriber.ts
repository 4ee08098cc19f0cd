import { createActor, fromPromise, type Actor } from 'xstate';
import type { Logger } from 'pino';
import { executionMachine, type ExecutionInput } from '../../actors/executionMachine.ts';
import { subscriberMachine } from '../../actors/subscriberMachine.ts';
import type { Clock } from '../clock.ts';
import { BosunError, describeError } from '../errors.ts';
import { isOrderedMethod, type Message } from '../message.ts';
import type { MethodContext, MethodResult, MethodSpec } from '../methods/types.ts';
import { execKey, inKey } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';
import type { InboxEntry } from './SubjectReceiver.ts';
import { WorkQueue } from './WorkQueue.ts';

const NEVER_ABORTED = new AbortController().signal;
const STILL_RUNNING = Symbol('still running');

/** What an execution actor takes over: a handler already running, and how to abort it. */
interface RunningHandler {
  result: Promise<MethodResult>;
  abort: AbortController;
}

/** How a run ended, for the reply and the error kernel. */
export type Outcome =
  | { ok: true; output?: string; forward?: Message[] }
  | { ok: false; code: string; message: string; output?: string };

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
 * method's handler — ordered methods one at a time per stream, in stream order — and
 * records each run durably: a
 * `started` record before a non-idempotent handler runs, so that a crash mid-run is
 * reported as interrupted and never silently re-run.
 */
export class Subscriber {
  readonly method: string;
  readonly ordered: boolean;
  readonly actor: Actor<typeof subscriberMachine>;
  #queue: WorkQueue<InboxEntry>;
  #running = 0;
  #runs = new Set<Actor<typeof executionMachine>>();
  /** The execution machine with this method's handler, built once. */
  #execution: typeof executionMachine;
  #done = 0;
  #failed = 0;
  #idleWaiters: Array<() => void> = [];
  #drained: Promise<void> | undefined;
  /** Stopped by an operator (REQOpCommand): entries wait in the queue until resumed. */
  #paused = false;
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
    // Runs start outside the machine's action: an action must not create actors itself.
    this.actor = createActor(subscriberMachine.provide({ actions: { runNext: () => queueMicrotask(() => this.#runNext()) } }));
    this.actor.subscribe({ error: () => {} });
    this.actor.start();
    // The actor takes over a handler that is already running (see `#execute`): stopping
    // the invoked actor aborts its signal, which aborts the handler's.
    this.#execution = executionMachine.provide({
      actors: {
        handler: fromPromise<{ output?: string; forward?: unknown[] }, ExecutionInput>(async ({ input, signal }) => {
          const running = input.payload as RunningHandler;
          signal.addEventListener('abort', () => running.abort.abort(), { once: true });
          return running.result;
        }),
      },
    });
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
    return this.#finish(entry, {
      ok: false,
      code: 'BOSUN_INTERRUPTED',
      message: `${entry.message.method} ${entry.message.id} was running when the node stopped; it was not run again`,
    });
  }

  get info(): Record<string, unknown> {
    return { queued: this.#queue.size, running: this.#running, done: this.#done, failed: this.#failed };
  }

  /** Runs handed to an execution actor: those still going after the turn they started in. */
  get runs(): ReadonlySet<Actor<typeof executionMachine>> {
    return this.#runs;
  }

  /** Stops taking work and waits for the runs in progress (up to `graceMs`). */
  /**
   * Stops taking work and waits for the runs in progress, up to `graceMs`; then it stops
   * them (their handlers see their signal abort). A run cut short this way stays
   * recorded as started, so the next start reports it as interrupted. Draining twice
   * waits for the same drain.
   */
  drain(graceMs: number): Promise<void> {
    this.#drained ??= this.#drain(graceMs);
    return this.#drained;
  }

  async #drain(graceMs: number): Promise<void> {
    if (this.actor.getSnapshot().status === 'active') this.actor.send({ type: 'DRAIN' });
    if (this.#running === 0) return;
    let timer: { cancel(): void } | undefined;
    const idle = new Promise<boolean>((resolve) => this.#idleWaiters.push(() => resolve(true)));
    const late = new Promise<boolean>((resolve) => (timer = this.deps.clock.setTimer(graceMs, () => resolve(false))));
    const finished = await Promise.race([idle, late]);
    timer?.cancel();
    if (!finished) for (const run of [...this.#runs]) run.stop();
  }

  /** Stops taking work (runs in progress finish); entries keep arriving and wait. */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.actor.send({ type: 'WORK' });
  }

  get paused(): boolean {
    return this.#paused;
  }

  #runNext(): void {
    while (!this.#paused && this.#running < this.deps.concurrency) {
      const entry = this.#queue.take();
      if (!entry) break;
      this.#running++;
      void this.#run(entry).then(() => {
        this.#running--;
        this.#queue.done(entry);
        if (this.actor.getSnapshot().value === 'busy' && this.#queue.size > 0 && !this.#paused) this.#runNext();
        else if (this.#running === 0) {
          this.actor.send({ type: 'IDLE' });
          for (const w of this.#idleWaiters.splice(0)) w();
        }
      });
    }
  }

  async #run(entry: InboxEntry): Promise<void> {
    const spec = this.spec;
    if (!spec) {
      return this.#finish(entry, {
        ok: false,
        code: 'BOSUN_UNKNOWN_METHOD',
        message: `node ${entry.message.toNode} does not serve method ${entry.message.method}`,
      });
    }
    // The handler is chosen by the stream the frame came on, so the message must be for
    // that method: a frame that says otherwise is refused, never run as something else.
    if (entry.message.method !== this.method) {
      return this.#finish(entry, {
        ok: false,
        code: 'BOSUN_MISDIRECTED',
        message: `a ${entry.message.method} message came on the ${this.method} stream; it was not run`,
      });
    }
    if (this.allowedNodes && !this.allowedNodes.includes(entry.message.fromNode)) {
      return this.#finish(entry, {
        ok: false,
        code: 'BOSUN_NOT_ALLOWED',
        message: `${this.method} here takes messages from ${this.allowedNodes.join(', ')} only, not from ${entry.message.fromNode}`,
      });
    }
    if (this.deps.authorize) {
      try {
        await this.deps.authorize(entry.message, { stream: entry.stream, seq: entry.seq });
      } catch (e) {
        const d = describeError(e);
        return this.#finish(entry, { ok: false, code: d.code, message: d.message });
      }
    }
    // Without a durable `started` record a run would not be safe, and the stream must not
    // move on past this message: wait for the store.
    const ready = await this.#retrying(async () => {
      await this.deps.prepare?.(entry);
      if (!spec.idempotent) {
        await this.deps.store.write([{ type: 'put', key: execKey(entry.stream, entry.seq), value: { startedAt: this.deps.clock.now() } }]);
      }
    });
    if (!ready) return;
    const outcome = await this.#execute(entry, spec);
    await this.#finish(entry, outcome, spec);
  }

  /**
   * Most handlers finish within the turn of the event loop they start in, and such a run
   * needs no execution actor: creating one cost about 110 µs, more than the rest of the
   * delivery path of a message. So the handler starts as a plain async call; one still
   * running after that turn is handed to an execution actor, which owns its
   * `methodTimeout` and lets a drain stop it. Either way a failure becomes the outcome.
   */
  async #execute(entry: InboxEntry, spec: MethodSpec): Promise<Outcome> {
    if (spec.inline) return this.#executeInline(entry, spec);
    const startedAt = this.deps.clock.now();
    const abort = new AbortController();
    let result: Promise<MethodResult>;
    try {
      result = spec.handler(this.deps.context(entry, abort.signal));
    } catch (e) {
      result = Promise.reject(e);
    }
    const settled = result.then((r) => success(r.output, r.forward), failure);
    const early = await Promise.race([settled, new Promise<typeof STILL_RUNNING>((resolve) => setImmediate(resolve, STILL_RUNNING))]);
    if (early !== STILL_RUNNING) return early;
    return this.#supervise(entry, { result, abort }, startedAt);
  }

  #supervise(entry: InboxEntry, running: RunningHandler, startedAt: number): Promise<Outcome> {
    const m = entry.message;
    const timeoutMs = m.methodTimeout > 0 ? Math.max(0, m.methodTimeout * 1000 - (this.deps.clock.now() - startedAt)) : undefined;
    const input = { method: m.method, payload: running, ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
    const run = createActor(this.#execution, { input });
    this.#runs.add(run);
    return new Promise<Outcome>((resolve) => {
      const timer = timeoutMs !== undefined ? this.deps.clock.setTimer(timeoutMs, () => run.send({ type: 'TIMEOUT' })) : undefined;
      run.subscribe({
        next: (s) => {
          if (s.status !== 'done') return;
          timer?.cancel();
          this.#runs.delete(run);
          if (s.value === 'succeeded') resolve(success(s.context.output, s.context.forward as Message[] | undefined));
          else if (s.value === 'timedOut') {
            resolve({ ok: false, code: 'BOSUN_METHOD_TIMEOUT', message: `${m.method} did not finish within methodTimeout ${m.methodTimeout}s; it was stopped` });
          } else {
            resolve(failure(s.context.error));
          }
        },
        error: (e) => {
          timer?.cancel();
          this.#runs.delete(run);
          resolve({ ok: false, code: 'BOSUN_METHOD_FAILED', message: describeError(e).message });
        },
      });
      run.start();
    });
  }

  /**
   * The happy path of a trivial handler: no execution actor is activated (its lifecycle
   * would be running → succeeded within one turn), which keeps per-message cost low.
   */
  async #executeInline(entry: InboxEntry, spec: MethodSpec): Promise<Outcome> {
    try {
      const result = await spec.handler(this.deps.context(entry, NEVER_ABORTED));
      return success(result.output, result.forward);
    } catch (e) {
      const d = describeError(e);
      return { ok: false, code: d.code, message: d.message };
    }
  }

  async #finish(entry: InboxEntry, outcome: Outcome, spec?: MethodSpec): Promise<void> {
    // The streams the run's reply or hand-on goes to must be open when its records are
    // made, so that they go in the one batch that records the run: one written after it
    // is lost to a crash in between. They may not be: a refusal or an interrupted run
    // comes here without preparing, and a stream may have closed while the run ran (its
    // subtree restarting). Until they open the run stays unrecorded, as on a crash.
    if (this.deps.prepare && !(await this.#retrying(() => this.deps.prepare!(entry)))) return;
    if (outcome.ok) this.#done++;
    else this.#failed++;
    const { ops, done } = this.deps.finish(entry, outcome, spec);
    ops.push({ type: 'del', key: inKey(entry.stream, entry.seq) });
    if (!spec?.idempotent) ops.push({ type: 'del', key: execKey(entry.stream, entry.seq) });
    if (outcome.ok && outcome.forward?.length) return this.#finishHandingOn(ops, done);
    const write = this.deps.store.write(ops).then(
      () => done(true),
      (e) => {
        done(false);
        this.deps.onError(e);
      },
    );
    // An idempotent run may be repeated after a crash, so the next run need not wait for
    // this record to be durable.
    if (!spec?.idempotent) await write;
  }

  /**
   * A run that hands messages on (a relay) holds its stream until they are durable: were
   * a failed write given up, the next run's messages would leave first and this one's
   * after a restart, out of order. The same write is tried again with a growing pause.
   */
  async #finishHandingOn(ops: StoreOp[], done: (ok: boolean) => void): Promise<void> {
    done(await this.#retrying(() => this.deps.store.write(ops)));
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

/** The outcome of a handler that threw or rejected. */
function failure(error: unknown): Outcome {
  const d = describeError(error instanceof BosunError || error instanceof Error ? error : new Error(String(error)));
  return { ok: false, code: d.code, message: d.message };
}

function success(output: string | undefined, forward: Message[] | undefined): Outcome {
  return { ok: true, ...(output !== undefined ? { output } : {}), ...(forward?.length ? { forward } : {}) };
}
