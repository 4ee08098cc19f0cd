/**
 * The receptor gateway proper: sessions under one supervisor, the connection registry,
 * jobs and synchronous pings to nodes, and replies into the responses log. The HTTP and
 * websocket plumbing lives in `http.ts`; this file never touches a request.
 */
import { randomUUID } from 'node:crypto';
import type { BaseLogger } from 'pino';
import type { WebSocket } from 'ws';
import { Supervisor } from '../../supervisors/Supervisor.ts';
import type { ErrorSink } from '../../supervisors/types.ts';
import type { Clock } from '../clock.ts';
import { BosunError, describeError } from '../errors.ts';
import type { GatewayConfig } from './config.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { HiCommand, ReceptorMessage } from './receptor/reader.ts';
import { readReply, type ResponseRecord } from './receptor/reply.ts';
import { directiveMessage, goJsonTime, goTimestamp } from './receptor/writer.ts';
import type { NodeOwners } from './nodeOwners.ts';
import type { ConnectionEntry, ConnectionRegistry } from './registry.ts';
import type { ResponseLog } from './responses.ts';
import { ReceptorSession, type SessionHost } from './session.ts';
import { CLOSE_INTERNAL_ERROR, CLOSE_NORMAL } from './sessionMachine.ts';

export type GatewayLogger = Pick<BaseLogger, 'debug' | 'info' | 'warn' | 'error'>;

/** `POST /job` or a message on the jobs subject, validated. */
export interface JobRequest {
  account: string;
  recipient: string;
  payload: unknown;
  directive: string;
  /** The directive's message id when the sender chose it (a UUID); otherwise one is drawn. */
  id?: string;
}

export interface PingResult {
  status: 'connected' | 'disconnected';
  payload: ResponseRecord | null;
}

export interface StatusResult {
  status: 'connected' | 'disconnected';
  capabilities: unknown;
}

/**
 * Reaches the gateway instance that holds a node's socket when that is not this one
 * (`natsLink.ts`). Every call runs the `local*` method of the same name over there.
 */
export interface InstanceLink {
  job(instance: string, job: JobRequest): Promise<string>;
  ping(instance: string, account: string, nodeId: string): Promise<PingResult>;
  disconnect(instance: string, account: string, nodeId: string): Promise<boolean>;
  /** Closes a session that a newer session of the same node replaced. */
  closeDuplicate(instance: string, sessionId: string): Promise<void>;
  close(): Promise<void>;
}

export interface GatewayDeps {
  config: GatewayConfig;
  clock: Clock;
  logger: GatewayLogger;
  errors: ErrorSink;
  registry: ConnectionRegistry;
  /** Which account each node id belongs to. */
  owners: NodeOwners;
  responses: ResponseLog;
  metrics: GatewayMetrics;
  /** Message ids for directives; a test seam (tests replay captured bytes). */
  newId?: () => string;
}

export const CLOSE_DUPLICATE_REASON = 'duplicate node id';
const SOURCE = 'receptor-gateway';

function notConnected(account: string, nodeId: string): BosunError {
  return new BosunError('BOSUN_GATEWAY_NOT_CONNECTED', `No connection found for node (${account}:${nodeId})`);
}

interface PendingPing {
  sessionId: string;
  settle(result: ResponseRecord | BosunError): void;
}

export class ReceptorGateway implements SessionHost {
  readonly config: GatewayConfig;
  readonly clock: Clock;
  readonly metrics: GatewayMetrics;
  readonly responses: ResponseLog;
  readonly supervisor: Supervisor;
  link: InstanceLink | undefined;
  readonly #logger: GatewayLogger;
  readonly #errors: ErrorSink;
  readonly #newId: () => string;
  /** Sessions past their HI, by session id. */
  readonly #sessions = new Map<string, ReceptorSession>();
  /** What each of those sessions holds in the registry, kept so a move of the registry can carry it. */
  readonly #entries = new Map<string, ConnectionEntry>();
  #registry: ConnectionRegistry;
  readonly #owners: NodeOwners;
  readonly #pings = new Map<string, PendingPing>();
  /** Registry and log writes still in flight; `stop` waits for them before the store may close. */
  readonly #writes = new Set<Promise<unknown>>();
  #nextChild = 1;

