import { PassThrough } from 'node:stream';
import type { CliIo } from '../../src/cli/io.ts';

/** A CLI's input and output for a test: empty stdin, and what it wrote to stdout and stderr so far. */
export function capturedIo(cwd: string): CliIo & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (b) => (out += b));
  stderr.on('data', (b) => (err += b));
  return { stdin: new PassThrough(), stdout, stderr, env: {}, cwd, help: () => 0, out: () => out, err: () => err };
}
