import { BosunError } from '../src/errors.ts';

/**
 * OTP's `{error, Reason}` replies, as a discriminator on one error class. The code stays
 * `BOSUN_SUP_BAD_SPEC` for all of them so callers can match on one stable code, then on
 * `reason` for the detail.
 */
export type SupervisorErrorReason =
  /** The spec or the flags are invalid (OTP `start_spec` / `supervisor_data`). */
  | 'bad_spec'
  /** A child's `start` threw; the original error is the `cause`. */
  | 'start_failed'
  | 'already_started'
  | 'already_present'
  | 'not_found'
  | 'running'
  | 'restarting'
  /** The call is not allowed on a `simple_one_for_one` supervisor. */
  | 'simple_one_for_one'
  /** The supervisor has stopped (OTP `noproc`). */
  | 'not_running';

export class SupervisorError extends BosunError {
  constructor(
    readonly reason: SupervisorErrorReason,
    message: string,
    options?: ErrorOptions,
  ) {
    super('BOSUN_SUP_BAD_SPEC', message, options);
  }
}
