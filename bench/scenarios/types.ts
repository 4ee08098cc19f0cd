import type { ScenarioResult } from '../harness/results.ts';
import type { WorkerProcess } from '../harness/workers.ts';

export type BaselineName =
  | 'raw-request-reply'
  | 'raw-publish-echo'
  | 'raw-latency'
  | 'raw-leveldb-sync'
  | 'jetstream-append'
  | 'spawn'
  | 'spawn-sequential';

/** What a scenario gets from the harness. */
export interface ScenarioContext {
  readonly quick: boolean;
  /** Repetitions to run; each scenario picks its own when the user gave none. */
  readonly repetitionsOverride: number | undefined;
  /** The one nats-server of this run. */
  readonly servers: string;
  readonly natsPid: number;
  /** Its monitoring port (`/varz`). */
  readonly natsMonitorPort: number;
  /** Bytes of a bosun data frame carrying one REQNone message: the raw baselines send as much. */
  readonly frameBytes: number;
  /** A baseline's result, measured on first use against the same nats-server. */
  baseline(name: BaselineName): Promise<ScenarioResult>;
  /** The result of a scenario that already ran in this invocation. */
  earlier(name: string): ScenarioResult | undefined;
  /** Starts a worker process; `role` names it in errors and profiles. */
  spawn(role: string, rep: number): Promise<WorkerProcess>;
  /** Stops workers gracefully (their CPU profiles get written), killing any that hang. */
  release(...workers: WorkerProcess[]): Promise<void>;
  /** A fresh folder inside this run's temporary root. */
  tempDir(name: string): Promise<string>;
  /** A progress line on stderr. */
  progress(message: string): void;
}

export interface Scenario {
  name: string;
  /** One line: what it measures. */
  summary: string;
  run(ctx: ScenarioContext): Promise<Omit<ScenarioResult, 'durationSeconds' | 'profiles' | 'machine'>>;
}
