import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { BosunError } from '../errors.ts';
import { isValidName } from '../message.ts';
import { UsageError } from './args.ts';
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
