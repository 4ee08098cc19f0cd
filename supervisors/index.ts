/**
 * OTP supervision for bosun: supervisors, actor workers and the error kernel.
 */
export { Supervisor } from './Supervisor.ts';
export { isCleanExit, restartsAfter } from './restartPolicy.ts';
export { supervisorChild } from './supervisorChild.ts';
export { SupervisorError, type SupervisorErrorReason } from './SupervisorError.ts';
export { actorChild, startActor, type ActorChildOptions, type ActorHandle, type ActorWorkerOptions } from './actorChild.ts';
export { ReportThrottle, type ReportThrottleOptions } from './ReportThrottle.ts';
export { ErrorKernel, RECENT_REPORTS, type KernelLogger, type ReportForwarder } from './errorKernel.ts';
export { ExitSignal } from './ExitSignal.ts';
export type {
  ChildCounts,
  ChildHandle,
  ChildInfo,
  ChildSpec,
  ChildStatus,
  ErrorReport,
  ErrorSink,
  ExitReason,
  RestartType,
  Shutdown,
  StartedChild,
  Strategy,
  SupervisorFlags,
  SupervisorOptions,
  SupervisorReportCode,
  SupervisorStatus,
  TreeNode,
} from './types.ts';
