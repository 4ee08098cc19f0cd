/**
 * The reports a supervisor sends to its error sink, built in one place so their codes,
 * severities and wording stay consistent.
 * @internal
 */
import type { ErrorReport, ErrorSink, ExitReason } from './types.ts';

type Action = NonNullable<ErrorReport['action']>;

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function describeExit(reason: ExitReason): string {
  switch (reason.kind) {
    case 'normal':
      return 'exited normally';
    case 'shutdown':
      return reason.detail === undefined ? 'shut down' : `shut down (${String(reason.detail)})`;
    case 'killed':
      return 'was killed';
    case 'error':
      return `crashed: ${messageOf(reason.error)}`;
  }
}

/**
 * A child's exit that the supervisor acted on. `error` and `killed` are crashes; a clean
 * exit is only reported when it still led to a restart (a permanent child).
 */
export function exitReport(source: string, childId: string, reason: ExitReason, action: Action): ErrorReport {
  const crashed = reason.kind === 'error' || reason.kind === 'killed';
  return {
    source,
    severity: crashed ? 'error' : 'warning',
    code: crashed ? 'BOSUN_SUP_CHILD_CRASHED' : 'BOSUN_SUP_CHILD_EXITED',
    message: `child "${childId}" ${describeExit(reason)}`,
    ...(reason.kind === 'error' && { error: reason.error }),
    action,
  };
}

export function startFailedReport(source: string, childId: string, error: unknown, action: Action): ErrorReport {
  return {
    source,
    severity: 'error',
    code: 'BOSUN_SUP_START_FAILED',
    message: `child "${childId}" failed to start: ${messageOf(error)}`,
    error,
    action,
  };
}

/** OTP's `shutdown_error`: the child failed while the supervisor was ending it. */
export function shutdownErrorReport(source: string, childId: string, error: unknown, what: string): ErrorReport {
  return {
    source,
    severity: 'error',
    code: 'BOSUN_SUP_SHUTDOWN_ERROR',
    message: `child "${childId}" ${what} while being shut down`,
    error,
    action: 'ignored',
  };
}

export function maxIntensityReport(source: string, intensity: number, periodSeconds: number): ErrorReport {
  return {
    source,
    severity: 'error',
    code: 'BOSUN_SUP_MAX_INTENSITY',
    message: `more than ${intensity} restart(s) in ${periodSeconds}s; supervisor shuts down (reached_max_restart_intensity)`,
    action: 'escalated',
  };
}

export function internalErrorReport(source: string, error: unknown): ErrorReport {
  return {
    source,
    severity: 'fatal',
    code: 'BOSUN_SUP_INTERNAL',
    message: `supervisor caught an internal error: ${messageOf(error)}`,
    error,
    action: 'ignored',
  };
}

/** The error kernel must not fail: a throwing sink is ignored. */
export function safeReport(sink: ErrorSink, report: ErrorReport): void {
  try {
    sink.report(report);
  } catch {
    // Nowhere left to report to.
  }
}
