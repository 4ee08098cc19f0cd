import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BosunError } from '../errors.ts';
import { SOCKET_FILE } from '../inputs/socketInput.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import { connectDaemon, daemonAddress, readLines } from './daemonClient.ts';
import type { CliIo } from './io.ts';

/**
 * `bosun send FILE|-`: streams the file (or stdin) to the daemon's bosun.sock, half-closes,
 * and prints each answer line as it comes. Exit 1 if any message was refused.
 */
export async function runSend(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'send',
    args,
    { 'data-dir': { type: 'string' }, node: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    true,
  );
  if (values.help) return io.help('send');
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'say what to send: a FILE, or - for stdin' : 'send takes one FILE (or -)', 'send');
  }
  const address = daemonAddress('send', values, io.env, io.cwd);
  const file = positionals[0]!;
  const input = file === '-' ? io.stdin : await openFile(path.resolve(io.cwd, file), file);
  const socket = await connectDaemon(path.join(address.dataDir, SOCKET_FILE), address).catch((e: unknown) => {
    input.destroy();
    throw e;
  });

  let refused = 0;
  let inputError: Error | undefined;
  input.once('error', (err) => {
    inputError = err;
    socket.destroy();
  });
  // `pipe` ends the socket when the input ends: the half-close that tells the daemon
  // there is no more, while its answers keep coming back.
  input.pipe(socket);
  try {
    await readLines(socket, (line) => {
      if (line === '') return;
      io.stdout.write(line + '\n');
      if (isRefusal(line)) refused++;
    });
  } catch (e) {
    if (!inputError) throw e;
  }
  if (inputError) throw new BosunError('BOSUN_BAD_MESSAGE', `cannot read ${file === '-' ? 'stdin' : `"${file}"`}: ${inputError.message}`);
  return refused > 0 ? 1 : 0;
}

async function openFile(absolute: string, shown: string): Promise<Readable> {
  try {
    if ((await stat(absolute)).isDirectory()) throw new UsageError(`"${shown}" is a folder; give a file of JSON messages`, 'send');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read "${shown}": ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, 'send');
  }
  return createReadStream(absolute);
}

function isRefusal(line: string): boolean {
  try {
    const answer = JSON.parse(line) as { error?: unknown };
    return answer !== null && typeof answer === 'object' && 'error' in answer;
  } catch {
    return true;
  }
}
