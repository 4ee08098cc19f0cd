import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { describeError } from '../errors.ts';
import { JsonStreamParser, type StreamItem } from './jsonStream.ts';
import { acceptInputs, type AcceptingNode, type InputAnswer } from './messageInput.ts';

/** One client of a stream input, which the input ends when it closes. */
export interface StreamConnection {
  /** Stops reading, lets the messages already read be answered (up to `graceMs`), then ends. */
  close(graceMs: number): Promise<void>;
}

/**
 * Connections of one stream server (unix socket or TCP), so closing the server can end
 * them all. `track` is the server's connection listener.
 */
export class StreamConnections {
  readonly #open = new Set<StreamConnection>();

  constructor(
    private readonly node: AcceptingNode,
    private readonly log: Logger,
    private readonly maxValueBytes?: number,
  ) {}

  track(socket: Socket): void {
    const connection = serveStreamConnection(socket, this.node, this.log, this.maxValueBytes);
    this.#open.add(connection);
    socket.once('close', () => this.#open.delete(connection));
  }

  async closeAll(graceMs: number): Promise<void> {
    await Promise.all([...this.#open].map((c) => c.close(graceMs)));
  }
}

/**
 * Serves one client of the stream contract: JSON values in (one message, or an array of
 * them, as many as it likes), one JSON line out per message:
 * `{"id":…,"toNode":…,"status":"accepted"}` or `{"error":{"code":…,"message":…}}`.
 * A value the client cannot get right (bad JSON, bad UTF-8, too large) is one error line.
 *
 * The connection is read one chunk at a time and the next chunk is read only when the
 * last one is answered, so a fast client cannot queue unbounded work. Answers follow
 * input order. A client that leaves early loses its answers, never the daemon.
 */
export function serveStreamConnection(socket: Socket, node: AcceptingNode, log: Logger, maxValueBytes: number | undefined): StreamConnection {
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
      log.error({ err }, 'input failed on a connection');
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
    log.debug({ code: err.code }, `client error: ${err.message}`);
  });
  socket.once('close', () => log.debug({ accepted, refused }, 'client disconnected'));
  log.debug('client connected');

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