  private constructor(deps: GatewayDeps, supervisor: Supervisor) {
    this.config = deps.config;
    this.clock = deps.clock;
    this.metrics = deps.metrics;
    this.#registry = deps.registry;
    this.#owners = deps.owners;
    this.responses = deps.responses;
    this.#logger = deps.logger;
    this.#errors = deps.errors;
    this.#newId = deps.newId ?? randomUUID;
    this.supervisor = supervisor;
  }

  static async start(deps: GatewayDeps): Promise<ReceptorGateway> {
    // Sessions are temporary children: a node whose session dies reconnects by itself.
    const supervisor = await Supervisor.start({ id: SOURCE, strategy: 'one_for_one', clock: deps.clock, errors: deps.errors });
    return new ReceptorGateway(deps, supervisor);
  }

  /** Runs a new websocket as a session of `account`'s node, under the supervisor. */
  async accept(ws: WebSocket, account: string): Promise<void> {
    const session = new ReceptorSession(ws, account, randomUUID(), this);
    try {
      await this.supervisor.startChild({
        id: `session:${this.#nextChild++}`,
        restart: 'temporary',
        shutdown: this.config.writeWaitMs + 1000,
        start: () => session.start(),
      });
    } catch (error) {
      ws.terminate();
      throw error;
    }
    this.metrics.totalConnections.inc();
    this.metrics.activeConnections.inc();
    void session.ended.then(() => this.metrics.activeConnections.dec());
  }

  get registry(): ConnectionRegistry {
    return this.#registry;
  }

