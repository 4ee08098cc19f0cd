/**
 * Test doubles for supervised code: children that record when they start and stop and
 * that crash, exit or hang on command. Not part of the runtime; import it from tests.
 */
import { ExitSignal } from '../../supervisors/ExitSignal.ts';
import type { ChildHandle, ChildSpec, ExitReason } from '../../supervisors/types.ts';

/** How a fake child answers `stop()`: at once, or only when `finishStop()` is called. */
export type FakeStopMode = 'immediate' | 'manual';

export class FakeChild implements ChildHandle {
  readonly id: string;
  readonly args: unknown;
  stopCalls = 0;
  killCalls = 0;
  readonly #log: string[];
  readonly #stopMode: FakeStopMode;
  readonly #exit = new ExitSignal();
  #finishStop: (() => void) | undefined;

  constructor(id: string, log: string[], stopMode: FakeStopMode = 'immediate', args?: unknown) {
    this.id = id;
    this.args = args;
    this.#log = log;
    this.#stopMode = stopMode;
    log.push(`start:${id}`);
  }

  get alive(): boolean {
    return this.#exit.reason === undefined;
  }

  get exitReason(): ExitReason | undefined {
    return this.#exit.reason;
  }

  stop(): Promise<void> {
    this.stopCalls += 1;
    this.#log.push(`stop:${this.id}`);
    if (!this.alive) return Promise.resolve();
    return new Promise((resolve) => {
      this.#finishStop = () => {
        this.#exit.fire({ kind: 'shutdown' });
        resolve();
      };
      if (this.#stopMode === 'immediate') this.#finishStop();
    });
  }

  /** Lets a `manual` child finish stopping. */
  finishStop(): void {
    this.#finishStop?.();
  }

  kill(): void {
    this.killCalls += 1;
    this.#log.push(`kill:${this.id}`);
    this.#exit.fire({ kind: 'killed' });
  }

  onExit(listener: (reason: ExitReason) => void): void {
    this.#exit.listen(listener);
  }

  crash(error: unknown = new Error(`${this.id} crashed`)): void {
    this.#exit.fire({ kind: 'error', error });
  }

  exit(reason: ExitReason = { kind: 'normal' }): void {
    this.#exit.fire(reason);
  }

  describe() {
    return { state: this.alive ? 'running' : 'exited', children: [], info: { fake: true } };
  }
}

export interface FakeSpecOptions extends Omit<ChildSpec, 'id' | 'start'> {
  stopMode?: FakeStopMode;
}

/** Makes child specs whose starts are all recorded, in one shared log. */
export class FakeChildren {
  /** `start:<id>`, `stop:<id>` and `kill:<id>` entries, in order. */
  readonly log: string[] = [];
  readonly #started = new Map<string, FakeChild[]>();
  readonly #failures = new Map<string, number>();

  spec(id: string, options: FakeSpecOptions = {}): ChildSpec {
    const { stopMode, ...rest } = options;
    return {
      id,
      ...rest,
      start: (args?: unknown) => {
        const failures = this.#failures.get(id) ?? 0;
        if (failures > 0) {
          this.#failures.set(id, failures - 1);
          this.log.push(`failstart:${id}`);
          throw new Error(`${id} refused to start`);
        }
        const name = args === undefined ? id : `${id}(${JSON.stringify(args)})`;
        const child = new FakeChild(name, this.log, stopMode, args);
        this.#started.set(id, [...(this.#started.get(id) ?? []), child]);
        return child;
      },
    };
  }

  /** Makes the next `count` starts of `id` throw. */
  failStarts(id: string, count: number): void {
    this.#failures.set(id, count);
  }

  /** Every child started from spec `id`, oldest first. */
  all(id: string): FakeChild[] {
    return this.#started.get(id) ?? [];
  }

  /** The most recent child started from spec `id`. */
  latest(id: string): FakeChild {
    const all = this.all(id);
    const child = all[all.length - 1];
    if (!child) throw new Error(`no child "${id}" has started`);
    return child;
  }

  starts(id: string): number {
    return this.all(id).length;
  }
}
