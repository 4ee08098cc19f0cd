import { createServer } from 'node:net';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { repeatedErrorLog } from './repeatedErrorLog.ts';
import type { InputLimits } from './inputBudget.ts';
import type { AcceptingNode } from './messageInput.ts';
import { StreamConnections } from './streamConnection.ts';
import { closeUnix, listenUnix } from './unixSocket.ts';

export const SOCKET_FILE = 'bosun.sock';

export interface SocketInputOptions {
  /** The socket is `<dataDir>/bosun.sock`. */
  dataDir: string;
  log?: Logger;
  /** Largest single JSON value a client may send (default 64 MiB). */
  maxValueBytes?: number;
  /** How long `close` lets a connection finish the messages it already read (default 5 s). */
  closeGraceMs?: number;
  /** The memory budget, connection limit and idle timeout (default: the defaults, with a budget of its own). */
  limits?: InputLimits;
}

/** A running socket input. */
export interface SocketInput {
  readonly socketPath: string;
  /** Stops taking connections, lets open ones finish what they read, removes the socket. */
  close(): Promise<void>;
}

/**
 * The unix socket input, steward's `nc -U` interface: a client writes JSON (one message,
 * or an array of messages, as many as it likes) and reads one JSON line per message
 * (see `serveStreamConnection`).
 */
export async function startSocketInput(node: AcceptingNode, options: SocketInputOptions): Promise<SocketInput> {
  const socketPath = path.join(options.dataDir, SOCKET_FILE);
  const log = (options.log ?? pino({ level: 'silent' })).child({ input: 'socket' });
  const connections = new StreamConnections(node, log, {
    input: 'socket',
    ...(options.maxValueBytes !== undefined ? { maxValueBytes: options.maxValueBytes } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
  });
  const server = createServer({ allowHalfOpen: true }, (socket) => connections.track(socket));
  // Errors on a connection are handled per socket; the server's own are logged.
  server.on('error', repeatedErrorLog(log, 'socket input error'));
  await listenUnix(server, socketPath);
  log.debug({ socket: socketPath }, 'socket input listening');
  return {
    socketPath,
    async close() {
      const closed = closeUnix(server, socketPath);
      await connections.closeAll(options.closeGraceMs ?? 5000);
      await closed;
    },
  };
}
