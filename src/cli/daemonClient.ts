import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { BosunError } from '../errors.ts';
import { isValidName } from '../message.ts';
import { SOCKET_FILE } from '../inputs/socketInput.ts';
import { UsageError } from './args.ts';
import type { CliIo } from './io.ts';
import { defaultDataDir } from '../config/resolve.ts';

/** Which daemon a client command talks to, and how to tell the user to start it. */
export interface DaemonAddress {
  dataDir: string;
  /** The `bosun start` line that would run this daemon, for the hint when none answers. */
  startHint: string;
}

/**
 * Finds the daemon from `--data-dir`, else `--node` (its default data dir), else
 * `$BOSUN_DATA_DIR`, else `$BOSUN_NODE`: the same places `bosun start` looks.
 */
export function daemonAddress(command: string, flags: { 'data-dir'?: string; node?: string }, env: NodeJS.ProcessEnv, cwd: string): DaemonAddress {
  const node = flags.node ?? (flags['data-dir'] === undefined ? env.BOSUN_NODE || undefined : undefined);
  if (node !== undefined && !isValidName(node)) {
    throw new UsageError(`node name "${node}" may only hold letters, digits, "-" and "_"`, command);
  }
  const dir = flags['data-dir'] ?? (flags.node === undefined ? env.BOSUN_DATA_DIR || undefined : undefined);
  if (dir !== undefined) {
    const dataDir = path.resolve(cwd, dir);
    return { dataDir, startHint: `bosun start --node ${node ?? 'NAME'} --data-dir ${dir}` };
  }
  if (node !== undefined) return { dataDir: defaultDataDir(node, cwd), startHint: `bosun start --node ${node}` };
  throw new UsageError('say which daemon: --node NAME or --data-dir DIR', command);
}

/**
 * Connects to one of the daemon's sockets. No daemon there is `BOSUN_DAEMON_UNREACHABLE`
 * with a hint how to start one, not an errno.
 */
export function connectDaemon(socketPath: string, address: DaemonAddress): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path: socketPath, allowHalfOpen: true });
    const onError = (err: NodeJS.ErrnoException): void => {
      socket.destroy();
      if (err.code === 'EACCES' || err.code === 'EPERM') {
        reject(new BosunError('BOSUN_DAEMON_UNREACHABLE', `no permission to use ${socketPath}: run bosun as the daemon's user`));
      } else {
        reject(new BosunError('BOSUN_DAEMON_UNREACHABLE', `no bosun daemon at ${socketPath}: is it running? (${address.startHint})`));
      }
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** Calls `onLine` for each line the socket sends; resolves when it closes. */
export function readLines(socket: Socket, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      pending += text;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    });
    socket.once('end', () => {
      if (pending !== '') onLine(pending);
      resolve();
    });
    socket.once('error', (err) => reject(new BosunError('BOSUN_INTERRUPTED', `the daemon closed the connection: ${err.message}`)));
  });
}

/**
 * Asks the daemon to run `method` on itself and waits for the result: the request goes
 * in through its socket (so it is the daemon's own, signed request), and the reply is
 * written with REQToFile into `<data-dir>/files/bosun-cli/<node>/`, where this reads it
 * and removes it. An error reply goes to the same name plus `.error`. `node` is the
 * daemon's own name (empty when its socket refused the request).
 */
export async function askDaemon(
  address: DaemonAddress,
  request: { method: string; methodArgs?: string[]; data?: string },
  timeoutMs: number,
): Promise<{ ok: boolean; text: string; node: string }> {
  const fileName = `${request.method}-${randomUUID()}.txt`;
  const message = { toNode: 'local', ...request, replyMethod: 'REQToFile', directory: 'bosun-cli', fileName };
  const socket = await connectDaemon(path.join(address.dataDir, SOCKET_FILE), address);
  const answers: string[] = [];
  const reading = readLines(socket, (line) => {
    if (line !== '') answers.push(line);
  });
  socket.end(JSON.stringify(message));
  await reading;
  const answer = JSON.parse(answers[0] ?? '{}') as { toNode?: string; error?: { code: string; message: string } };
  if (answer.error) return { ok: false, text: `${answer.error.code}: ${answer.error.message}`, node: '' };
  if (!answer.toNode) throw new BosunError('BOSUN_INTERRUPTED', 'the daemon gave no answer to the request');
  const dir = path.join(address.dataDir, 'files', 'bosun-cli', answer.toNode);
  const end = Date.now() + timeoutMs;
  for (;;) {
    for (const [file, ok] of [
      [path.join(dir, fileName), true],
      [path.join(dir, `${fileName}.error`), false],
    ] as const) {
      const text = await readFile(file, 'utf8').catch(() => undefined);
      if (text !== undefined) {
        await rm(file, { force: true });
        return { ok, text, node: answer.toNode };
      }
    }
    if (Date.now() > end) {
      throw new BosunError('BOSUN_INTERRUPTED', `no answer to ${request.method} within ${timeoutMs / 1000} s; is the daemon started with security on?`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Prints why the daemon refused a request (the `error CODE: …` of its reply); exit code
 * 1. A daemon that does not know the method is not central, or runs without security.
 */
export function printRefusal(io: CliIo, text: string, what: string): number {
  io.stderr.write(`bosun: ${text.replace(/^error /, '').trimEnd()}\n`);
  if (/BOSUN_UNKNOWN_METHOD/.test(text)) io.stderr.write(`bosun: ${what} runs on central, started with --secure true: give central's --node or --data-dir\n`);
  return 1;
}
