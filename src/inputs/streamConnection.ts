import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { describeError, type BosunError } from '../errors.ts';
import { defaultInputLimits, idleInput, tooManyConnections, type InputLimits } from './inputBudget.ts';
import { unauthenticated, type InputToken } from './inputToken.ts';
import { JsonStreamParser, type StreamItem } from './jsonStream.ts';
import { acceptInputs, type AcceptingNode, type InputAnswer } from './messageInput.ts';
import { TokenLineReader } from './tokenLine.ts';

/** How one stream input serves its clients. */
export interface StreamInputOptions {
  /** `socket` or `tcp`, for messages. */
  input: string;
  maxValueBytes?: number;
  limits?: InputLimits;
  /** When set, a client's first line must be this token (the TCP input). */
  token?: InputToken;
}

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

  readonly #options: StreamInputOptions & { limits: InputLimits };

  constructor(
    private readonly node: AcceptingNode,
    private readonly log: Logger,
    options: StreamInputOptions,
  ) {
    this.#options = { ...options, limits: options.limits ?? defaultInputLimits() };
  }

  track(socket: Socket): void {
    const max = this.#options.limits.maxConnections;
    if (this.#open.size >= max) {
      // Said once, then closed: the client learns why instead of seeing a reset.
      refuseAndClose(socket, tooManyConnections(this.#options.input, max));
      this.log.debug({ max }, 'refused a connection over the limit');
      return;
    }
    const connection = serveStreamConnection(socket, this.node, this.log, this.#options);
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
 *
 * What the client's unfinished value holds counts against the inputs' shared budget; a
 * client that would take it over, or whose unfinished value (or token line) waits longer
 * than the idle timeout for its next byte, gets one error line and is closed.
 */
export function serveStreamConnection(
  socket: Socket,
  node: AcceptingNode,
  log: Logger,
  options: StreamInputOptions & { limits: InputLimits },
): StreamConnection {
  const { maxValueBytes, limits } = options;
  let parser = new JsonStreamParser(maxValueBytes !== undefined ? { maxValueBytes } : {});
  const tokenLine = options.token ? new TokenLineReader(options.token) : undefined;
  let authenticated = tokenLine === undefined;
  const lease = limits.budget.lease();
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

  /** Ends a client that broke a limit: one error line, and its memory given back at once. */
  let cut = false;
  const cutOff = (error: BosunError): void => {
    closing = true;
    cut = true;
    parser = new JsonStreamParser();
    lease.release();
    refused++;
    log.info({ code: error.code }, `input closed a connection: ${error.message}`);
    refuseAndClose(socket, error);
  };

  socket.setTimeout(limits.idleMs);
  socket.on('timeout', () => {
    if (!closing && !socket.isPaused() && (!authenticated || parser.inValue)) cutOff(authenticated ? idleInput(limits.idleMs) : unauthenticated('send it as the first line'));
  });
  socket.once('close', () => lease.release());

  socket.on('data', (data: Buffer) => {
    if (closing) return;
    let chunk = data;
    if (!authenticated) {
      const first = tokenLine!.push(chunk);
      if (first.kind === 'waiting') return;
      if (first.kind === 'refused') return cutOff(unauthenticated('send it as the first line'));
      authenticated = true;
      chunk = first.rest;
    }
    const items = parser.push(chunk);
    const overBudget = !lease.resize(parser.heldBytes);
    if (overBudget) {
      // The unfinished value goes at once; the values this chunk completed are still answered.
      parser = new JsonStreamParser();
      lease.release();
    }
    if (items.length === 0 && !overBudget) return;
    socket.pause();
    enqueue(async () => {
      await answer(items);
      if (overBudget) cutOff(limits.budget.exceeded());
      else if (!closing && !socket.destroyed) socket.resume();
    });
  });
  socket.on('end', () => {
    if (cut) return;
    if (!authenticated) return cutOff(unauthenticated('send it as the first line'));
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

/** Tells the client why, then closes; a client that does not read the line is cut off soon after. */
function refuseAndClose(socket: Socket, error: BosunError): void {
  socket.pause();
  if (socket.writable) socket.end(JSON.stringify({ error: error.toJSON() }) + '\n');
  setTimeout(() => socket.destroy(), 1000).unref();
}

function delay(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => setTimeout(resolve, ms, 'timeout').unref());
}