  /**
   * Moves to another registry (the shared one, once NATS is there) with the sessions this
   * instance holds: new registrations go to `next` at once, the held ones are copied into
   * it, and the previous registry closes. A held session that cannot be registered in
   * `next` is closed, as a new session would be, and its node reconnects; one that a newer
   * session of its node on another instance already replaced is closed as a duplicate.
   */
  async moveRegistry(next: ConnectionRegistry): Promise<void> {
    const previous = this.#registry;
    this.#registry = next;
    // Writes begun on the previous registry land before its entries are carried over.
    await Promise.allSettled([...this.#writes]);
    for (const entry of [...this.#entries.values()]) await this.#carry(entry);
    await previous.close();
  }

  async #carry(entry: ConnectionEntry): Promise<void> {
    const session = this.#sessions.get(entry.sessionId);
    if (!session || this.#entries.get(entry.sessionId) !== entry) return;
    let replaced: ConnectionEntry | undefined;
    try {
      const current = await this.#track(this.#registry.lookup(entry.account, entry.nodeId));
      if (current && current.sessionId !== entry.sessionId && current.connectedAt > entry.connectedAt) {
        this.localCloseDuplicate(entry.sessionId);
        return;
      }
      replaced = await this.#track(this.#registry.register(entry));
    } catch (error) {
      this.#report('warning', error, `could not move ${entry.account}:${entry.nodeId} to the new registry; closing its session so it reconnects`);
      session.close(CLOSE_INTERNAL_ERROR, 'registration failed');
      return;
    }
    // Released while it was being carried: take back what was just written.
    if (this.#entries.get(entry.sessionId) !== entry) await this.#track(this.#registry.unregister(entry.account, entry.nodeId, entry.sessionId));
    else if (replaced) this.#closeReplaced(replaced);
  }

  /** Every session stops (CLOSE 1000 "closing"), then the registry and the link close. */
  async stop(): Promise<void> {
    await this.supervisor.stop();
    await Promise.allSettled([...this.#writes]);
    await this.link?.close();
    await this.#registry.close();
  }

  // ——— the API, wherever the node is connected ———

  /** Sends a job to its node; resolves with the directive's message id. */
  async submitJob(job: JobRequest): Promise<string> {
    const entry = await this.#find(job.account, job.recipient);
    return entry.instance === this.config.instanceId ? this.localJob(job) : this.#remote(entry, (link) => link.job(entry.instance, job));
  }

  async ping(account: string, nodeId: string): Promise<PingResult> {
    const entry = await this.registry.lookup(account, nodeId);
    if (!entry) return { status: 'disconnected', payload: null };
    return entry.instance === this.config.instanceId ? this.localPing(account, nodeId) : this.#remote(entry, (link) => link.ping(entry.instance, account, nodeId));
  }

  async status(account: string, nodeId: string): Promise<StatusResult> {
    const entry = await this.registry.lookup(account, nodeId);
    return entry ? { status: 'connected', capabilities: entry.capabilities } : { status: 'disconnected', capabilities: null };
  }

  /** Resolves `false` when the node is not connected. */
  async disconnect(account: string, nodeId: string): Promise<boolean> {
    const entry = await this.registry.lookup(account, nodeId);
    if (!entry) return false;
    return entry.instance === this.config.instanceId
      ? this.localDisconnect(account, nodeId)
      : this.#remote(entry, (link) => link.disconnect(entry.instance, account, nodeId));
  }

  connections(account?: string): Promise<ConnectionEntry[]> {
    return this.registry.list(account);
  }

  // ——— the same, on this instance (also what a peer's forwarded request runs) ———

  async localJob(job: JobRequest): Promise<string> {
    const session = await this.#localSession(job.account, job.recipient);
    const id = job.id ?? this.#newId();
    await session.send(this.#directive(job.recipient, id, job.payload, job.directive));
    this.metrics.directives.inc({ directive: job.directive });
    this.#logger.info({ account: job.account, node: job.recipient, id, directive: job.directive }, 'job sent');
    return id;
  }

  async localPing(account: string, nodeId: string): Promise<PingResult> {
    let session: ReceptorSession;
    try {
      session = await this.#localSession(account, nodeId);
    } catch {
      return { status: 'disconnected', payload: null };
    }
    const id = this.#newId();
    const reply = new Promise<ResponseRecord | BosunError>((settle) => this.#pings.set(id, { sessionId: session.id, settle }));
    const timer = this.clock.setTimer(this.config.syncPingTimeoutMs, () =>
      this.#settlePing(id, new BosunError('BOSUN_GATEWAY_TIMEOUT', `no ping reply from ${nodeId} within ${this.config.syncPingTimeoutMs} ms`)),
    );
    try {
      await session.send(this.#directive(nodeId, id, goJsonTime(this.clock.now()), 'receptor:ping'));
      this.metrics.directives.inc({ directive: 'receptor:ping' });
    } catch (error) {
      this.#settlePing(id, error as BosunError);
    }
    const result = await reply;
    timer.cancel();
    if (result instanceof BosunError) throw result;
    return { status: 'connected', payload: result };
  }

  async localDisconnect(account: string, nodeId: string): Promise<boolean> {
    try {
      (await this.#localSession(account, nodeId)).close(CLOSE_NORMAL, 'closing');
      return true;
    } catch {
      return false;
    }
  }

  localCloseDuplicate(sessionId: string): void {
    const session = this.#sessions.get(sessionId);
    if (!session) return;
    this.metrics.duplicateConnections.inc();
    this.#logger.info({ account: session.account, node: session.nodeId, session: sessionId }, 'closing a session replaced by a newer one');
    session.close(CLOSE_NORMAL, CLOSE_DUPLICATE_REASON);
  }

  // ——— SessionHost ———

  async register(session: ReceptorSession, hi: HiCommand): Promise<void> {
    const entry: ConnectionEntry = {
      account: session.account,
      nodeId: hi.id,
      instance: this.config.instanceId,
      sessionId: session.id,
      capabilities: hi.meta?.capabilities ?? null,
      connectedAt: this.clock.now(),
    };
    try {
      await this.#owners.claim(entry.account, entry.nodeId, entry.connectedAt);
    } catch (error) {
      this.#logger.warn({ account: entry.account, node: entry.nodeId, session: session.id }, `refused a node: ${describeError(error).message}`);
      throw error;
    }
    this.#sessions.set(session.id, session);
    this.#entries.set(session.id, entry);
    let replaced: ConnectionEntry | undefined;
    const registry = this.#registry;
    try {
      replaced = await this.#track(registry.register(entry));
    } catch (error) {
      this.#entries.delete(session.id);
      this.#report('error', error, `could not register ${entry.account}:${entry.nodeId}`);
      throw error;
    }
    if (session.released) {
      // The session ended while it registered: take back what it just wrote.
      await this.#track(registry.unregister(entry.account, entry.nodeId, entry.sessionId));
      return;
    }
    this.#logger.info({ account: entry.account, node: entry.nodeId, session: session.id }, 'node connected');
    if (replaced) this.#closeReplaced(replaced);
  }

  /** Closes the session a newer one replaced, on whichever instance holds it. */
  #closeReplaced(replaced: ConnectionEntry): void {
    if (replaced.instance === this.config.instanceId) this.localCloseDuplicate(replaced.sessionId);
    else {
      this.#remote(replaced, (link) => link.closeDuplicate(replaced.instance, replaced.sessionId)).catch((error) => {
        // An instance that is gone took its sessions with it; anything else is worth a report.
        if ((error as BosunError).code !== 'BOSUN_GATEWAY_NOT_CONNECTED') this.#report('warning', error, 'could not close a replaced session on its instance');
      });
    }
  }

  release(session: ReceptorSession): void {
    this.#sessions.delete(session.id);
    this.#entries.delete(session.id);
    for (const [id, ping] of this.#pings) {
      if (ping.sessionId === session.id) this.#settlePing(id, notConnected(session.account, session.nodeId ?? '?'));
    }
    const { nodeId } = session;
    if (nodeId === undefined) return;
    this.#logger.info({ account: session.account, node: nodeId, session: session.id }, 'node disconnected');
    this.#track(this.#registry.unregister(session.account, nodeId, session.id)).catch((error) =>
      this.#report('error', error, `could not unregister ${session.account}:${nodeId}`),
    );
  }

  deliver(session: ReceptorSession, message: Extract<ReceptorMessage, { kind: 'routed' }>): void {
    const verdict = readReply(message, { account: session.account, gatewayId: this.config.nodeId });
    if (!verdict.ok) {
      this.metrics.responsesWithoutHandler.inc();
      this.note(session, 'warn', `dropped a message: ${verdict.reason}`);
      return;
    }
    this.metrics.responsesHandled.inc();
    const { record } = verdict;
    if (this.#pings.get(record.in_response_to)?.sessionId === session.id) {
      this.#settlePing(record.in_response_to, record);
      return;
    }
    this.#track(this.responses.append(record)).then(
      () => this.metrics.responsesLogged.inc(),
      (error) => {
        this.metrics.responsesLogFailures.inc();
        this.#report('error', error, `could not record a ${record.message_type} to ${record.in_response_to}`);
      },
    );
  }

  note(session: ReceptorSession, level: 'debug' | 'info' | 'warn', message: string): void {
    this.#logger[level]({ account: session.account, node: session.nodeId, session: session.id }, message);
  }

  // ———

  #directive(recipient: string, messageId: string, payload: unknown, directive: string): Buffer {
    return directiveMessage({ gatewayId: this.config.nodeId, recipient, messageId, timestamp: goTimestamp(this.clock.now()), payload, directive });
  }

  async #find(account: string, nodeId: string): Promise<ConnectionEntry> {
    const entry = await this.registry.lookup(account, nodeId);
    if (!entry) throw notConnected(account, nodeId);
    return entry;
  }

  async #localSession(account: string, nodeId: string): Promise<ReceptorSession> {
    const entry = await this.#find(account, nodeId);
    const session = entry.instance === this.config.instanceId ? this.#sessions.get(entry.sessionId) : undefined;
    if (!session) throw notConnected(account, nodeId);
    return session;
  }

  #remote<T>(entry: ConnectionEntry, call: (link: InstanceLink) => Promise<T>): Promise<T> {
    if (!this.link) return Promise.reject(notConnected(entry.account, entry.nodeId));
    this.metrics.forwarded.inc();
    return call(this.link);
  }

  #track<T>(write: Promise<T>): Promise<T> {
    this.#writes.add(write);
    const forget = () => this.#writes.delete(write);
    write.then(forget, forget);
    return write;
  }

  #settlePing(id: string, result: ResponseRecord | BosunError): void {
    const ping = this.#pings.get(id);
    if (!ping) return;
    this.#pings.delete(id);
    ping.settle(result);
  }

  #report(severity: 'warning' | 'error', error: unknown, message: string): void {
    const { code } = describeError(error);
    this.#errors.report({ source: SOURCE, severity, code, message: `${message}: ${(error as Error)?.message ?? String(error)}`, error });
  }
}
