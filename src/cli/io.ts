import type { Readable, Writable } from 'node:stream';

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
