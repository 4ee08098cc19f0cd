import type { Figure, ScenarioResult, TargetResult } from './results.ts';
import { formatNumber } from './format.ts';

export interface TargetSpec {
  label: string;
  figure: string;
  op: '>=' | '<=';
  /** The threshold, or undefined when what it derives from was not measured in this run. */
  target: number | undefined;
  unit: string;
  basis: string;
  baseline?: BaselineRef;
  /** Why `target` is undefined. */
  missingBecause?: string;
}

/** A figure of a baseline (or of an earlier scenario) that a target derives from. */
export interface BaselineRef {
  name: string;
  label: string;
  unit: string;
  value: number;
  min: number;
  max: number;
}

export function baselineRef(result: ScenarioResult | undefined, figure: string): BaselineRef | undefined {
  const f = result?.figures[figure];
  if (!result || !f) return undefined;
  return { name: figure === 'rate' ? result.scenario : `${result.scenario} ${figure}`, label: `${result.scenario}: ${f.label}`, unit: f.unit, value: f.median, min: f.min, max: f.max };
}

/**
 * The baselines a scenario's targets refer to, for its result, and any shown for
 * comparison only (`extra`).
 */
export function baselinesOf(specs: TargetSpec[], extra: Array<BaselineRef | undefined> = []): ScenarioResult['baselines'] {
  const out: ScenarioResult['baselines'] = {};
  const refs = [...specs.map((s) => s.baseline), ...extra];
  for (const b of refs) {
    if (b) out[b.name] = { label: b.label, unit: b.unit, median: b.value, min: b.min, max: b.max };
  }
  return out;
}

/** Compares a figure's median with its target and says by how much it misses. */
export function evaluateTarget(spec: TargetSpec, figures: Record<string, Figure>): TargetResult {
  const actual = figures[spec.figure]?.median ?? NaN;
  const base = {
    label: spec.label,
    figure: spec.figure,
    op: spec.op,
    unit: spec.unit,
    basis: spec.basis,
    actual,
    ...(spec.baseline ? { baselineName: spec.baseline.name, ratioToBaseline: actual / spec.baseline.value } : {}),
  };
  if (spec.target === undefined || !Number.isFinite(spec.target)) {
    return { ...base, target: NaN, ratioToTarget: NaN, met: false, notEvaluated: spec.missingBecause ?? 'no target value' };
  }
  const target = spec.target;
  if (!Number.isFinite(actual)) {
    return { ...base, target, ratioToTarget: NaN, met: false, miss: 'not measured (the scenario failed before producing this figure)' };
  }
  const met = spec.op === '>=' ? actual >= target : actual <= target;
  const result: TargetResult = { ...base, target, ratioToTarget: actual / target, met };
  if (!met) {
    const u = spec.unit;
    if (spec.op === '>=') {
      const short = target - actual;
      result.miss = `missed by ${((100 * short) / target).toFixed(1)}%: ${formatNumber(actual)} ${u} is ${formatNumber(short)} ${u} short of ${formatNumber(target)} ${u} (needs ${(target / actual).toFixed(2)}× more)`;
    } else {
      const over = actual - target;
      result.miss = `over by ${((100 * over) / target).toFixed(1)}%: ${formatNumber(actual)} ${u} is ${formatNumber(over)} ${u} above the limit of ${formatNumber(target)} ${u} (needs ${(actual / target).toFixed(2)}× less)`;
    }
  }
  return result;
}
