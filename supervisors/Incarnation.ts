/**
 * One started run of a child: its handle, whether it has exited, and how the supervisor
 * ends it. A restart makes a new incarnation, so an exit that arrives late from an old
 * one can be told apart from a fresh crash (OTP tells them apart by pid).
 */
import type { Clock, TimerHandle } from '../src/clock.ts';
import { ExitSignal } from './ExitSignal.ts';
import type { ChildHandle, ExitReason, Shutdown } from './types.ts';

/** How a shutdown went. `stop_failed` means `stop()` threw or rejected; the child was then killed. */
export type ShutdownOutcome = { kind: 'stopped' } | { kind: 'killed' } | { kind: 'stop_failed'; error: unknown };

/** @internal */
export class Incarnation {
  readonly handle: ChildHandle;
  readonly #exit = new ExitSignal();
  #terminating = false;

  constructor(handle: ChildHandle) {
    this.handle = handle;
  }

  /** The exit reason, once the child has reported one. */
  get exit(): ExitReason | undefined {
    return this.#exit.reason;
  }

  /** True once the supervisor has started ending this child on purpose. */
  get terminating(): boolean {
    return this.#terminating;
  }

  /** Records the exit. Returns false for a second report, which is then ignored. */
  recordExit(reason: ExitReason): boolean {
    return this.#exit.fire(reason);
  }

  /**
   * Ends the child the OTP way: `brutal_kill` kills at once; a number asks it to stop
   * and kills it if it has not gone within that many ms; `infinity` waits for it.
   */
  async shutdown(policy: Shutdown, clock: Clock): Promise<ShutdownOutcome> {
    this.#terminating = true;
    if (this.#exit.reason) return { kind: 'stopped' };
    if (policy === 'brutal_kill') {
      this.kill();
      return { kind: 'killed' };
    }
    const stopped = this.#requestStop();
    if (policy === 'infinity') return this.#killIfStopFailed(await stopped);
    let timer: TimerHandle | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = clock.setTimer(policy, () => resolve('timeout'));
    });
    const first = await Promise.race([stopped, timedOut]);
    timer?.cancel();
    if (first === 'timeout') {
      this.kill();
      return { kind: 'killed' };
    }
    return this.#killIfStopFailed(first);
  }

  /** Kills the child without waiting; a throwing `kill()` is swallowed. */
  kill(): void {
    this.#terminating = true;
    if (this.#exit.reason) return;
    try {
      this.handle.kill();
    } catch {
      // Nothing more can be done for a child that cannot even be killed.
    }
  }

  /** Resolves when `stop()` does or the child reports its exit, whichever is first. */
  #requestStop(): Promise<ShutdownOutcome> {
    let stopping: Promise<void>;
    try {
      stopping = Promise.resolve(this.handle.stop());
    } catch (error) {
      stopping = Promise.reject(error);
    }
    const viaStop = stopping.then(
      (): ShutdownOutcome => ({ kind: 'stopped' }),
      (error: unknown): ShutdownOutcome => ({ kind: 'stop_failed', error }),
    );
    const viaExit = this.#exit.wait().then((): ShutdownOutcome => ({ kind: 'stopped' }));
    return Promise.race([viaStop, viaExit]);
  }

  #killIfStopFailed(outcome: ShutdownOutcome): ShutdownOutcome {
    if (outcome.kind === 'stop_failed') this.kill();
    return outcome;
  }
}

/** Checks that a `start` function returned something usable as a child. */
export function isChildHandle(value: unknown): value is ChildHandle {
  const handle = value as Partial<ChildHandle> | null;
  return (
    typeof handle === 'object' &&
    handle !== null &&
    typeof handle.stop === 'function' &&
    typeof handle.kill === 'function' &&
    typeof handle.onExit === 'function'
  );
}
