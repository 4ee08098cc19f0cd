import path from 'node:path';
import { formatNumber, table } from './format.ts';
import type { Machine } from './machine.ts';
import type { ScenarioResult } from './results.ts';
import type { Summary } from './stats.ts';

function spread(s: Summary | undefined, digits?: number): [string, string, string] {
  if (!s || !Number.isFinite(s.median)) return ['—', '—', '—'];
  const f = (n: number) => (digits === undefined ? formatNumber(n) : n.toFixed(digits));
  return [f(s.median), f(s.min), f(s.max)];
}

export function formatMachine(machine: Machine, mode: { quick: boolean; cpuProf: boolean; natsUrl: string }): string {
  return [
    `bosun bench — ${mode.quick ? 'QUICK run (--quick: scaled-down counts, fewer repetitions)' : 'full run'}`,
    `machine: ${machine.cpus} CPU(s), ${machine.model}, ${machine.memoryGB} GB; ${machine.platform}; load ${machine.loadAverage.join(' ')}`,
    `software: Node ${machine.node}, nats.js ${machine.natsJs}, ${machine.natsServer} at ${mode.natsUrl}`,
    ...(machine.idleWorkerRssMB !== undefined ? [`an idle worker process (node + tsx, nothing of bosun loaded) has ${machine.idleWorkerRssMB} MB RSS: part of every worker's peak RSS`] : []),
    'figures: median [min … max] over the repetitions; CPU per message is each process\'s own process.cpuUsage() (nats-server: /proc)',
  ].join('\n');
}

/** A scenario's block in the readable output. */
export function formatResult(r: ScenarioResult): string {
  const out: string[] = [];
  const title = `${r.kind === 'baseline' ? 'baseline ' : ''}${r.scenario}`;
  out.push('', `== ${title} — ${r.summary}`);
  const params = Object.entries(r.parameters).map(([k, v]) => `${k}=${typeof v === 'number' ? formatNumber(v) : v}`).join(', ');
  out.push(`   ${params}${params ? '; ' : ''}${r.repetitions} repetition(s); ${r.durationSeconds} s; load average at end ${r.loadAverageAtEnd ?? '?'}`);
  if (r.scaleNote) out.push(`   ${r.scaleNote}`);
  const figures = Object.values(r.figures);
  if (figures.length) {
    out.push(
      indent(
        table(
          ['figure', 'median', 'min', 'max', 'unit'],
          figures.map((f) => [f.label, ...spread(f), f.unit]),
          [false, true, true, true, false],
        ),
      ),
    );
  }
  const procs = Object.entries(r.processes);
  if (procs.length) {
    out.push(
      indent(
        table(
          ['process', 'peak RSS MB', 'min', 'max', 'CPU µs/msg', 'min', 'max', 'CPU % of a core (med / min / max)'],
          procs.map(([name, p]) => [name, ...spread(p.peakRssMB, 0), ...spread(p.cpuUsPerMsg), p.cpuPercent ? spread(p.cpuPercent, 1).join(' / ') : '']),
          [false, true, true, true, true, true, true, true],
        ),
      ),
    );
  }
  for (const [name, b] of Object.entries(r.baselines)) {
    out.push(`   compared with ${b.label}: ${formatNumber(b.median)} ${b.unit} [${formatNumber(b.min)} … ${formatNumber(b.max)}] (${name})`);
  }
  for (const t of r.targets) {
    const ratio = t.ratioToBaseline !== undefined && Number.isFinite(t.ratioToBaseline) ? `; ${t.ratioToBaseline.toFixed(2)}× ${t.baselineName}` : '';
    if (t.notEvaluated) out.push(`   target ?  ${t.label}: not evaluated (${t.notEvaluated}); measured ${formatNumber(t.actual)} ${t.unit}`);
    else if (t.met) out.push(`   target ✓  ${t.label} (${t.op} ${formatNumber(t.target)} ${t.unit}): ${formatNumber(t.actual)} ${t.unit}, ${t.ratioToTarget.toFixed(2)}× target${ratio}`);
    else out.push(`   target ✗  ${t.label} (${t.op} ${formatNumber(t.target)} ${t.unit}): ${t.miss}${ratio}`);
  }
  for (const c of r.checks) out.push(`   check ${c.ok ? '✓' : '✗'}  ${c.label}${c.detail ? `: ${c.detail}` : ''}`);
  for (const n of r.notes) out.push(`   note: ${n}`);
  for (const e of r.errors) out.push(`   error: ${e.split('\n').slice(0, 4).join('\n          ')}`);
  if (r.profiles.length) out.push(`   CPU profiles: ${r.profiles.map((p) => path.relative(process.cwd(), p)).join(', ')}`);
  return out.join('\n');
}

/** The one-screen digest at the end of a run. */
export function formatDigest(results: ScenarioResult[]): string {
  const rows = results
    .filter((r) => r.kind === 'scenario')
    .map((r) => {
      const targets = r.targets.filter((t) => !t.notEvaluated);
      const met = targets.filter((t) => t.met).length;
      const failedChecks = r.checks.filter((c) => !c.ok).length;
      // The figure of the first target is what the scenario is about.
      const headline = r.figures[r.targets[0]?.figure ?? 'rate'] ?? Object.values(r.figures)[0];
      return [
        r.scenario,
        headline ? `${headline.label}: ${formatNumber(headline.median)} ${headline.unit}` : '—',
        `${met}/${targets.length}`,
        failedChecks ? `${failedChecks} failed` : 'ok',
        `${r.durationSeconds} s`,
      ];
    });
  return ['', '== summary', indent(table(['scenario', 'headline (median)', 'targets met', 'checks', 'time'], rows, [false, true, true, false, true]))].join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `   ${l}`)
    .join('\n');
}
