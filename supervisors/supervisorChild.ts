import { Supervisor } from './Supervisor.ts';
import type { ChildSpec, SupervisorOptions } from './types.ts';

/**
 * A child spec that starts a nested supervisor: `type: 'supervisor'`, so its shutdown
 * defaults to `infinity`, and `permanent` unless told otherwise, so that a failure it
 * escalates reaches the parent's own restart intensity (see `Supervisor`).
 */
export function supervisorChild(
  options: SupervisorOptions,
  overrides: Pick<ChildSpec, 'restart' | 'shutdown' | 'significant'> = {},
): ChildSpec {
  return { id: options.id, type: 'supervisor', start: () => Supervisor.start(options), ...overrides };
}
