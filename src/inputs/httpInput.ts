import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import pino, { type Logger } from 'pino';
import { BosunError, describeError } from '../errors.ts';
import { MAX_MESSAGE_BYTES } from '../message.ts';
import { DEFAULT_MAX_VALUE_BYTES, formatBytes, JsonStreamParser, type StreamItem } from './jsonStream.ts';
import { acceptInput, type AcceptingNode } from './messageInput.ts';
import { closeTcp, formatAddress, isLoopback, listenTcp, type TcpAddress } from './tcpListen.ts';

/** The daemon's life as health checks see it. */
export type DaemonStatus = 'starting' | 'running' | 'draining' | 'stopped';

export interface HttpInputOptions {
  listen: TcpAddress;
  /** Where the daemon is in its life: `/readyz` is 200 only while `running`. */
  status(): DaemonStatus;
  log?: Logger;
  /** Largest request body (default 64 MiB). */
  maxBodyBytes?: number;
  /** Largest single message, as JSON (default 1 MiB). */
  maxMessageBytes?: number;
  /** How long `close` lets requests in progress finish (default 5 s). */
  closeGraceMs?: number;
}

export interface HttpInput {
  /** Where it listens, with the real port. */
  readonly address: TcpAddress;
  /** Stops taking requests, lets those in progress finish, closes every connection. */
  close(): Promise<void>;
}

export const MESSAGES_PATH = '/api/v1/messages';

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

/**
 * The HTTP input (steward's `HTTP_LISTENER`, done with answers):
 * - `POST /api/v1/messages` with a JSON body, one message object or an array of them:
 *   200 `{"results":[…]}`, one result per message in order, each as the socket would
 *   answer it. A body that is not JSON or not UTF-8 is 400, one over the body cap 413,
 *   each with `{"error":{"code","message"}}`, and nothing in it is accepted.
 * - `GET /healthz`: 200 while the daemon runs (starting and draining included).
 * - `GET /readyz`: 200 while the node takes messages, 503 while it starts or drains.
 * - anything else: 404 (405 for a known path with the wrong method), as JSON.
 *
 * Unauthenticated, like steward's: it listens on loopback unless told otherwise.
 */
export async function startHttpInput(node: AcceptingNode, options: HttpInputOptions): Promise<HttpInput> {
  const log = (options.log ?? pino({ level: 'silent' })).child({ input: 'http' });
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_VALUE_BYTES;
  const maxMessageBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  const health = (ready: boolean): Handler => (_req, res) => {
    const status = options.status();
    reply(res, ready && status !== 'running' ? 503 : 200, { status });
  };
  const routes: Record<string, Record<string, Handler>> = {
    [MESSAGES_PATH]: { POST: (req, res) => postMessages(req, res, node, options.status, maxBodyBytes, maxMessageBytes, log) },
    '/healthz': { GET: health(false) },
    '/readyz': { GET: health(true) },
  };

  const inFlight = new Set<Promise<void>>();
  const server = createServer((req, res) => {
    const done = route(routes, req, res).catch((err: unknown) => {
      log.error({ err }, 'http input failed on a request');
      if (!res.headersSent) reply(res, 500, { error: describeError(err) });
      else res.destroy();
    });
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  });
  const address = await listenTcp(server, options.listen, 'http-listen');
  server.on('error', (err) => log.error({ err }, 'http input error'));
  if (!isLoopback(address.host)) {
    log.warn({ address: formatAddress(address) }, 'the HTTP input takes messages from the network without authentication');
  }
  return {
    address,
    async close() {
      const closed = closeTcp(server);
      server.closeIdleConnections();
      await Promise.race([Promise.allSettled([...inFlight]), delay(options.closeGraceMs ?? 5000)]);
      server.closeAllConnections();
      await closed;
    },
  };
}

