/**
 * The gateway's HTTP surface on one `node:http` server: the receptor-controller REST API,
 * the responses stream, metrics and probes, and websocket upgrades (the receptor
 * endpoint, plus any path registered with `addUpgradeRoute`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { describeError } from '../errors.ts';
import { canonicalAccount, sameAccount } from './account.ts';
import { authenticate, type Caller, NODE_PSK_HEADER, PskChecker } from './auth.ts';

/** The one "client" of the node key's checker. */
const NODE_PSK_CLIENT = 'receptor-node';
import { HttpError, parseJsonObject, readBody, stringField } from './body.ts';
import type { ConnectionEntry } from './registry.ts';
import type { GatewayLogger, ReceptorGateway } from './gateway.ts';
import { readJobRequest } from './jobRequest.ts';
import { openApiDocument } from './openapi.ts';
import { problem, problemFor } from './problem.ts';
import { handleProfileRequest } from './profile.ts';
import { serveResponses } from './responsesHttp.ts';

export const RECEPTOR_WS_PATH = '/wss/receptor-controller/gateway';
const MAX_BODY_BYTES = 1024 * 1024;

/** Takes over an upgrade request's socket (e.g. with `WebSocketServer.handleUpgrade`). */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

type Handler = (req: IncomingMessage, res: ServerResponse, caller: Caller, params: string[]) => Promise<void>;

interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  handler: Handler;
}

export class GatewayHttp {
  readonly server: Server;
  readonly #gateway: ReceptorGateway;
  readonly #logger: GatewayLogger;
  readonly #psk: PskChecker;
  /** The key every receptor node must send to connect (`RECEPTOR_CONTROLLER_NODE_PSK`), when set. */
  readonly #nodePsk: PskChecker | undefined;
  readonly #wss: WebSocketServer;
  readonly #upgrades = new Map<string, UpgradeHandler>();
  readonly #routes: Route[];
  /** Aborted at close, ending long-polls and event streams. */
  readonly #closing = new AbortController();

