/**
 * Validation of supervisor flags and child specs, with OTP's defaults filled in. Mirrors
 * `check_flags` / `check_childspec` in `supervisor.erl`.
 */
import { SupervisorError } from './SupervisorError.ts';
import type { ChildSpec, RestartType, Shutdown, Strategy, SupervisorFlags } from './types.ts';

/** A child spec with every default applied. @internal */
export interface ResolvedSpec {
  id: string;
  start: ChildSpec['start'];
  restart: RestartType;
  shutdown: Shutdown;
  type: 'worker' | 'supervisor';
  significant: boolean;
}

/** @internal */
export interface ResolvedFlags {
  strategy: Strategy;
  intensity: number;
  periodSeconds: number;
  autoShutdown: 'never' | 'any_significant' | 'all_significant';
}

const STRATEGIES: readonly Strategy[] = ['one_for_one', 'one_for_all', 'rest_for_one', 'simple_one_for_one'];
const RESTART_TYPES: readonly RestartType[] = ['permanent', 'transient', 'temporary'];
const AUTO_SHUTDOWNS = ['never', 'any_significant', 'all_significant'] as const;

function bad(message: string): SupervisorError {
  return new SupervisorError('bad_spec', message);
}

/** Applies OTP's defaults (`one_for_one`, intensity 1, period 5 s, `never`) and checks ranges. */
export function resolveFlags(flags: SupervisorFlags): ResolvedFlags {
  const strategy = flags.strategy ?? 'one_for_one';
  const intensity = flags.intensity ?? 1;
  const periodSeconds = flags.periodSeconds ?? 5;
  const autoShutdown = flags.autoShutdown ?? 'never';
  if (!STRATEGIES.includes(strategy)) throw bad(`invalid strategy ${JSON.stringify(strategy)}`);
  if (!Number.isInteger(intensity) || intensity < 0) {
    throw bad(`invalid intensity ${String(intensity)}: must be an integer >= 0`);
  }
  // OTP wants whole seconds; fractions are allowed here because timestamps are in ms.
  if (!Number.isFinite(periodSeconds) || periodSeconds <= 0) {
    throw bad(`invalid periodSeconds ${String(periodSeconds)}: must be > 0`);
  }
  if (!AUTO_SHUTDOWNS.includes(autoShutdown)) throw bad(`invalid autoShutdown ${JSON.stringify(autoShutdown)}`);
  return { strategy, intensity, periodSeconds, autoShutdown };
}

function validShutdown(shutdown: unknown): shutdown is Shutdown {
  if (shutdown === 'brutal_kill' || shutdown === 'infinity') return true;
  return typeof shutdown === 'number' && Number.isFinite(shutdown) && shutdown >= 0;
}

/** Checks one spec against the supervisor's `autoShutdown` and fills in its defaults. */
export function resolveChildSpec(spec: ChildSpec, autoShutdown: ResolvedFlags['autoShutdown']): ResolvedSpec {
  if (typeof spec !== 'object' || spec === null) throw bad('a child spec must be an object');
  const { id } = spec;
  if (typeof id !== 'string' || id === '') throw bad('a child spec needs a non-empty string id');
  if (typeof spec.start !== 'function') throw bad(`child "${id}": start must be a function`);
  const restart = spec.restart ?? 'permanent';
  if (!RESTART_TYPES.includes(restart)) throw bad(`child "${id}": invalid restart ${JSON.stringify(restart)}`);
  const type = spec.type ?? 'worker';
  if (type !== 'worker' && type !== 'supervisor') throw bad(`child "${id}": invalid type ${JSON.stringify(type)}`);
  const significant = spec.significant ?? false;
  if (typeof significant !== 'boolean') throw bad(`child "${id}": significant must be a boolean`);
  if (significant && autoShutdown === 'never') {
    throw bad(`child "${id}": significant needs autoShutdown other than 'never' (bad_combination)`);
  }
  if (significant && restart === 'permanent') {
    throw bad(`child "${id}": a permanent child cannot be significant (bad_combination)`);
  }
  const shutdown = spec.shutdown ?? (type === 'supervisor' ? 'infinity' : 5000);
  if (!validShutdown(shutdown)) throw bad(`child "${id}": invalid shutdown ${JSON.stringify(shutdown)}`);
  return { id, start: spec.start, restart, shutdown, type, significant };
}

/**
 * Checks a supervisor's start specs: unique ids, and exactly one template for
 * `simple_one_for_one`.
 */
export function resolveChildSpecs(specs: readonly ChildSpec[], flags: ResolvedFlags): ResolvedSpec[] {
  if (flags.strategy === 'simple_one_for_one' && specs.length !== 1) {
    throw bad(`simple_one_for_one needs exactly one child spec, got ${specs.length}`);
  }
  const seen = new Set<string>();
  return specs.map((spec) => {
    const resolved = resolveChildSpec(spec, flags.autoShutdown);
    if (seen.has(resolved.id)) throw bad(`duplicate child id "${resolved.id}"`);
    seen.add(resolved.id);
    return resolved;
  });
}
