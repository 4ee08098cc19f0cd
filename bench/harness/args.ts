export interface BenchArgs {
  scenarios: string[];
  quick: boolean;
  json: boolean;
  cpuProf: boolean;
  repetitions: number | undefined;
  help: boolean;
}

export const USAGE = `usage: npm run bench -- [SCENARIO…] [--quick] [--json] [--cpu-prof] [--reps N]

  SCENARIO   run only these (default: all); see bench/README.md
  --quick    smaller counts and fewer repetitions: each scenario in about 30 s or less
  --json     one JSON object per scenario (and per baseline) on stdout, one per line
  --cpu-prof worker processes write V8 CPU profiles to bench/profiles/
  --reps N   repetitions per scenario (default 3, with --quick 1 or 2)`;

export function parseArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = { scenarios: [], quick: false, json: false, cpuProf: false, repetitions: undefined, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') args.quick = true;
    else if (a === '--json') args.json = true;
    else if (a === '--cpu-prof') args.cpuProf = true;
    else if (a === '--help' || a === '-h') args.help = true;
    else if (a === '--reps' || a.startsWith('--reps=')) {
      const v = a.includes('=') ? a.slice('--reps='.length) : argv[++i];
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--reps needs a whole number ≥ 1, got ${v}`);
      args.repetitions = n;
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${USAGE}`);
    else args.scenarios.push(a);
  }
  return args;
}