  constructor(gateway: ReceptorGateway, logger: GatewayLogger) {
    this.#gateway = gateway;
    this.#logger = logger;
    this.#psk = new PskChecker(gateway.config.credentials);
    const nodePsk = gateway.config.nodePsk;
    this.#nodePsk = nodePsk !== undefined ? new PskChecker(new Map([[NODE_PSK_CLIENT, nodePsk]])) : undefined;
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: gateway.config.maxMessageBytes, perMessageDeflate: false });
    this.#routes = [
      { method: 'POST', pattern: /^\/job$/, handler: (req, res, caller) => this.#job(req, res, caller) },
      { method: 'GET', pattern: /^\/connection$/, handler: (_req, res, caller) => this.#connections(res, caller) },
      { method: 'POST', pattern: /^\/connection\/status$/, handler: (req, res, caller) => this.#status(req, res, caller) },
      { method: 'POST', pattern: /^\/connection\/ping$/, handler: (req, res, caller) => this.#ping(req, res, caller) },
      { method: 'POST', pattern: /^\/connection\/disconnect$/, handler: (req, res, caller) => this.#disconnect(req, res, caller) },
      { method: 'GET', pattern: /^\/connection\/([^/]+)$/, handler: (_req, res, caller, [account]) => this.#accountConnections(res, caller, account!) },
      {
        method: 'GET',
        pattern: /^\/responses$/,
        handler: (req, res, caller) => serveResponses(req, res, { caller, log: gateway.responses, clock: gateway.clock, closing: this.#closing.signal, reply: this.#send }),
      },
    ];
    this.server = createServer((req, res) => void this.#dispatch(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    this.addUpgradeRoute(RECEPTOR_WS_PATH, (req, socket, head) => this.#receptorUpgrade(req, socket, head));
  }

  /** Routes websocket upgrades for `path` (exact, query string ignored) to `handler`. */
  addUpgradeRoute(path: string, handler: UpgradeHandler): void {
    if (this.#upgrades.has(path)) throw new Error(`an upgrade route for ${path} is already registered`);
    this.#upgrades.set(path, handler);
  }

  /** Stops taking requests and ends long-polls; open websockets are the gateway's to close. */
  beginClose(): void {
    this.#closing.abort();
    this.#gateway.responses.wakeAll();
  }

  /**
   * Stops listening; requests in flight get the shutdown timeout to finish (as Go's
   * `HTTP_SHUTDOWN_TIMEOUT`), then every remaining connection is cut.
   */
  async close(): Promise<void> {
    this.beginClose();
    this.#wss.close();
    const { clock, config } = this.#gateway;
    await new Promise<void>((resolve) => {
      const deadline = clock.setTimer(config.shutdownTimeoutMs, () => this.server.closeAllConnections());
      this.server.close(() => {
        deadline.cancel();
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }

  readonly #send = (res: ServerResponse, status: number, body: unknown): void => {
    this.#gateway.metrics.httpStatus.inc({ status_code: String(status) });
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  #error(res: ServerResponse, status: number, detail: string): void {
    this.#send(res, status, problem(status, detail));
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    try {
      if (await this.#public(req, res, path)) return;
      if (this.#closing.signal.aborted) throw new HttpError(503, 'The gateway is shutting down');
      const candidates = this.#routes.filter((r) => r.pattern.test(path));
      if (candidates.length === 0) throw new HttpError(404, `No such endpoint: ${path}`);
      const route = candidates.find((r) => r.method === req.method);
      if (!route) {
        res.setHeader('allow', [...new Set(candidates.map((r) => r.method))].join(', '));
        throw new HttpError(405, `${req.method} is not allowed on ${path}`);
      }
      const auth = authenticate(req.headers, this.#psk);
      if (!auth.ok) throw new HttpError(auth.status, auth.detail);
      const params = route.pattern.exec(path)!.slice(1).map(decodePathSegment);
      await route.handler(req, res, auth.caller, params);
    } catch (error) {
      this.#fail(req, res, error);
    }
  }

  #fail(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    const answer = problemFor(error);
    if (answer.status === 413) res.setHeader('connection', 'close');
    if (answer.status === 500) this.#logger.error({ err: error, url: req.url, requestId: req.headers['x-rh-insights-request-id'] }, 'request failed');
    this.#send(res, answer.status, answer);
  }

  /** Endpoints without authentication, as the Go gateway's monitoring routes were. */
  async #public(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    if (req.method !== 'GET') return false;
    const { metrics } = this.#gateway;
    switch (path) {
      case '/metrics': {
        metrics.httpStatus.inc({ status_code: '200' });
        const text = metrics.render();
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return true;
      }
      case '/liveness':
        this.#send(res, 200, { status: 'alive' });
        return true;
      case '/readiness':
        if (this.#closing.signal.aborted) this.#error(res, 503, 'The gateway is shutting down');
        else this.#send(res, 200, { status: 'ready' });
        return true;
      case '/api/openapi.json':
      case '/openapi.json':
        this.#send(res, 200, openApiDocument);
        return true;
    }
    if (path.startsWith('/debug/pprof')) {
      if (!this.#gateway.config.enableProfile) return false;
      const auth = authenticate(req.headers, this.#psk);
      if (!auth.ok) throw new HttpError(auth.status, auth.detail);
      await handleProfileRequest(req, res, path);
      return true;
    }
    return false;
  }

  async #body(req: IncomingMessage): Promise<Record<string, unknown>> {
    return parseJsonObject(await readBody(req, MAX_BODY_BYTES));
  }

  /** A body whose `account` must be the caller's (403 otherwise). */
  async #ownAccountBody(req: IncomingMessage, caller: Caller): Promise<Record<string, unknown>> {
    const body = await this.#body(req);
    forbidOtherAccount(caller, stringField(body, 'account'));
    return body;
  }

  async #job(req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    const job = readJobRequest(await this.#ownAccountBody(req, caller));
    const id = await this.#gateway.submitJob(job);
    this.#send(res, 201, { id });
  }

  async #connections(res: ServerResponse, caller: Caller): Promise<void> {
    this.#send(res, 200, { connections: groupByAccount(await this.#gateway.connections(caller.account)) });
  }

  async #accountConnections(res: ServerResponse, caller: Caller, account: string): Promise<void> {
    forbidOtherAccount(caller, account);
    const entries = await this.#gateway.connections(account);
    this.#send(res, 200, { connections: entries.map((e) => e.nodeId) });
  }

  /**
   * Status and ping of a node in another account answer as for a node that is not
   * connected, whether or not it is: the caller learns nothing about other accounts, and
   * clients written for the Go gateway (which never checked) keep working.
   */
  async #nodeOfCaller(req: IncomingMessage, caller: Caller): Promise<{ nodeId: string; ownAccount: boolean }> {
    const body = await this.#body(req);
    const account = stringField(body, 'account');
    return { nodeId: stringField(body, 'node_id'), ownAccount: sameAccount(account, caller.account) };
  }

  async #status(req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    const { nodeId, ownAccount } = await this.#nodeOfCaller(req, caller);
    this.#send(res, 200, ownAccount ? await this.#gateway.status(caller.account, nodeId) : { status: 'disconnected', capabilities: null });
  }

  async #ping(req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    const { nodeId, ownAccount } = await this.#nodeOfCaller(req, caller);
    if (!ownAccount) return this.#send(res, 200, { status: 'disconnected', payload: null });
    try {
      this.#send(res, 200, await this.#gateway.ping(caller.account, nodeId));
    } catch (error) {
      if (error instanceof HttpError) throw error;
      // Go answered 400 "Ping failed" for a timeout or a write failure; clients match on that.
      throw new HttpError(400, `Ping failed: ${describeError(error).message}`);
    }
  }

  async #disconnect(req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    const body = await this.#ownAccountBody(req, caller);
    const nodeId = stringField(body, 'node_id');
    if (!(await this.#gateway.disconnect(caller.account, nodeId))) {
      throw new HttpError(400, `No connection found for node (${caller.account}:${nodeId})`);
    }
    this.#send(res, 200, {});
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '/').split('?')[0]!;
    const handler = this.#upgrades.get(path);
    if (this.#closing.signal.aborted) return refuseUpgrade(socket, 503, 'The gateway is shutting down');
    if (!handler) return refuseUpgrade(socket, 404, `No websocket endpoint at ${path}`);
    try {
      handler(req, socket, head);
    } catch (error) {
      this.#logger.error({ err: error, path }, 'upgrade handler failed');
      socket.destroy();
    }
  }

  #receptorUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#nodePsk && !this.#nodePsk.check(NODE_PSK_CLIENT, String(req.headers[NODE_PSK_HEADER] ?? ''))) {
      return refuseUpgrade(socket, 401, `Authentication failed: this gateway needs its node key in ${NODE_PSK_HEADER}`);
    }
    const auth = authenticate(req.headers, this.#psk);
    if (!auth.ok) return refuseUpgrade(socket, auth.status, auth.detail);
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      this.#gateway.accept(ws, auth.caller.account).catch((error) => this.#logger.warn({ err: error }, 'could not start a session'));
    });
  }
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `Malformed path segment: ${segment}`);
  }
}

/**
 * The Go gateway never compared the body's account with the caller's; bosun does, as
 * numbers ("01" is "0000001").
 */
function forbidOtherAccount(caller: Caller, account: string): void {
  if (!sameAccount(account, caller.account)) throw new HttpError(403, `The caller may not act for account ${account}`);
}

/** `[{account, connections: [node ids]}]`, each account as its nodes' identities spelled it. */
function groupByAccount(entries: ConnectionEntry[]): Array<{ account: string; connections: string[] }> {
  const groups = new Map<string, { account: string; connections: string[] }>();
  for (const entry of entries) {
    const key = canonicalAccount(entry.account);
    const group = groups.get(key) ?? { account: entry.account, connections: [] };
    group.connections.push(entry.nodeId);
    groups.set(key, group);
  }
  return [...groups.values()];
}

/** Answers an upgrade request with a plain HTTP error and hangs up. */
function refuseUpgrade(socket: Duplex, status: number, detail: string): void {
  const body = JSON.stringify(problem(status, detail));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
