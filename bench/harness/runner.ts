import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { measureBaseline } from '../scenarios/baselines.ts';
import type { BaselineName, Scenario, ScenarioContext } from '../scenarios/types.ts';
import type { Machine } from './machine.ts';
import type { ScenarioResult } from './results.ts';
import { wallNow } from './time.ts';
import { WorkerProcess } from './workers.ts';

export interface RunnerOptions {
  quick: boolean;
  repetitions: number | undefined;
  servers: string;
  natsPid: number;
  natsMonitorPort: number;
  frameBytes: number;
  tmpRoot: string;
  cpuProfDir: string | undefined;
  machine: Machine;
  progress(message: string): void;
  /** Called with each result as soon as it is known, baselines included. */
  report(result: ScenarioResult): void;
}

interface Scope {
  name: string;
  profiles: string[];
  workers: Set<WorkerProcess>;
}

/**
 * Runs scenarios one after another and gives each what it needs: workers, temporary
 * folders, baselines measured once on first use, and the results of earlier scenarios.
 * A scenario that throws is reported as failed; the run goes on with the next one.
 */
export class Runner implements ScenarioContext {
  readonly quick: boolean;
  readonly repetitionsOverride: number | undefined;
  readonly servers: string;
  readonly natsPid: number;
  readonly natsMonitorPort: number;
  readonly frameBytes: number;
  readonly #options: RunnerOptions;
  readonly #baselines = new Map<BaselineName, Promise<ScenarioResult>>();
  readonly #results = new Map<string, ScenarioResult>();
  readonly #scopes: Scope[] = [];

  constructor(options: RunnerOptions) {
    this.#options = options;
    this.quick = options.quick;
    this.repetitionsOverride = options.repetitions;
    this.servers = options.servers;
    this.natsPid = options.natsPid;
    this.natsMonitorPort = options.natsMonitorPort;
    this.frameBytes = options.frameBytes;
  }

  get results(): ScenarioResult[] {
    return [...this.#results.values()];
  }

  async run(scenario: Scenario): Promise<ScenarioResult> {
    const result = await this.#scoped(scenario.name, scenario.summary, () => scenario.run(this));
    this.#results.set(scenario.name, result);
    this.#options.report(result);
    return result;
  }

  baseline(name: BaselineName): Promise<ScenarioResult> {
    let pending = this.#baselines.get(name);
    if (!pending) {
      pending = this.#scoped(name, '', () => measureBaseline(name, this)).then((r) => {
        this.#options.report(r);
        return r;
      });
      this.#baselines.set(name, pending);
    }
    return pending;
  }

  earlier(name: string): ScenarioResult | undefined {
    return this.#results.get(name);
  }

  async spawn(role: string, rep: number): Promise<WorkerProcess> {
    const scope = this.#scope;
    const worker = await WorkerProcess.spawn({
      label: `${scope.name}.${role}${rep ? `.r${rep}` : ''}`,
      tmpDir: this.#options.tmpRoot,
      ...(this.#options.cpuProfDir ? { cpuProfDir: this.#options.cpuProfDir } : {}),
    });
    scope.workers.add(worker);
    return worker;
  }

  async release(...workers: WorkerProcess[]): Promise<void> {
    const scope = this.#scope;
    await Promise.all(
      workers.map(async (w) => {
        const profile = await w.stop(w.label);
        scope.workers.delete(w);
        if (profile) scope.profiles.push(profile);
      }),
    );
  }

  tempDir(name: string): Promise<string> {
    return mkdtemp(path.join(this.#options.tmpRoot, `${name}-`));
  }

  progress(message: string): void {
    this.#options.progress(message);
  }

  get #scope(): Scope {
    const scope = this.#scopes.at(-1);
    if (!scope) throw new Error('no scenario is running');
    return scope;
  }

  async #scoped(name: string, summary: string, body: () => Promise<Omit<ScenarioResult, 'durationSeconds' | 'profiles' | 'machine'>>): Promise<ScenarioResult> {
    const scope: Scope = { name, profiles: [], workers: new Set() };
    this.#scopes.push(scope);
    const startedAt = wallNow();
    let partial: Omit<ScenarioResult, 'durationSeconds' | 'profiles' | 'machine'>;
    try {
      partial = await body();
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      this.progress(`${name} failed: ${message.split('\n')[0]}`);
      partial = {
        kind: name.startsWith('raw-') ? 'baseline' : 'scenario',
        scenario: name,
        summary,
        quick: this.quick,
        parameters: {},
        repetitions: 0,
        figures: {},
        processes: {},
        baselines: {},
        targets: [],
        checks: [{ label: 'scenario ran to the end', ok: false, detail: message.split('\n')[0] }],
        notes: [],
        errors: [message],
      };
    } finally {
      // Whatever the scenario left running is stopped now, not at the end of the run.
      await this.release(...scope.workers);
      this.#scopes.pop();
    }
    return {
      ...partial,
      profiles: scope.profiles,
      durationSeconds: Math.round((wallNow() - startedAt) / 100) / 10,
      loadAverageAtEnd: Math.round(os.loadavg()[0]! * 100) / 100,
      machine: this.#options.machine,
    };
  }
}
