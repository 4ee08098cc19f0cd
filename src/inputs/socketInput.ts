import { createServer, type Socket } from 'node:net';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { describeError } from '../errors.ts';
import { JsonStreamParser, type StreamItem } from './jsonStream.ts';
import { acceptInputs, type AcceptingNode, type InputAnswer } from './messageInput.ts';
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
}

/** A running socket input. */
export interface SocketInput {
  readonly socketPath: string;
  /** Stops taking connections, lets open ones finish what they read, removes the socket. */
  close(): Promise<void>;
}

/**
 * The unix socket input, steward's `nc -U` interface: a client writes JSON (one message,
 * or an array of messages, as many as it likes) and reads one JSON line per message:
 * `{"id":…,"toNode":…,"status":"accepted"}` or `{"error":{"code":…,"message":…}}`.
 * A value the client cannot get right (bad JSON, bad UTF-8, too large) is one error line.
 *
 * Each connection is read one chunk at a time and the next chunk is read only when the
 * last one is answered, so a fast client cannot queue unbounded work. Answers follow
 * input order. A client that leaves early loses its answers, never the daemon.
 */
export async function startSocketInput(node: AcceptingNode, options: SocketInputOptions): Promise<SocketInput> {
  const socketPath = path.join(options.dataDir, SOCKET_FILE);
  const log = (options.log ?? pino({ level: 'silent' })).child({ input: 'socket' });
  const connections = new Set<Connection>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const connection = serveConnection(socket, node, log, options.maxValueBytes);
    connections.add(connection);
    socket.once('close', () => connections.delete(connection));
  });
  // Errors on a connection are handled per socket; the server's own are logged.
  server.on('error', (err) => log.error({ err }, 'socket input error'));
  await listenUnix(server, socketPath);
  log.debug({ socket: socketPath }, 'socket input listening');
  return {
    socketPath,
    async close() {
      const closed = closeUnix(server, socketPath);
      await Promise.all([...connections].map((c) => c.close(options.closeGraceMs ?? 5000)));
      await closed;
    },
  };
}

interface Connection {
  close(graceMs: number): Promise<void>;
}

function serveConnection(socket: Socket, node: AcceptingNode, log: Logger, maxValueBytes: number | undefined): Connection {
  const parser = new JsonStreamParser(maxValueBytes !== undefined ? { maxValueBytes } : {});
  let queue: Promise<void> = Promise.resolve();
  let closing = false;
  let accepted = 0;
  let refused = 0;
  const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));

  const writeLine = async (answer: InputAnswer): Promise<void> => {
    if ('error' in answer) {
      refused++;
      log.info({ code: answer.error.code }, `input refused: ${answer.error.message}`);
    } else accepted++;
    if (socket.destroyed || !socket.writable) return;
    if (!socket.write(JSON.stringify(answer) + '\n')) {
      await Promise.race([new Promise<void>((resolve) => socket.once('drain', () => resolve())), gone]);
    }
  };

  // Values read together are accepted together; a stream error keeps its place between them.
  const answer = async (items: StreamItem[]): Promise<void> => {
    let values: unknown[] = [];
    const acceptValues = async (): Promise<void> => {
      if (values.length === 0) return;
      const batch = values;
      values = [];
      for (const a of await acceptInputs(node, batch)) await writeLine(a);
    };
    for (const item of items) {
      if (item.kind === 'value') values.push(item.value);
      else {
        await acceptValues();
        await writeLine({ error: item.error.toJSON() });
      }
    }
    await acceptValues();
  };

  const enqueue = (work: () => Promise<void>): void => {
    queue = queue.then(work).catch((err: unknown) => {
      // Accepting never throws by contract; if it does, the client hears of it.
      log.error({ err }, 'socket input failed on a connection');
      void writeLine({ error: describeError(err) });
    });
  };

  socket.on('data', (chunk: Buffer) => {
    if (closing) return;
    const items = parser.push(chunk);
    if (items.length === 0) return;
    socket.pause();
    enqueue(async () => {
      await answer(items);
      if (!closing && !socket.destroyed) socket.resume();
    });
  });
  socket.on('end', () => {
    // The client half-closed: answer what is left, then close our side.
    enqueue(async () => {
      await answer(parser.end());
      socket.end();
    });
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    log.debug({ code: err.code }, `socket client error: ${err.message}`);
  });
  socket.once('close', () => log.debug({ accepted, refused }, 'socket client disconnected'));
  log.debug('socket client connected');

  return {
    async close(graceMs) {
      closing = true;
      socket.pause();
      await Promise.race([queue, delay(graceMs)]);
      socket.end();
      // A client that does not close its side in time is cut off.
      if ((await Promise.race([gone.then(() => 'closed' as const), delay(1000)])) === 'timeout') socket.destroy();
    },
  };
}

function delay(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => setTimeout(resolve, ms, 'timeout').unref());
}
