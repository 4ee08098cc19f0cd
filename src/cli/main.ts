import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BosunError } from '../errors.ts';
import { UsageError } from './args.ts';
import { runConfig } from './configCommand.ts';
import { processIo, usageOf, type CliIo } from './io.ts';
import { runSend } from './send.ts';
import { runStart } from './start.ts';
import { runTree } from './tree.ts';
import { runAudit, runCopy, runDead, runNodes, runQueue, runStatus } from './operate.ts';
import { run as runKeys } from './keys.ts';
import { runAcl } from './acl.ts';
import { run as runNatsConfig } from './natsConfig.ts';
import { runResponses } from './responses.ts';
import { COMMAND_USAGE } from './usage.ts';

/** Exit codes: 0 done, 1 failed or refused, 2 called wrongly (usage, config, no daemon). */
const COMMANDS: Record<string, (args: string[], io: CliIo) => Promise<number>> = {
  start: runStart,
  send: runSend,
  tree: runTree,
  config: runConfig,
  queue: runQueue,
  dead: runDead,
  audit: runAudit,
  status: runStatus,
  nodes: runNodes,
  copy: runCopy,
  keys: (args, io) => runKeys(args, io),
  acl: runAcl,
  'nats-config': (args, io) => runNatsConfig(args, io),
  responses: runResponses,
  help: async (args, io) => {
    const [topic] = args;
    if (topic !== undefined && !Object.hasOwn(COMMAND_USAGE, topic)) throw new UsageError(`no help for "${topic}": there is no such command`);
    return io.help(topic);
  },
};

/** Runs one bosun command line; resolves with the exit code. Never throws. */
export async function runCli(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined) throw new UsageError('no command given');
    if (first === '--help' || first === '-h') return io.help();
    if (first === '--version' || first === '-V') {
      io.stdout.write(`bosun ${version()}\n`);
      return 0;
    }
    if (first.startsWith('-')) throw new UsageError(`unknown option "${first}"; options come after the command`);
    const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
    if (!command) throw new UsageError(`unknown command "${first}"`);
    return await command(rest, io);
  } catch (err) {
    return reportError(err, io);
  }
}

function reportError(err: unknown, io: CliIo): number {
  if (err instanceof UsageError) {
    io.stderr.write(`bosun: ${err.message}\n\n${usageOf(err.command)}`);
    return 2;
  }
  if (err instanceof BosunError) {
    io.stderr.write(`bosun: ${err.message}\n`);
    return err.code === 'BOSUN_BAD_CONFIG' || err.code === 'BOSUN_DAEMON_UNREACHABLE' ? 2 : 1;
  }
  // Not an error bosun knows: a bug, so the stack helps whoever reports it.
  io.stderr.write(`bosun: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * The program: runs the command line of this process and sets its exit code. The daemon
 * exits explicitly once stopped: its hard-exit timer and the bus's handles are not worth
 * waiting on.
 */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const code = await runCli(argv);
  if (argv[0] === 'start') process.exit(code);
  process.exitCode = code;
}

/** True when this file is the program (`tsx src/cli/main.ts`), not imported by bin/bosun.js. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) await main();
