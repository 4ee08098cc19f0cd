/**
 * OTP supervision, in TypeScript. The rules follow Erlang/OTP's `supervisor` module
 * exactly: strategies, restart types, shutdown timeouts, restart intensity over a
 * sliding period, and escalation by a supervisor failing itself.
 */
import type { Clock } from '../src/clock.ts';

export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one' | 'simple_one_for_one';
export type RestartType = 'permanent' | 'transient' | 'temporary';
export type Shutdown = number | 'brutal_kill' | 'infinity';

/**
 * Why a child ended. `normal` and `shutdown` are clean exits (a transient child is not
 * restarted after them); `error` carries the failure; `killed` is a brutal kill.
 */
export type ExitReason =
  | { kind: 'normal' }
  | { kind: 'shutdown'; detail?: unknown }
  | { kind: 'error'; error: unknown }
  | { kind: 'killed' };

/** One node of the live tree, as the debug socket shows it. */
export interface TreeNode {
  id: string;
  kind: 'supervisor' | 'worker';
  /** The machine state, for an actor; `running`/`restarting`/`stopped` otherwise. */
  state: string;
  restarts: number;
  children: TreeNode[];
  /** Anything else worth showing (mailbox length, stream position …). */
  info?: Record<string, unknown>;
}

/** A started child, as its supervisor sees it. */
export interface ChildHandle {
  /** Asks the child to stop; resolves when it has. */
  stop(): Promise<void>;
  /** Stops it at once, without cleanup. */
  kill(): void;
  /** Registers the single exit listener; called once, whatever the reason. */
  onExit(listener: (reason: ExitReason) => void): void;
  describe?(): Omit<TreeNode, 'id' | 'restarts' | 'kind'>;
  /**
   * Fault injection: makes the child fail from inside, as an exception in its own code
   * would, so that its supervisor sees an exit with reason `error`. For exercising
   * supervision on a live system; nothing calls it in normal operation.
   */
  fault?(error: Error): void;
}

export interface ChildSpec {
  id: string;
  /**
   * Starts the child. A `simple_one_for_one` supervisor passes the arguments given to
   * `startChild(args)`; other supervisors call it with none. Throwing (or rejecting)
   * means the child failed to start.
   */
  start: (args?: unknown) => ChildHandle | Promise<ChildHandle>;
  /** Default `permanent`. */
  restart?: RestartType;
  /** Default 5000 ms for a worker, `infinity` for a supervisor. */
  shutdown?: Shutdown;
  /** Default `worker`. */
  type?: 'worker' | 'supervisor';
  significant?: boolean;
}

export interface SupervisorFlags {
  /** Default `one_for_one`. */
  strategy?: Strategy;
  /** Restarts allowed within `periodSeconds` (default 1). */
  intensity?: number;
  /** Default 5. */
  periodSeconds?: number;
  autoShutdown?: 'never' | 'any_significant' | 'all_significant';
}

/** What the error kernel is told. */
export interface ErrorReport {
  /** Path in the tree, e.g. `bosun/inbound/REQCliCommand`. */
  source: string;
  severity: 'info' | 'warning' | 'error' | 'fatal';
  code: string;
  message: string;
  error?: unknown;
  /** `false` keeps the report on this node: for errors about the error log itself. */
  forward?: boolean;
  /** What the supervision tree did about it. */
  action?: 'restarted' | 'escalated' | 'ignored' | 'reported';
}

/**
 * Codes a supervisor reports under. `CHILD_CRASHED` is an exit with reason `error` or
 * `killed`; `CHILD_EXITED` is a clean exit that still led to a restart (a permanent
 * child); `SHUTDOWN_ERROR` is a child that failed while being shut down (OTP's
 * `shutdown_error`); `INTERNAL` is a bug in the supervisor itself, caught so that the
 * tree keeps running.
 */
export type SupervisorReportCode =
  | 'BOSUN_SUP_CHILD_CRASHED'
  | 'BOSUN_SUP_CHILD_EXITED'
  | 'BOSUN_SUP_START_FAILED'
  | 'BOSUN_SUP_SHUTDOWN_ERROR'
  | 'BOSUN_SUP_MAX_INTENSITY'
  | 'BOSUN_SUP_INTERNAL';

export interface ErrorSink {
  report(report: ErrorReport): void;
}

export interface SupervisorOptions extends SupervisorFlags {
  id: string;
  children?: ChildSpec[];
  clock?: Clock;
  errors?: ErrorSink;
}

/** Where a supervisor is in its life. */
export type SupervisorStatus = 'starting' | 'running' | 'stopping' | 'stopped';

/** A child's process, as `whichChildren` shows it (OTP's pid, `restarting` or `undefined`). */
export type ChildStatus = 'running' | 'restarting' | 'stopped';

/** One entry of `whichChildren()`. */
export interface ChildInfo {
  id: string;
  type: 'worker' | 'supervisor';
  status: ChildStatus;
  /** Present while the child is running. */
  handle?: ChildHandle;
  restarts: number;
}

/** What `countChildren()` returns, as OTP's `count_children/1`. */
export interface ChildCounts {
  specs: number;
  active: number;
  supervisors: number;
  workers: number;
}

/** What `startChild` and `restartChild` resolve to. */
export interface StartedChild {
  id: string;
  handle: ChildHandle;
}
