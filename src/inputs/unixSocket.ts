import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { BosunError } from '../errors.ts';

/** Longest path a unix socket may have on Linux (`sun_path` is 108 bytes with its NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Makes `server` listen on the unix socket `socketPath`, readable and writable by this
 * user alone (mode 0600; a data dir this creates is 0700).
 *
 * A socket file left by a daemon that died is removed. A socket that still answers
 * belongs to a running daemon and is refused, as is a path that is not a socket: this
 * never deletes anything but a dead socket.
 */
export async function listenUnix(server: Server, socketPath: string): Promise<void> {
  const bytes = Buffer.byteLength(socketPath);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new BosunError(
      'BOSUN_BAD_CONFIG',
      `the socket path "${socketPath}" is ${bytes} bytes; unix sockets allow ${MAX_SOCKET_PATH_BYTES}: choose a shorter data dir`,
    );
  }
  await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  await removeStaleSocket(socketPath);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(listenError(socketPath, err));
    server.once('error', onError);
    server.listen(socketPath, () => {
      server.off('error', onError);
      resolve();
    });
  });
  await chmod(socketPath, 0o600);
}

/** Closes `server` and removes its socket file; open connections are the caller's to end. */
export async function closeUnix(server: Server, socketPath: string): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  // `server.close` unlinks the socket itself; this covers a server that never listened.
  await unlink(socketPath).catch(() => {});
}

async function removeStaleSocket(socketPath: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(socketPath)).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) {
    throw new BosunError('BOSUN_BAD_CONFIG', `"${socketPath}" exists and is not a socket; bosun will not replace it`);
  }
  if (await answers(socketPath)) {
    throw new BosunError('BOSUN_BAD_CONFIG', `a daemon is already listening on "${socketPath}"; stop it first or use another data dir`);
  }
  await unlink(socketPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** True when something accepts connections on the socket. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe: Socket = connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

function listenError(socketPath: string, err: Error): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    return new BosunError('BOSUN_BAD_CONFIG', `"${socketPath}" is in use by another process`, { cause: err });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new BosunError('BOSUN_BAD_CONFIG', `no permission to create the socket "${socketPath}"`, { cause: err });
  }
  return err;
}
