import type { CliIo } from './io.ts';
import { COMMAND_USAGE, MAIN_USAGE } from './usage.ts';

/**
 * The real process's io. Apart from `io.ts` because it needs every command's usage, and
 * the commands need `CliIo`: together they made an import cycle.
 */
export function processIo(): CliIo {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    help(command) {
      process.stdout.write(usageOf(command));
      return 0;
    },
  };
}

export function usageOf(command?: string): string {
  return (command !== undefined ? COMMAND_USAGE[command] : undefined) ?? MAIN_USAGE;
}
