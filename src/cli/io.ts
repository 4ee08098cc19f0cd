import type { Readable, Writable } from 'node:stream';
import { COMMAND_USAGE, MAIN_USAGE } from './usage.ts';

/** What a command may touch of its process, so each can be driven from a test. */
export interface CliIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Prints a command's help (the main usage for none) to stdout; returns exit code 0. */
  help(command?: string): number;
}

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