async function route(routes: Record<string, Record<string, Handler>>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const pathname = new URL(req.url ?? '/', 'http://bosun').pathname;
  const methods = Object.hasOwn(routes, pathname) ? routes[pathname]! : undefined;
  if (!methods) {
    drain(req);
    reply(res, 404, { error: new BosunError('BOSUN_NOT_FOUND', `no such endpoint: ${req.method} ${pathname}`).toJSON() });
    return;
  }
  // HEAD is GET without the body, which node:http leaves out by itself.
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? '');
  const handler = Object.hasOwn(methods, method) ? methods[method]! : undefined;
  if (!handler) {
    drain(req);
    const allowed = Object.keys(methods).join(', ');
    res.setHeader('Allow', allowed);
    reply(res, 405, { error: new BosunError('BOSUN_METHOD_NOT_ALLOWED', `${pathname} takes ${allowed}, not ${req.method}`).toJSON() });
    return;
  }
  await handler(req, res);
}

async function postMessages(
  req: IncomingMessage,
  res: ServerResponse,
  node: AcceptingNode,
  status: () => DaemonStatus,
  maxBodyBytes: number,
  maxMessageBytes: number,
  log: Logger,
): Promise<void> {
  const refuse = (code: number, error: BosunError): void => {
    log.info({ code: error.code, status: code }, `http input refused a request: ${error.message}`);
    // The rest of a refused body is dropped unread, and the connection goes with it.
    req.resume();
    res.setHeader('Connection', 'close');
    reply(res, code, { error: error.toJSON() });
  };
  if (status() === 'draining' || status() === 'stopped') {
    refuse(503, new BosunError('BOSUN_NODE_STOPPING', 'the node is stopping; it accepts no new messages'));
    return;
  }
  const tooLarge = (): BosunError =>
    new BosunError('BOSUN_MESSAGE_TOO_LARGE', `the body is over ${formatBytes(maxBodyBytes)}, the most one request may carry; send the messages in smaller batches`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBodyBytes) {
    refuse(413, tooLarge());
    return;
  }

  const body = await readJsonBody(req, maxBodyBytes, tooLarge);
  let refusal = 'refusal' in body ? body.refusal : undefined;
  const values = 'values' in body ? body.values : [];
  if (!refusal && values.length !== 1) {
    const problem = values.length === 0 ? 'the body is empty' : `the body holds ${values.length} JSON values`;
    refusal = { code: 400, error: new BosunError('BOSUN_BAD_JSON', `${problem}; send one message object or one array of messages`) };
  }
  if (refusal) {
    refuse(refusal.code, refusal.error);
    return;
  }
  const results = await acceptInput(node, values[0], maxMessageBytes);
  reply(res, 200, { results });
}

type Refusal = { code: number; error: BosunError };

/**
 * The body's JSON values, parsed as they arrive, or the first reason to refuse it. A
 * refused body is not read further: the rest is dropped as it comes, so the client gets
 * its answer instead of a reset connection.
 */
function readJsonBody(req: IncomingMessage, maxBodyBytes: number, tooLarge: () => BosunError): Promise<{ values: unknown[] } | { refusal: Refusal }> {
  const parser = new JsonStreamParser({ maxValueBytes: maxBodyBytes });
  const values: unknown[] = [];
  let received = 0;
  return new Promise((resolve, reject) => {
    let refusal: Refusal | undefined;
    const take = (items: StreamItem[]): void => {
      for (const item of items) {
        if (refusal) return;
        if (item.kind === 'value') values.push(item.value);
        else refusal = { code: item.error.code === 'BOSUN_MESSAGE_TOO_LARGE' ? 413 : 400, error: item.error };
      }
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > maxBodyBytes) refusal = { code: 413, error: tooLarge() };
      else take(parser.push(chunk));
      if (refusal) {
        req.off('data', onData);
        req.resume();
        resolve({ refusal });
      }
    };
    req.on('data', onData);
    req.once('end', () => {
      if (refusal) return;
      take(parser.end());
      resolve(refusal ? { refusal } : { values });
    });
    req.once('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Reads and drops a body the answer does not need, so the connection can be reused. */
function drain(req: IncomingMessage): void {
  req.resume();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
