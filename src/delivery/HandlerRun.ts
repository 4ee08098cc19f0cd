import { createActor, fromPromise, type Actor } from 'xstate';
import { executionMachine, type ExecutionInput } from '../../actors/executionMachine.ts';
import type { Clock } from '../clock.ts';
import { BosunError, describeError } from '../errors.ts';
import type { Message } from '../message.ts';
import type { MethodContext, MethodResult, MethodSpec } from '../methods/types.ts';
import type { InboxEntry } from './SubjectReceiver.ts';

/** How long past `methodTimeout` the runtime waits for a method that ends by itself then. */
const END_GRACE_MS = 5000;

const NEVER_ABORTED = new AbortController().signal;
const STILL_RUNNING = Symbol('still running');

/** How a run ended, for the reply and the error kernel. */
export type Outcome =
  | { ok: true; output?: string; forward?: Message[] }
  | { ok: false; code: string; message: string; output?: string };

/** What an execution actor takes over: a handler already running, and how to abort it. */
interface RunningHandler {
  result: Promise<MethodResult>;
  abort: AbortController;
}

/**
 * Runs one message through its method's handler and turns whatever happens into an
 * `Outcome`. Most handlers finish within the turn of the event loop they start in, and
 * such a run needs no execution actor: creating one cost about 110 µs, more than the rest
 * of the delivery path of a message. So the handler starts as a plain async call; one
 * still running after that turn is handed to an execution actor, which owns its
 * `methodTimeout` and lets a drain stop it.
 */
export class HandlerRun {
  /** Runs handed to an execution actor: those still going after the turn they started in. */
  readonly runs = new Set<Actor<typeof executionMachine>>();
  /** The execution machine with the handler taken over, built once. */
  readonly #execution: typeof executionMachine;

  constructor(
    private readonly clock: Clock,
    private readonly context: (entry: InboxEntry, signal: AbortSignal) => MethodContext,
  ) {
    // The actor takes over a handler that is already running: stopping the invoked actor
    // aborts its signal, which aborts the handler's.
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

  /** A context whose signal never aborts, for batches and inline handlers. */
  contextOf(entry: InboxEntry): MethodContext {
    return this.context(entry, NEVER_ABORTED);
  }

  async execute(entry: InboxEntry, spec: MethodSpec): Promise<Outcome> {
    if (spec.inline) return this.#executeInline(entry, spec);
    const startedAt = this.clock.now();
    const abort = new AbortController();
    let result: Promise<MethodResult>;
    try {
      result = spec.handler(this.context(entry, abort.signal));
    } catch (e) {
      result = Promise.reject(e);
    }
    const settled = result.then((r) => success(r.output, r.forward), failure);
    const early = await Promise.race([settled, new Promise<typeof STILL_RUNNING>((resolve) => setImmediate(resolve, STILL_RUNNING))]);
    if (early !== STILL_RUNNING) return early;
    return this.#supervise(entry.message, { result, abort }, startedAt, spec.endsAtTimeout ? END_GRACE_MS : 0);
  }

  /** Stops every run handed to an actor: their handlers see their signal abort. */
  stopAll(): void {
    for (const run of [...this.runs]) run.stop();
  }

  #supervise(m: Message, running: RunningHandler, startedAt: number, graceMs: number): Promise<Outcome> {
    const timeoutMs = m.methodTimeout > 0 ? Math.max(0, m.methodTimeout * 1000 + graceMs - (this.clock.now() - startedAt)) : undefined;
    const input = { method: m.method, payload: running, ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
    const run = createActor(this.#execution, { input });
    this.runs.add(run);
    return new Promise<Outcome>((resolve) => {
      const timer = timeoutMs !== undefined ? this.clock.setTimer(timeoutMs, () => run.send({ type: 'TIMEOUT' })) : undefined;
      run.subscribe({
        next: (s) => {
          if (s.status !== 'done') return;
          timer?.cancel();
          this.runs.delete(run);
          if (s.value === 'succeeded') resolve(success(s.context.output, s.context.forward as Message[] | undefined));
          else if (s.value === 'timedOut') {
            resolve({ ok: false, code: 'BOSUN_METHOD_TIMEOUT', message: `${m.method} did not finish within methodTimeout ${m.methodTimeout}s; it was stopped` });
          } else {
            resolve(failure(s.context.error));
          }
        },
        error: (e) => {
          timer?.cancel();
          this.runs.delete(run);
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
      const result = await spec.handler(this.contextOf(entry));
      return success(result.output, result.forward);
    } catch (e) {
      return failure(e);
    }
  }
}

/** The outcome of a handler that threw or rejected. */
export function failure(error: unknown): Outcome {
  const d = describeError(error instanceof BosunError || error instanceof Error ? error : new Error(String(error)));
  return { ok: false, code: d.code, message: d.message };
}

export function success(output: string | undefined, forward: Message[] | undefined): Outcome {
  return { ok: true, ...(output !== undefined ? { output } : {}), ...(forward?.length ? { forward } : {}) };
}
