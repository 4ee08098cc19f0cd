import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** One row of a profile summary: a function (or a module) and the CPU time spent in its own code. */
export interface ProfileRow {
  name: string;
  location: string;
  selfMs: number;
  /** Share of the busy time (everything but idle). */
  selfPercent: number;
}

export interface ProfileSummary {
  sampledMs: number;
  idleMs: number;
  busyMs: number;
  functions: ProfileRow[];
  /** Self time by package (`node_modules/<pkg>`) or by source file of this repository. */
  modules: ProfileRow[];
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Reads a V8 `.cpuprofile` and ranks functions and modules by self time: each sample is
 * charged to the frame it landed in, weighted by the time to the next sample. Idle time
 * is left out of the percentages, so they say where the busy time went.
 */
export async function summariseProfile(file: string, top = 15): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byNode = new Map<number, CpuProfileNode>(profile.nodes.map((n) => [n.id, n]));
  const functions = new Map<string, { name: string; location: string; us: number }>();
  const modules = new Map<string, number>();
  let sampledUs = 0;
  let idleUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i + 1] ?? 0;
    const node = byNode.get(profile.samples[i]!);
    if (!node) continue;
    sampledUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const location = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const key = `${functionName}@${location}`;
    const row = functions.get(key) ?? { name: functionName || '(anonymous)', location, us: 0 };
    row.us += us;
    functions.set(key, row);
    const mod = moduleOf(url, functionName);
    modules.set(mod, (modules.get(mod) ?? 0) + us);
  }
  const busyUs = sampledUs - idleUs;
  const pct = (us: number) => (busyUs ? (100 * us) / busyUs : 0);
  return {
    sampledMs: sampledUs / 1000,
    idleMs: idleUs / 1000,
    busyMs: busyUs / 1000,
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((r) => ({ name: r.name, location: r.location, selfMs: r.us / 1000, selfPercent: pct(r.us) })),
    modules: [...modules]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, location: '', selfMs: us / 1000, selfPercent: pct(us) })),
  };
}

function shortUrl(url: string): string {
  const clean = url.replace(/^file:\/\//, '');
  const nm = clean.lastIndexOf('node_modules/');
  if (nm >= 0) return clean.slice(nm + 'node_modules/'.length);
  const rel = path.relative(process.cwd(), clean);
  return rel.startsWith('..') ? clean : rel;
}

function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node: internals';
  const short = shortUrl(url);
  if (url.includes('node_modules/')) {
    const parts = short.split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  return short;
}

/** Formats a summary as text lines. */
export function formatProfileSummary(file: string, s: ProfileSummary, top = 8): string {
  const lines = [`${file}: ${s.sampledMs.toFixed(0)} ms sampled, ${s.busyMs.toFixed(0)} ms busy (idle left out of the shares)`];
  lines.push('  by function (self time):');
  for (const r of s.functions.slice(0, top)) lines.push(`    ${r.selfPercent.toFixed(1).padStart(5)}%  ${r.selfMs.toFixed(0).padStart(6)} ms  ${r.name}  ${r.location}`);
  lines.push('  by module (self time):');
  for (const r of s.modules.slice(0, top)) lines.push(`    ${r.selfPercent.toFixed(1).padStart(5)}%  ${r.selfMs.toFixed(0).padStart(6)} ms  ${r.name}`);
  return lines.join('\n');
}

/** `tsx bench/profileSummary.ts FILE…`: the same summary for profiles from anywhere. */
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const top = Number(process.env.TOP ?? 15);
  for (const f of process.argv.slice(2)) console.log(formatProfileSummary(f, await summariseProfile(f, top), top));
}
