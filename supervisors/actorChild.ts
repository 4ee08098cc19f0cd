/**
 * Runs an xstate v5 machine as a supervised worker. xstate has no supervision of its
 * own: an actor whose action or transition throws is finished, and with no `error`
 * observer xstate rethrows from a `setTimeout`, which kills Node. Here every actor gets
 * an error observer, its failure becomes the exit reason `error`, and a restart creates
 * a new actor from the last persisted snapshot.
 */
import { type Actor, type AnyStateMachine, createActor, type InputFrom, type Snapshot } from 'xstate';
import type { Clock } from '../src/clock.ts';
import { ExitSignal } from './ExitSignal.ts';
import type { ChildHandle, ChildSpec, ExitReason, RestartType, Shutdown, TreeNode } from './types.ts';

export interface ActorWorkerOptions<TLogic extends AnyStateMachine> {
  logic: TLogic;
  input?: InputFrom<TLogic>;
  /** The last persisted snapshot, or `undefined` to start fresh. Read on every (re)start. */
  loadSnapshot?: () => unknown;
  /**
   * Receives `actor.getPersistedSnapshot()` after every step that leaves the actor active
   * or done. A throw here crashes the child, as a failed write would crash an Erlang
   * process. A permanent child that persisted a done snapshot restarts straight into it,
   * so machines that finish are better `transient`.
   */
  saveSnapshot?: (snapshot: unknown) => void;
  /** Drives the machine's delayed events; xstate's default timers otherwise. */
  clock?: Clock;
  /**
   * Called with each new actor before it starts. A subscription made here must pass an
   * `error` callback: xstate treats an error with any observer lacking one as unhandled.
   */
  onActor?: (actor: Actor<TLogic>) => void;
}

export interface ActorChildOptions<TLogic extends AnyStateMachine> extends ActorWorkerOptions<TLogic> {
  id: string;
  restart?: RestartType;
  shutdown?: Shutdown;
  significant?: boolean;
}

/** A running actor as its supervisor sees it. */
export interface ActorHandle<TLogic extends AnyStateMachine> extends ChildHandle {
  readonly actor: Actor<TLogic>;
}

/** A worker child spec for an xstate machine. */
export function actorChild<TLogic extends AnyStateMachine>(options: ActorChildOptions<TLogic>): ChildSpec {
  const { id, restart, shutdown, significant } = options;
  return { id, restart, shutdown, significant, type: 'worker', start: () => startActor(options) };
}

/**
 * Creates and starts the actor. An actor that fails while starting (an initial entry
 * action throws, or its snapshot cannot be restored) throws here, which its supervisor
 * counts as a failed start, like an Erlang `init/1` that crashes.
 */
export function startActor<TLogic extends AnyStateMachine>(options: ActorWorkerOptions<TLogic>): ActorHandle<TLogic> {
  const worker = new ActorWorker(options);
  options.onActor?.(worker.actor);
  worker.actor.start();
  const exit = worker.exitReason;
  if (exit?.kind === 'error') throw exit.error;
  return worker;
}

/** Adapts the injected clock to the two calls xstate's scheduler makes. */
function xstateClock(clock: Clock) {
  return {
    setTimeout: (fn: () => void, ms: number) => clock.setTimer(ms, fn),
    clearTimeout: (timer: ReturnType<Clock['setTimer']> | undefined) => timer?.cancel(),
  };
}

class ActorWorker<TLogic extends AnyStateMachine> implements ActorHandle<TLogic> {
  readonly actor: Actor<TLogic>;
  readonly #exit = new ExitSignal();
  /** Set when we end the actor, so its completion reads as the reason we asked for. */
  #stopReason: ExitReason | undefined;

  constructor(options: ActorWorkerOptions<TLogic>) {
    const snapshot = options.loadSnapshot?.();
    this.actor = createActor(options.logic as AnyStateMachine, {
      input: options.input,
      ...(snapshot !== undefined && { snapshot: snapshot as Snapshot<unknown> }),
      ...(options.clock && { clock: xstateClock(options.clock) }),
    }) as Actor<TLogic>;
    this.actor.subscribe({
      next: (next) => {
        const { status } = next as Snapshot<unknown>;
        if (status !== 'active' && status !== 'done') return;
        try {
          options.saveSnapshot?.(this.actor.getPersistedSnapshot());
        } catch (error) {
          this.#exit.fire({ kind: 'error', error });
          this.actor.stop();
        }
      },
      error: (error) => this.#exit.fire({ kind: 'error', error }),
      complete: () => {
        const done = (this.actor.getSnapshot() as Snapshot<unknown>).status === 'done';
        this.#exit.fire(done ? { kind: 'normal' } : (this.#stopReason ?? { kind: 'shutdown' }));
      },
    });
  }

  get exitReason(): ExitReason | undefined {
    return this.#exit.reason;
  }

  stop(): Promise<void> {
    this.#stopReason ??= { kind: 'shutdown' };
    this.actor.stop();
    return this.#exit.wait().then(() => {});
  }

  kill(): void {
    this.#stopReason = { kind: 'killed' };
    this.actor.stop();
    this.#exit.fire({ kind: 'killed' });
  }

  onExit(listener: (reason: ExitReason) => void): void {
    this.#exit.listen(listener);
  }

  /** Ends the actor the way a throwing action does: the exit reason is the error. */
  fault(error: Error): void {
    this.#exit.fire({ kind: 'error', error });
    this.actor.stop();
  }

  describe(): Omit<TreeNode, 'id' | 'restarts' | 'kind'> {
    const snapshot = this.actor.getSnapshot() as { status: string; value?: unknown };
    const { value } = snapshot;
    const state = typeof value === 'string' ? value : (JSON.stringify(value) ?? snapshot.status);
    return { state, children: [], info: { status: snapshot.status } };
  }
}
