import type { Machine } from './machine.ts';
import { summarise, type Summary } from './stats.ts';

/** One measured quantity over the repetitions. */
export interface Figure extends Summary {
  label: string;
  unit: string;
  /** True when more is better (rates); false for times, sizes and CPU. */
  higherIsBetter: boolean;
}

/** Resources of one process over the repetitions. */
export interface ProcessFigures {
  peakRssMB: Summary;
  cpuUsPerMsg?: Summary;
  /** CPU time over wall time of the measured window, in % of one core. */
  cpuPercent?: Summary;
}

export interface TargetResult {
  label: string;
  /** Key into `figures`. */
  figure: string;
  op: '>=' | '<=';
  target: number;
  unit: string;
  /** What the target was derived from, e.g. "2 × raw request/reply". */
  basis: string;
  actual: number;
  /** actual / target. */
  ratioToTarget: number;
  /** actual / the baseline the target was derived from, when there is one. */
  ratioToBaseline?: number;
  baselineName?: string;
  met: boolean;
  /** Evaluated against a figure this run did not produce. */
  notEvaluated?: string;
  /** How far off, in words and numbers, when missed. */
  miss?: string;
}

export interface Check {
  label: string;
  ok: boolean;
  detail?: string;
}

export interface ScenarioResult {
  kind: 'scenario' | 'baseline';
  scenario: string;
  summary: string;
  quick: boolean;
  /** How the scenario was scaled, in words; set when `--quick` shrank it. */
  scaleNote?: string;
  parameters: Record<string, number | string | boolean>;
  repetitions: number;
  figures: Record<string, Figure>;
  processes: Record<string, ProcessFigures>;
  /** Baseline figures this scenario is compared with (medians of their own repetitions). */
  baselines: Record<string, { label: string; unit: string; median: number; min: number; max: number }>;
  targets: TargetResult[];
  checks: Check[];
  notes: string[];
  errors: string[];
  profiles: string[];
  durationSeconds: number;
  /** The machine's 1-minute load average when the scenario ended: others share it. */
  loadAverageAtEnd?: number;
  machine?: Machine;
}

/** What one repetition measured: raw numbers, summarised across repetitions later. */
export interface RepOutcome {
  figures: Record<string, number>;
  processes: Record<string, { peakRssBytes: number; cpuUs?: number; messages?: number; wallMs?: number }>;
  checks: Check[];
  notes?: string[];
}

export interface FigureSpec {
  label: string;
  unit: string;
  higherIsBetter: boolean;
}

/** Folds repetitions into figures (median, min, max) and checks (failed in any repetition → failed). */
export function combineReps(reps: RepOutcome[], specs: Record<string, FigureSpec>): Pick<ScenarioResult, 'figures' | 'processes' | 'checks' | 'notes'> {
  const figures: Record<string, Figure> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const values = reps.map((r) => r.figures[key]).filter((v): v is number => v !== undefined);
    if (values.length) figures[key] = { ...spec, ...summarise(values) };
  }
  const processes: Record<string, ProcessFigures> = {};
  const names = new Set(reps.flatMap((r) => Object.keys(r.processes)));
  for (const name of names) {
    const samples = reps.map((r) => r.processes[name]).filter((p) => p !== undefined);
    const rss = samples.map((p) => p.peakRssBytes / 2 ** 20);
    const perMsg = samples.filter((p) => p.cpuUs !== undefined && p.messages).map((p) => p.cpuUs! / p.messages!);
    const percent = samples.filter((p) => p.cpuUs !== undefined && p.wallMs).map((p) => (100 * p.cpuUs!) / 1000 / p.wallMs!);
    processes[name] = {
      peakRssMB: summarise(rss),
      ...(perMsg.length ? { cpuUsPerMsg: summarise(perMsg) } : {}),
      ...(percent.length ? { cpuPercent: summarise(percent) } : {}),
    };
  }
  const checks = new Map<string, { ok: boolean; details: string[] }>();
  for (const [i, r] of reps.entries()) {
    for (const c of r.checks) {
      const entry = checks.get(c.label) ?? { ok: true, details: [] };
      entry.ok &&= c.ok;
      if (c.detail && (!c.ok || reps.length === 1)) entry.details.push(reps.length > 1 ? `rep ${i + 1}: ${c.detail}` : c.detail);
      checks.set(c.label, entry);
    }
  }
  return {
    figures,
    processes,
    checks: [...checks].map(([label, c]) => ({ label, ok: c.ok, ...(c.details.length ? { detail: c.details.join('; ') } : {}) })),
    notes: [...new Set(reps.flatMap((r, i) => (r.notes ?? []).map((n) => (reps.length > 1 ? `rep ${i + 1}: ${n}` : n))))],
  };
}
