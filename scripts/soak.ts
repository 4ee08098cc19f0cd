/**
 * The reliability workload of `test/reliability.processes.test.ts`, for long runs:
 *
 *   npm run soak -- --minutes 30 [--seed N] [--rate R] [--keep]
 *
 * Starts nats-server, a TCP proxy, central and two ships as `bosun start` processes, runs
 * six command streams under a seeded nemesis for the given minutes, heals, waits for every
 * accepted command to settle, and prints the figures. Exits 1 on any lost, duplicated,
 * reordered or unexpected command, an unsettled command, or a daemon that died on its
 * own; 2 on bad arguments. The work dir is removed unless the run failed or `--keep`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FAULT_KINDS, formatReport, runReliability, type FaultKind } from '../test/helpers/jepsen.ts';

const USAGE = `usage: npm run soak -- --minutes N [--seed N] [--rate commands-per-second-per-stream] [--faults ${FAULT_KINDS.join(',')}] [--keep]`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        minutes: { type: 'string', default: '10' },
        seed: { type: 'string' },
        rate: { type: 'string', default: '4' },
        faults: { type: 'string', default: FAULT_KINDS.join(',') },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    console.error(`soak: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const minutes = Number(values.minutes);
  const rate = Number(values.rate);
  const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
  const faultKinds = values.faults.split(',').filter(Boolean) as FaultKind[];
  if (!(minutes > 0) || !(rate > 0) || !Number.isInteger(seed) || faultKinds.some((k) => !FAULT_KINDS.includes(k))) {
    console.error(`soak: --minutes and --rate must be positive numbers, --seed a whole number, --faults a list of fault kinds\n${USAGE}`);
    return 2;
  }

  const dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-soak-'));
  const started = Date.now();
  console.log(`soak: ${minutes} min of faults (${faultKinds.join(', ') || 'none'}), seed ${seed}, ${rate} commands/s per stream, work dir ${dir}`);
  let failed = true;
  try {
    const report = await runReliability({
      dir,
      seed,
      faultPhaseMs: minutes * 60_000,
      // A backlog built over a long run takes longer to drain; two minutes at the least.
      settleTimeoutMs: Math.max(120_000, minutes * 6_000),
      ratePerStream: rate,
      faultKinds,
      log: (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(0)}s] ${line}`),
    });
    console.log(formatReport(report));
    failed = !report.verdict.valid || !report.settled || report.crashed.length > 0 || report.deadAtEnd.length > 0;
    console.log(failed ? `soak: FAILED (replay with --seed ${seed})` : 'soak: passed');
  } catch (e) {
    console.error(`soak: the run itself failed: ${(e as Error).stack ?? String(e)}`);
  } finally {
    if (failed || values.keep) console.log(`soak: data dirs and effect files kept in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
