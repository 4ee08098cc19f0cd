import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import pino, { type Logger } from 'pino';
import { repeatedErrorLog } from './repeatedErrorLog.ts';
import { BosunError, describeError } from '../errors.ts';
import { MAX_MESSAGE_BYTES } from '../message.ts';
import { refuseRequest, type HttpAccess } from './httpGuard.ts';
import { defaultInputLimits, idleInput, tooManyConnections, type InputLimits } from './inputBudget.ts';
import { formatBytes } from './formatBytes.ts';
import { DEFAULT_MAX_VALUE_BYTES, JsonStreamParser, type StreamItem } from './jsonStream.ts';
import { acceptInputs, type AcceptingNode, type InputAnswer } from './messageInput.ts';
import { closeTcp, formatAddress, isLoopback, listenTcp, type TcpAddress } from './tcpListen.ts';

/** The daemon's life as health checks see it. */
export type DaemonStatus = 'starting' | 'running' | 'draining' | 'stopped';

export interface HttpInputOptions {
  listen: TcpAddress;
  /** The token, and the origins and host names allowed. */
  access: HttpAccess;
  /** The memory budget, connection limit and idle timeout (default: the defaults, with a budget of their own). */
  limits?: InputLimits;
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
 * - `POST /api/v1/messages` with `Authorization: Bearer <token>` and a JSON body read as
 *   the socket reads its stream: message objects or arrays of them, one after another.
 *   200 `{"results":[…]}`, one result per message in order, and one error result in its
 *   place for each stretch that is not JSON or not UTF-8: a bad line costs itself, never
 *   the messages after it. An empty body is 400; one over the body cap 413, and then
 *   nothing in it is accepted.
 * - `GET /healthz`: 200 while the daemon runs (starting and draining included).
 * - `GET /readyz`: 200 while the node takes messages, 503 while it starts or drains.
 * - anything else: 404 (405 for a known path with the wrong method), as JSON.
 *
 * Every request must name this host (`Host`) and come from no web page, or an allowed
 * one (`Origin`); see `refuseRequest`. Refusals are `{"error":{"code","message"}}`.
 */
export async function startHttpInput(node: AcceptingNode, options: HttpInputOptions): Promise<HttpInput> {
  const log = (options.log ?? pino({ level: 'silent' })).child({ input: 'http' });
  const limits = options.limits ?? defaultInputLimits();
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_VALUE_BYTES;
  const maxMessageBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  const health = (ready: boolean): Handler => (_req, res) => {
    const status = options.status();
    reply(res, ready && status !== 'running' ? 503 : 200, { status });
  };
  const routes: Record<string, Record<string, Handler>> = {
    [MESSAGES_PATH]: { POST: (req, res) => postMessages(req, res, { node, status: options.status, maxBodyBytes, maxMessageBytes, limits, log }) },
    '/healthz': { GET: health(false) },
    '/readyz': { GET: health(true) },
  };

  const inFlight = new Set<Promise<void>>();
  const server = createServer((req, res) => {
    const done = route(routes, req, res, options.access).catch((err: unknown) => {
      // A client that goes away mid-request is its own business, not the daemon's failure.
      if (req.destroyed && (err as NodeJS.ErrnoException).code === 'ECONNRESET') log.debug('a client aborted its request');
      else log.error({ err }, 'http input failed on a request');
      if (!res.headersSent) reply(res, 500, { error: describeError(err) });
      else res.destroy();
    });
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  });
  limitConnections(server, limits, log);
  const address = await listenTcp(server, options.listen, 'http-listen');
  server.on('error', repeatedErrorLog(log, 'http input error'));
  if (!isLoopback(address.host)) {
    log.warn({ address: formatAddress(address) }, 'the HTTP input takes messages from the network; its token and messages cross it unencrypted');
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

/** Connections past the limit get a 503 and are closed. */
function limitConnections(server: Server, limits: InputLimits, log: Logger): void {
  let open = 0;
  server.on('connection', (socket: Socket) => {
    if (open >= limits.maxConnections) {
      const text = JSON.stringify({ error: tooManyConnections('http', limits.maxConnections).toJSON() }) + '\n';
      socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
      setTimeout(() => socket.destroy(), 1000).unref();
      log.debug({ max: limits.maxConnections }, 'refused a connection over the limit');
      return;
    }
    open++;
    socket.once('close', () => open--);
  });
  // Slow headers are cut as a slow body is (see readJsonBody).
  server.headersTimeout = Math.min(server.headersTimeout, limits.idleMs);
}

async function route(routes: Record<string, Record<string, Handler>>, req: IncomingMessage, res: ServerResponse, access: HttpAccess): Promise<void> {
  const pathname = new URL(req.url ?? '/', 'http://bosun').pathname;
  const refusal = refuseRequest(req, access, pathname === MESSAGES_PATH && req.method === 'POST');
  if (refusal) {
    req.resume();
    res.setHeader('Connection', 'close');
    reply(res, refusal.status, { error: refusal.error.toJSON() });
    return;
  }
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

interface PostContext {
  node: AcceptingNode;
  status: () => DaemonStatus;
  maxBodyBytes: number;
  maxMessageBytes: number;
  limits: InputLimits;
  log: Logger;
}

async function postMessages(req: IncomingMessage, res: ServerResponse, context: PostContext): Promise<void> {
  const { maxBodyBytes, log } = context;
  const refuse = (code: number, error: BosunError): void => {
    log.info({ code: error.code, status: code }, `http input refused a request: ${error.message}`);
    // The rest of a refused body is dropped unread, and the connection goes with it.
    req.resume();
    res.setHeader('Connection', 'close');
    reply(res, code, { error: error.toJSON() });
  };
  if (context.status() === 'draining' || context.status() === 'stopped') {
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

  const body = await readJsonBody(req, context, tooLarge);
  if ('refusal' in body) {
    refuse(body.refusal.code, body.refusal.error);
    return;
  }
  if (body.items.length === 0) {
    refuse(400, new BosunError('BOSUN_BAD_JSON', 'the body is empty; send a message object or an array of messages'));
    return;
  }
  reply(res, 200, { results: await answerItems(context.node, body.items, context.maxMessageBytes) });
}

/** One answer per message and one per bad stretch, in body order, as the socket answers a stream. */
async function answerItems(node: AcceptingNode, items: StreamItem[], maxMessageBytes: number): Promise<InputAnswer[]> {
  const results: InputAnswer[] = [];
  let values: unknown[] = [];
  const acceptValues = async (): Promise<void> => {
    if (values.length > 0) results.push(...(await acceptInputs(node, values, maxMessageBytes)));
    values = [];
  };
  for (const item of items) {
    if (item.kind === 'value') values.push(item.value);
    else {
      await acceptValues();
      results.push({ error: item.error.toJSON() });
    }
  }
  await acceptValues();
  return results;
}

type Refusal = { code: number; error: BosunError };

/**
 * The body's values and faults, parsed as they arrive, or the reason to refuse it whole:
 * over the body cap, or over the inputs' memory budget (the body counts against it until
 * its request is answered). A refused body is not read further: the rest is dropped as
 * it comes, so the client gets its answer instead of a reset connection.
 */
function readJsonBody(req: IncomingMessage, context: PostContext, tooLarge: () => BosunError): Promise<{ items: StreamItem[] } | { refusal: Refusal }> {
  const parser = new JsonStreamParser({ maxValueBytes: context.maxBodyBytes });
  const items: StreamItem[] = [];
  const lease = context.limits.budget.lease();
  const { idleMs } = context.limits;
  let received = 0;
  let onIdle = (): void => {};
  return new Promise<{ items: StreamItem[] } | { refusal: Refusal }>((resolve, reject) => {
    const refuse = (refusal: Refusal): void => {
      req.off('data', onData);
      req.resume();
      lease.release();
      resolve({ refusal });
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > context.maxBodyBytes) refuse({ code: 413, error: tooLarge() });
      else if (!lease.resize(received)) refuse({ code: 503, error: context.limits.budget.exceeded() });
      else items.push(...parser.push(chunk));
    };
    // Only a body that stops arriving times out: the time it takes to accept it does not count.
    onIdle = () => refuse({ code: 408, error: idleInput(idleMs) });
    // On the request, not its socket: node:http destroys a socket whose timeout nobody handles there.
    req.setTimeout(idleMs, onIdle);
    req.on('data', onData);
    req.once('end', () => {
      items.push(...parser.end());
      resolve({ items });
    });
    req.once('error', reject);
  }).finally(() => {
    req.socket.setTimeout(0);
    req.off('timeout', onIdle);
    lease.release();
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
