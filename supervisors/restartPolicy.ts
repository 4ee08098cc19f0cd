/**
 * OTP's restart types, as two predicates (`do_restart/3` in `supervisor.erl`).
 */
import type { ExitReason, RestartType } from './types.ts';

/** `normal` and `shutdown` are clean exits: a transient child stays down after them. */
export function isCleanExit(reason: ExitReason): boolean {
  return reason.kind === 'normal' || reason.kind === 'shutdown';
}

/**
 * Whether a child that exited on its own is restarted: a permanent one always (even after
 * a normal exit), a transient one only after an unclean exit, a temporary one never.
 */
export function restartsAfter(restart: RestartType, reason: ExitReason): boolean {
  return restart === 'permanent' || (restart === 'transient' && !isCleanExit(reason));
}
