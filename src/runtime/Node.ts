import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { createActor } from 'xstate';
import { connectionMachine } from '../../actors/connectionMachine.ts';
import { ErrorKernel } from '../../supervisors/errorKernel.ts';
import { Supervisor } from '../../supervisors/Supervisor.ts';
import type { ChildSpec, ErrorReport, TreeNode } from '../../supervisors/types.ts';
import { systemClock, type Clock } from '../clock.ts';
import { AcceptDedup, type AcceptNew } from './acceptDedup.ts';
import { messageStatus, type MessageStatus } from './messageStatus.ts';
import { BosunError, describeError } from '../errors.ts';
import { DEFAULT_MESSAGE_DEFAULTS, normaliseMessages, type Message, type MessageDefaults } from '../message.ts';
import { builtinMethods, MethodRegistry } from '../methods/index.ts';
import { CopyProgress, type CopyInProgress } from '../methods/copyProgress.ts';
import type { MethodContext, MethodRegistryData, MethodSpec } from '../methods/types.ts';
import { deadKey, regKey } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, type Transport } from '../transport/types.ts';
import { DurableTimers } from '../delivery/DurableTimers.ts';
import { dataFrameBytes, fitsInFrame, prefixWithin } from '../delivery/frameBudget.ts';
import { decodeFrame, encodeFrame, parseStreamId, publisherOf, resumeSubject, streamIdOf, type SignedFrame } from '../delivery/frames.ts';
import type { InboxEntry } from '../delivery/SubjectReceiver.ts';
import type { Outcome } from '../delivery/Subscriber.ts';
import { FrameAuth } from './FrameAuth.ts';
import { Inbound } from './Inbound.ts';
import { Outbound } from './Outbound.ts';
import { RunContext, type RunServices } from './RunContext.ts';
import { LocalFiles } from '../methods/LocalFiles.ts';
import { CoalescedEnqueue } from './CoalescedEnqueue.ts';
import { needsRelay, outboundStreamOf, RELAY_METHODS, relayedMessage, relayEnvelope } from './relay.ts';
import { Scheduler } from './Scheduler.ts';
import { workerHandle } from './workerHandle.ts';
import {
  auditOp,
  listDead,
  listQueue,
  purgeDead,
  queryAudit,
  removeQueued,
  type AuditFilter,
  type AuditRecord,
  type DeadLetter,
  type QueueFilter,
  type QueuedMessage,
} from './admin.ts';

export interface NodeOptions {
  /** This node's name: letters, digits, `-` and `_`. */
  node: string;
  /** The node that collects hellos and error logs (default `central`). */
  central?: string;
  /**
   * Relays by target node: a message for a node named here, that names no relay of its
   * own, goes through the given node (`relayViaNode`). A node behind a relay names it for
   * central, so its hellos, error reports and key requests get there; central names it
   * for the node, so its key and ACL updates do.
   */
  routes?: Record<string, string>;
  store: Store;
  transport: Transport;
  /** `<dataDir>/files` by default; every file method is confined to it. */
  filesDir: string;
  /** The files folder is temporary: removed when the node stops. */
  removeFilesDirOnStop?: boolean;
  clock?: Clock;
  logger?: Logger;
  defaults?: Partial<MessageDefaults>;
  /** Frames in flight per stream (default 1000). */
  windowSize?: number;
  /** Seconds between hellos to central; 0 turns them off (default 30). */
  helloIntervalSeconds?: number;
  /** Methods this node serves besides the built-in ones. */
  methods?: MethodSpec[];
  /** Only these built-in methods are served (default: all). */
  enabledMethods?: string[];
  /** Concurrent runs of one method (default 32); an ordered method runs one per stream at a time. */
  unorderedConcurrency?: number;
  /** Called for every report the error kernel receives. */
  onError?(report: NodeErrorReport): void;
  /** Signing, verification and access control (none by default). */
  guard?: MessageGuard;
  /** Keep message data out of the audit log (default false: keep it, to re-create messages). */
  auditStripData?: boolean;
  /** Called if the supervision tree gives up (its root exceeded its restart intensity). */
  onFatal?(reason: unknown): void;
  /** How long a client-given message id is remembered (default 24 h; 0 turns it off). */
  acceptDedupWindowMs?: number;
}

export type NodeErrorReport = ErrorReport;

/**
 * Message security, plugged into every path: `seal` sees every message this node sends
 * (from any input, replies, error reports) before it is stored; `check` sees every
 * message before it runs here, and refuses it by throwing a `BosunError`.
 */
export interface MessageGuard {
  seal(message: Message): Message;
  /** `delivery` says which stream and sequence number the message came as (0: made here). */
  check(message: Message, delivery?: { stream: string; seq: number }): void | Promise<void>;
  /**
   * A data frame's message, before its receiver takes the frame's sequence number: the
   * error when the message surely is not the stream's (not signed by a sender key this
   * node already holds, or not for this stream), undefined otherwise — `check` decides
   * the rest when it runs. Synchronous and cheap: it sees every frame from the wire.
   */
  screen?(message: Message, stream: string): Error | undefined;
  /** Signs a skip, ACK or resume frame this node sends. */
  sealFrame?<F extends SignedFrame>(frame: F): F;
  /**
   * A skip, ACK or resume frame that says it comes from `from`: the error when it is not
   * signed by from's key, undefined when it is (or when from's key is not known yet).
   */
  checkFrame?(frame: SignedFrame, from: string): Error | undefined;
}

/** What a node says about itself in its hellos; central keeps the latest per node. */
export interface NodeCapabilities {
  bosun: string;
  hostname: string;
  methods: string[];
  cpus: number;
  memoryBytes: number;
  freeMemoryBytes: number;
  load: number[];
  platform: string;
  /** The broker (`host:port`) or gateway the node was connected to when it said hello. */
  server?: string;
}

/** What an error report to central leaves for the rest of its message, around its text. */
const ERROR_REPORT_SHELL_BYTES = 4096;

const BOSUN_VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export interface AcceptOptions {
  /**
   * Records written in the same batch as the accepted messages (an input's progress):
   * durable together with them, or not at all. Written on their own when every message
   * is refused.
   */
  alsoWrite?: StoreOp[];
}

export type AcceptResult =
  | { id: string; toNode: string; status: 'accepted' }
  /** The id was accepted before (within the dedup window): the first acceptance, nothing queued again. */
  | { id: string; toNode: string; status: 'duplicate' }
  | { error: { code: string; message: string } };

/** What `send` gives back: the message's id and promises for its ACK and its reply. */
export interface Delivery {
  id: string;
  /** Resolves when the receiving node has the message durably. */
  acked: Promise<void>;
  /** Resolves with the reply message when it reaches this node. */
  reply: Promise<Message>;
}

interface Waiter {
  acked?: { resolve(): void };
  reply?: { resolve(m: Message): void };
}

/**
 * A running bosun node: a supervision tree over one store and one transport.
 *
 * ```
 * <node>        rest_for_one
 * ├─ store
 * ├─ errorKernel
 * ├─ transport   one_for_one: the connection actor
 * ├─ outbound    one_for_one: a subject actor per stream
 * └─ inbound     one_for_one: a subscriber actor per method
 * ```
 *
 * Embed it with `startNode`; the daemon is a thin shell around it.
 */
export class BosunNode {
  readonly name: string;
  readonly central: string;
  readonly store: Store;
  readonly transport: Transport;
  readonly methods: MethodRegistry;
  readonly log: Logger;
  readonly clock: Clock;
  readonly filesDir: string;
  /** Replies handlers send while they run, written to the outbox a turn's worth at a time. */
  readonly #streamedReplies = new CoalescedEnqueue((replies) => this.#outbound.enqueue(replies));
  /** The files this node's methods hold open and locked; closed when it stops. */
  readonly #localFiles = new LocalFiles();
  readonly errorKernel: ErrorKernel;
  #defaults: MessageDefaults;
  #timers: DurableTimers;
  #outbound: Outbound;
  #inbound: Inbound;
  #runServices: RunServices;
  #scheduler: Scheduler;
  #frames: FrameAuth;
  #root: Supervisor | undefined;
  #connection = createActor(connectionMachine);
  #waiters = new Map<string, Waiter>();
  #status: 'starting' | 'running' | 'draining' | 'stopped' = 'starting';
  /** Error reports for central made before the node accepted messages. */
  #reportsWhileStarting: ErrorReport[] = [];
  #helloTimer: { cancel(): void } | undefined;
  #accepting = new Set<Promise<unknown>>();
  #lastSeen = new Map<string, { at: number; data?: string }>();
  #unsubscribeStatus: (() => void) | undefined;
  #emitted = 0;
  #registryData: MethodRegistryData = {
    get: (key) => this.store.get(regKey(`kv!${key}`)),
    put: (key, value) => this.store.write([{ type: 'put', key: regKey(`kv!${key}`), value }]),
    del: (key) => this.store.write([{ type: 'del', key: regKey(`kv!${key}`) }]),
    list: async <T>(prefix: string) =>
      (await this.store.range<T>({ gte: regKey(`kv!${prefix}`), lt: regKey(`kv!${prefix}\uffff`) })).map(
        ([k, v]) => [k.slice(regKey('kv!').length), v] as [string, T],
      ),
  };
  #counters = { accepted: 0, refused: 0, acked: 0, dead: 0, executed: 0, failedRuns: 0, badFrames: 0 };
  readonly #acceptDedup: AcceptDedup;

  private constructor(private readonly options: NodeOptions) {
    this.name = options.node;
    this.central = options.central ?? 'central';
    this.store = options.store;
    this.transport = options.transport;
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ node: options.node });
    this.filesDir = options.filesDir;
    this.#defaults = { ...DEFAULT_MESSAGE_DEFAULTS, ...options.defaults };
    this.#timers = new DurableTimers(this.store, this.clock);
    this.#acceptDedup = new AcceptDedup(this.store, this.name, this.clock, options.acceptDedupWindowMs);
    const switchedOn = (m: MethodSpec) => !options.enabledMethods || options.enabledMethods.includes(m.name);
    const builtins = builtinMethods();
    this.methods = new MethodRegistry([...builtins.filter(switchedOn), ...(options.methods ?? [])]);
    this.errorKernel = new ErrorKernel(this.log, [(report) => this.#forward(report)]);
    const windowSize = options.windowSize ?? 1000;
    const publish = (subject: string, payload: Uint8Array) => this.transport.publish(subject, payload);
    this.#frames = new FrameAuth(options.guard, this.clock, (source, code, message) => this.#report(source, code, message));
    const sealFrame = <F extends SignedFrame>(frame: F): F => this.#frames.seal(frame);
    this.#outbound = new Outbound({
      node: this.name,
      store: this.store,
      clock: this.clock,
      timers: this.#timers,
      errors: this.errorKernel,
      publish,
      sealFrame,
      maxFrameBytes: () => this.#maxFrameBytes(),
      windowSize,
      onAcked: (messages) => {
        this.#counters.acked += messages.length;
        if (this.#waiters.size === 0) return;
        for (const m of messages) {
          const waiter = this.#waiters.get(m.id);
          if (!waiter) continue;
          waiter.acked?.resolve();
          // Nothing will come back for a message that asked for no reply.
          if (replyMethodOf(m) === 'none') this.#waiters.delete(m.id);
        }
      },
      onDead: (message, attempts, tooLarge) => {
        this.#counters.dead++;
        const what = `message ${message.id} (${message.method} to ${message.toNode})`;
        this.#report(
          `outbound/${streamIdOf(this.name, message.toNode, message.method)}`,
          tooLarge ? 'BOSUN_TOO_LARGE' : 'BOSUN_DEAD_LETTER',
          tooLarge
            ? `${what} is ${tooLarge.frameBytes} bytes as a frame, and the ${this.transport.kind} transport carries at most ${tooLarge.maxFrameBytes}; it was not sent, and is in the dead-letter store`
            : `${what} got no ACK after ${attempts} attempts; it is in the dead-letter store`,
          message,
        );
      },
      onError: (e) => this.#reportError('store', e),
    });
    this.#inbound = new Inbound({
      node: this.name,
      filesDir: this.filesDir,
      localFiles: this.#localFiles,
      store: this.store,
      clock: this.clock,
      log: this.log,
      methods: this.methods,
      windowSize,
      concurrency: options.unorderedConcurrency ?? 32,
      errors: this.errorKernel,
      publish,
      sealFrame,
      context: (entry, signal) => this.#methodContext(entry, signal),
      finish: (entry, outcome, spec) => this.#finishRun(entry, outcome, spec),
      onError: (source, e) => this.#reportError(source, e),
      switchedOff: builtins.filter((m) => !switchedOn(m) && !this.methods.has(m.name)),
      // Opens the streams a run's records will write to, so they go in the run's own batch.
      prepare: async (entry) => {
        const m = entry.message;
        const streams: string[] = [];
        if (RELAY_METHODS.has(m.method)) {
          const relayed = tryRelayed(m, this.name);
          if (relayed) streams.push(outboundStreamOf(this.name, relayed));
        } else if (!m.isReply && m.replyMethod !== 'none') {
          // The reply goes back through the request's relay, or the route to its sender.
          const via = m.relayViaNode !== undefined && m.relayViaNode !== this.name ? m.relayViaNode : options.routes?.[m.fromNode];
          streams.push(outboundStreamOf(this.name, { toNode: m.fromNode, method: m.replyMethod, relayViaNode: via }));
        }
        for (const stream of streams) if (!this.#outbound.senders.has(stream)) await this.#outbound.sender(stream);
      },
      // The guard learns how the message came: scheduled re-runs, made here, are sequence 0
      // of their stream, which no frame from the wire can be.
      ...(options.guard ? { authorize: (m: Message, delivery: { stream: string; seq: number }) => options.guard!.check(m, delivery) } : {}),
    });
    this.#runServices = this.#newRunServices();
    this.store.onCorrupt = (key, error) =>
      this.errorKernel.report({
        source: `${this.name}/store`,
        severity: 'error',
        code: 'BOSUN_STORE_CORRUPT',
        message: `the record ${key} was corrupt; it was moved to quarantine!${key} and left out (${describeError(error).message})`,
        action: 'reported',
      });
    this.#scheduler = new Scheduler(
      this.store,
      this.clock,
      this.#timers,
      (entry) => this.#inbound.subscriber(entry.message.method).enqueue([entry]),
      (entry, started) => this.#inbound.resume(entry, started),
    );
  }

  static async start(options: NodeOptions): Promise<BosunNode> {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(options.node)) {
      throw new BosunError('BOSUN_BAD_CONFIG', `node name "${options.node}" may only hold letters, digits, "-" and "_"`);
    }
    const node = new BosunNode(options);
    await node.#start();
    return node;
  }

  get status(): 'starting' | 'running' | 'draining' | 'stopped' {
    return this.#status;
  }

  async #start(): Promise<void> {
    if (this.store.status !== 'open') await this.store.open();
    await mkdir(this.filesDir, { recursive: true });
    this.#unsubscribeStatus = this.transport.onStatus((s) => {
      this.#connection.send({ type: s === 'connected' ? 'CONNECTED' : s === 'closed' ? 'CLOSE' : 'DISCONNECTED' });
      if (s !== 'connected') return;
      // Both directions resend at once: our senders their windows, and the senders of the
      // streams we receive theirs (frames to us while we were away are lost), instead of
      // each waiting out its ACK timeout.
      this.#outbound.nudgeAll();
      if (this.#status === 'running') void this.#announceResume();
    });
    await this.transport.start(this.name, (subject, payload) => this.#onFrame(subject, payload));
    this.#root = await Supervisor.start({
      id: this.name,
      strategy: 'rest_for_one',
      intensity: 3,
      periodSeconds: 30,
      clock: this.clock,
      errors: this.errorKernel,
      children: [this.#storeChild(), this.#kernelChild(), this.#transportChild(), this.#outbound.childSpec(), this.#inbound.childSpec()],
    });
    this.#root.onExit((reason) => {
      if (this.#status === 'draining' || this.#status === 'stopped') return;
      this.log.fatal({ reason }, 'the supervision tree gave up; the node cannot go on');
      this.options.onFatal?.(reason);
    });
    await this.#scheduler.restore();
    this.#status = 'running';
    for (const report of this.#reportsWhileStarting.splice(0)) this.#sendToCentral(report);
    await this.#announceResume();
    this.#scheduleHello();
    this.log.info({ transport: this.transport.kind, streams: this.#outbound.senders.size }, 'runtime started');
  }

  /** Tells every sender we know that we are back, so it resends without waiting out its ACK timeout. */
  async #announceResume(): Promise<void> {
    let streams: string[];
    try {
      streams = await this.#inbound.knownStreams();
    } catch (error) {
      // the store is closing: a stopping node has no one to tell
      this.log.debug({ error: describeError(error) }, 'could not list the streams to resume');
      return;
    }
    for (const stream of streams) {
      this.transport.publish(resumeSubject(parseStreamId(stream)!), encodeFrame(this.#frames.seal({ v: 1, type: 'resume', stream })));
    }
  }

  #storeChild(): ChildSpec {
    return {
      id: 'store',
      start: () => ({
        stop: async () => {},
        kill: () => {},
        onExit: () => {},
        describe: () => ({ state: this.store.status, children: [], info: { ...((this.store as { commitStats?: object }).commitStats ?? {}) } }),
      }),
    };
  }

  #kernelChild(): ChildSpec {
    return {
      id: 'errorKernel',
      start: () => ({
        stop: async () => {},
        kill: () => {},
        onExit: () => {},
        describe: () => ({ state: 'running', children: [], info: this.errorKernel.counts() }),
      }),
    };
  }

  #transportChild(): ChildSpec {
    const connection = (): ChildSpec => ({
      id: `connection:${this.transport.kind}`,
      start: () => {
        if (this.#connection.getSnapshot().status !== 'active') {
          this.#connection = createActor(connectionMachine);
        }
        const actor = this.#connection;
        const handle = workerHandle(actor, {
          stop: () => {},
          describe: () => ({ state: String(actor.getSnapshot().value), children: [], info: { ...actor.getSnapshot().context, status: this.transport.status, ...serverInfo(this.transport) } }),
        });
        actor.start();
        if (this.transport.status === 'connected') actor.send({ type: 'CONNECTED' });
        return handle;
      },
    });
    return {
      id: 'transport',
      type: 'supervisor',
      start: () => Supervisor.start({ id: 'transport', clock: this.clock, errors: this.errorKernel, children: [connection()] }),
    };
  }

  /**
   * Validates and durably accepts input: one message object, or an array of them (steward's
   * format). Each message is in the outbox before its result says `accepted`. One result
   * per produced message (`toNodes` fans out), or one error per refused input.
   */
  async accept(input: unknown, options: AcceptOptions = {}): Promise<AcceptResult[]> {
    return this.#acceptDedup.accept(input, options, (items, more) => this.#acceptNew(items, more));
  }

  /** `accept` for input whose ids were not accepted before: one result list per item. */
  async #acceptNew(items: unknown[], options: Parameters<AcceptNew>[1]): Promise<AcceptResult[][]> {
    const results: AcceptResult[][] = [];
    /** What goes into the outbox: each message, or its envelope to its relay. */
    const staged: Message[] = [];
    for (const item of items) {
      try {
        if (this.#status !== 'running') throw new BosunError('BOSUN_NODE_STOPPING', `node ${this.name} is ${this.#status}; it accepts no new messages`);
        const messages = normaliseMessages(item, this.name, this.#defaults, this.clock.now()).map((m) => this.#seal(this.#withRoute(m)));
        const routed = messages.map((m) => this.#route(m));
        messages.forEach((m, i) => this.#assertFits(m, routed[i]!));
        results.push(messages.map((m) => ({ id: m.id, toNode: m.toNode, status: 'accepted' as const })));
        staged.push(...routed);
      } catch (e) {
        this.#counters.refused++;
        results.push([{ error: describeError(e) }]);
      }
    }
    const alsoWrite = [...(options.alsoWrite ?? []), ...options.recordAccepted(results)];
    if (staged.length === 0 && alsoWrite.length > 0) await this.store.write(alsoWrite);
    if (staged.length > 0) {
      const p = this.#outbound.enqueue(staged, alsoWrite);
      this.#accepting.add(p);
      try {
        await p;
        this.#counters.accepted += staged.length;
      } catch (e) {
        const error = describeError(e);
        this.#counters.refused += staged.length;
        return results.map((r) => r.map((x) => ('error' in x ? x : { error })));
      } finally {
        this.#accepting.delete(p);
      }
    }
    return results;
  }

  /**
   * Sends one message and gives back promises for its ACK and its reply.
   * @example
   * const d = await node.send({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['uptime'] });
   * await d.acked; const reply = await d.reply; console.log(reply.data);
   */
  async send(message: Record<string, unknown>): Promise<Delivery> {
    const [result] = await this.accept({ ...message, toNodes: undefined });
    if (!result || 'error' in result) {
      const err = result && 'error' in result ? result.error : { code: 'BOSUN_BAD_MESSAGE', message: 'nothing to send' };
      throw new BosunError(err.code as never, err.message);
    }
    const waiter = this.#waiters.get(result.id) ?? {};
    this.#waiters.set(result.id, waiter);
    const acked = new Promise<void>((resolve) => (waiter.acked = { resolve }));
    const reply = new Promise<Message>((resolve) => (waiter.reply = { resolve }));
    return { id: result.id, acked, reply };
  }

  /** Nodes that said hello to this (central) node, with when. */
  lastSeen(): Map<string, { at: number; data?: string }> {
    return new Map(this.#lastSeen);
  }

  /** What this node tells central in its hellos. */
  capabilities(): NodeCapabilities {
    return {
      bosun: BOSUN_VERSION,
      hostname: os.hostname(),
      methods: this.methods.list().map((m) => m.name),
      cpus: os.cpus().length,
      memoryBytes: os.totalmem(),
      freeMemoryBytes: os.freemem(),
      load: os.loadavg(),
      platform: `${os.platform()}-${os.arch()}`,
      ...serverInfo(this.transport),
    };
  }

  /** Central: every node that said hello, with when and its capabilities. */
  nodes(): Array<{ node: string; lastSeen: string; capabilities?: NodeCapabilities }> {
    return [...this.#lastSeen].map(([node, seen]) => {
      let capabilities: NodeCapabilities | undefined;
      try {
        capabilities = seen.data ? (JSON.parse(seen.data) as NodeCapabilities) : undefined;
      } catch {
        capabilities = undefined; // an older node's plain-text hello
      }
      return { node, lastSeen: new Date(seen.at).toISOString(), ...(capabilities ? { capabilities } : {}) };
    });
  }

  get counters(): Readonly<Record<string, number>> {
    return { ...this.#counters, refusedFrames: this.#frames.refused };
  }

  /**
   * What this node holds in memory now: a sender per stream it sends on, a receiver per
   * stream it keeps open, a subscriber per method with work (or served), the runs going.
   */
  get live(): { senders: number; receivers: number; subscribers: number; runs: number } {
    let runs = 0;
    for (const sub of this.#inbound.subscribers.values()) runs += (sub.info as { running: number }).running;
    return { senders: this.#outbound.senders.size, ...this.#inbound.live, runs };
  }

  senders(): ReadonlyMap<string, import('../delivery/SubjectSender.ts').SubjectSender> {
    return this.#outbound.senders;
  }

  receivers(): ReadonlyMap<string, import('../delivery/SubjectReceiver.ts').SubjectReceiver> {
    return this.#inbound.receivers;
  }

  subscribers(): ReadonlyMap<string, import('../delivery/Subscriber.ts').Subscriber> {
    return this.#inbound.subscribers;
  }

  /** The live supervision tree, as the debug socket shows it. */
  tree(): TreeNode {
    const tree = this.#root?.tree() ?? { id: this.name, kind: 'supervisor', state: this.#status, restarts: 0, children: [] };
    const inbound = tree.children.find((c) => c.id === 'inbound');
    if (inbound) {
      // Receivers are stream positions the inbound subtree reopens on restart, not actors.
      for (const [id, r] of this.#inbound.receivers) {
        inbound.children.push({ id: `receiver:${id}`, kind: 'worker', state: 'receiving', restarts: 0, children: [], info: r.info });
      }
    }
    return tree;
  }

  // ---- operator commands ---------------------------------------------------------

  /** The copies this node sends that have not ended, with what the destination confirmed. */
  copies(): Promise<CopyInProgress[]> {
    return CopyProgress.list(this.#registryData);
  }

  /** Messages in the outbox: queued for, or in flight to, their nodes. */
  queue(filter: QueueFilter = {}): Promise<QueuedMessage[]> {
    return listQueue(this.store, this.clock.now(), filter, (stream, seq) => this.#outbound.senders.get(stream)?.progress(seq));
  }

  /** Withdraws queued messages (by id, target node or age); returns what it removed. */
  async removeQueued(filter: QueueFilter): Promise<QueuedMessage[]> {
    if (filter.id === undefined && filter.node === undefined && filter.olderThanSeconds === undefined) {
      throw new BosunError('BOSUN_BAD_MESSAGE', 'say which messages to remove: an id, a node, or an age');
    }
    return removeQueued(this.store, this.#outbound.senders, this.clock.now(), filter);
  }

  deadLetters(limit?: number): Promise<DeadLetter[]> {
    return listDead(this.store, limit);
  }

  /** Sends dead letters again (all, or those with the given ids), with their retries reset. */
  async resendDead(ids?: string[]): Promise<AcceptResult[]> {
    if (this.#status !== 'running') throw new BosunError('BOSUN_NODE_STOPPING', `node ${this.name} is ${this.#status}; it sends nothing again`);
    const dead = (await listDead(this.store, Infinity)).filter((d) => !ids || ids.includes(d.message.id));
    const removal = (letters: DeadLetter[]): StoreOp[] => letters.map((d) => ({ type: 'del', key: deadKey(d.stream, d.seq) }));
    // A message this node carried for another (a relay's) goes again as it was, with its
    // sender's signature: accepting it anew would make it this node's own message.
    const carried = dead.filter((d) => d.message.fromNode !== this.name);
    const own = dead.filter((d) => d.message.fromNode === this.name);
    const results: AcceptResult[] = [];
    if (carried.length > 0) {
      await this.#outbound.enqueue(carried.map((d) => d.message), removal(carried));
      results.push(...carried.map((d) => ({ id: d.message.id, toNode: d.message.toNode, status: 'accepted' as const })));
    }
    // Each letter leaves the dead-letter store in the same write that queues it again.
    if (own.length > 0) {
      // A resend is asked for by the operator: its id, accepted before, is no duplicate here.
      const resent = await this.#acceptNew(own.map((d) => ({ ...d.message, fromNode: undefined, acceptedAt: undefined })), { alsoWrite: removal(own), recordAccepted: () => [] });
      results.push(...resent.flat());
    }
    return results;
  }

  purgeDead(ids?: string[]): Promise<DeadLetter[]> {
    return purgeDead(this.store, ids);
  }

  /** What this node ran, and how each run ended. */
  audit(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    return queryAudit(this.store, filter);
  }

  /** What became of message `id`: queued, in flight, delivered, run (and how it ended), dead. */
  messageStatus(id: string): Promise<MessageStatus> {
    return messageStatus(this.store, this.name, id, (filter) => this.queue(filter));
  }

  /** True when nothing this node accepted waits for an ACK and nothing waits to run. */
  get idle(): boolean {
    return this.#outbound.drained && this.#inbound.idle;
  }

  /**
   * Graceful stop: refuse new input, let running handlers finish (up to `graceMs`),
   * stop the tree in reverse start order, close the transport and the store.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#status === 'stopped' || this.#status === 'draining') return;
    this.#status = 'draining';
    this.#helloTimer?.cancel();
    await Promise.allSettled([...this.#accepting]);
    await this.#inbound.drain(graceMs);
    await this.#root?.stop();
    this.#timers.stopAll();
    this.#unsubscribeStatus?.();
    await this.transport.close();
    await this.store.close();
    await this.#localFiles.close();
    if (this.options.removeFilesDirOnStop) await rm(this.filesDir, { recursive: true, force: true });
    this.#status = 'stopped';
    this.log.info('node stopped');
  }

  /**
   * Stops at once, as a crash would: nothing is drained or flushed, timers and actors
   * die, the transport closes. The store is left as it is; fault-injection tests take
   * what survives from it (`MemoryStore.crash`) and start a new node on that.
   */
  async crash(): Promise<void> {
    if (this.#status === 'stopped') return;
    this.#status = 'stopped';
    this.#helloTimer?.cancel();
    this.#root?.kill();
    for (const sender of this.#outbound.senders.values()) sender.stop();
    this.#timers.stopAll();
    this.#unsubscribeStatus?.();
    void this.#localFiles.close();
    await this.transport.close();
  }

  // ---- outbound ------------------------------------------------------------------

  /** The largest frame the transport carries now. */
  #maxFrameBytes(): number {
    return this.transport.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  }

  /**
   * Refuses a message whose frame the transport cannot carry: it would be dropped at every
   * try. A relayed message is measured in its envelope, where its JSON is escaped again.
   */
  #assertFits(message: Message, routed: Message): void {
    const limit = this.#maxFrameBytes();
    const stream = streamIdOf(this.name, routed.toNode, routed.method);
    if (fitsInFrame(stream, routed, limit)) return;
    const how = routed === message ? '' : ` in its envelope to relay ${routed.toNode}`;
    throw new BosunError(
      'BOSUN_MESSAGE_TOO_LARGE',
      `message ${message.id} to ${message.toNode} is ${dataFrameBytes(stream, routed)} bytes as a frame${how}; the ${this.transport.kind} transport carries at most ${limit} (characters JSON escapes, like " and \\, count double, and double again in a relay envelope)`,
    );
  }

  /**
   * What goes into the outbox for a message this node makes (a reply): sealed, routed, and
   * with its data cut where the frame would be larger than the transport carries — JSON
   * escaping may make a byte of output 6 bytes in a frame, 7 in a relay envelope's. `cut`
   * makes the message that says its data was cut, from the data's size.
   */
  #fitted(message: Message, cut: (size: number) => Message): Message {
    const limit = this.#maxFrameBytes();
    const routed = this.#route(this.#seal(message));
    if (fitsInFrame(streamIdOf(this.name, routed.toNode, routed.method), routed, limit)) return routed;
    const text = message.data ?? '';
    const size = Buffer.byteLength(text);
    const note = (kept: number) => `\n[bosun: output cut at ${kept} of ${size} bytes]`;
    const shell = cut(size);
    // The note's number only shrinks: measured with the largest, the frame cannot outgrow it.
    const shellRouted = this.#route(this.#seal({ ...shell, data: note(size) }));
    const overhead = dataFrameBytes(streamIdOf(this.name, shellRouted.toNode, shellRouted.method), shellRouted);
    const kept = prefixWithin(text, limit - overhead, needsRelay(shell, this.name) ? 2 : 1);
    return this.#route(this.#seal({ ...shell, data: kept + note(Buffer.byteLength(kept)) }));
  }

  /** What goes in the outbox for `message`: itself, or the envelope that takes it to its relay. */
  #route(message: Message): Message {
    return needsRelay(message, this.name) ? this.#seal(relayEnvelope(message, this.name, this.clock.now())) : message;
  }

  /** A message that names no relay takes the one `routes` gives for its target, if any. */
  #withRoute(message: Message): Message {
    const via = this.options.routes?.[message.toNode];
    if (via === undefined || via === this.name || via === message.toNode || message.relayViaNode !== undefined) return message;
    return { ...message, relayViaNode: via };
  }

  // ---- inbound -------------------------------------------------------------------

  #onFrame(subject: string, payload: Uint8Array): void {
    const frame = decodeFrame(payload);
    if (!frame) {
      this.#counters.badFrames++;
      this.log.warn({ subject, bytes: payload.length }, 'dropped a frame that is not a bosun frame');
      return;
    }
    const ids = parseStreamId(frame.stream)!;
    // Data comes from the stream's sender, ACKs and resumes from its receiver: a frame
    // whose subject names anyone else is not the stream's (see `dataSubject`).
    const publisher = frame.type === 'data' || frame.type === 'skip' ? ids.fromNode : ids.toNode;
    if (publisherOf(subject) !== publisher) {
      this.#counters.badFrames++;
      this.log.warn({ subject, stream: frame.stream, type: frame.type }, 'dropped a frame whose subject does not name its stream\'s other node');
      return;
    }
    switch (frame.type) {
      case 'data':
      case 'skip':
        if (ids.toNode !== this.name || !this.#frames.admits(frame, ids)) return;
        this.#inbound.onData(frame.stream, frame.seq, frame.type === 'data' ? frame.message : undefined);
        return;
      case 'ack':
      case 'resume': {
        if (ids.fromNode !== this.name) return;
        const sender = this.#outbound.senders.get(frame.stream);
        if (!sender || !this.#frames.admits(frame, ids)) return;
        if (frame.type === 'ack') sender.onAck(frame.upTo, frame.seqs);
        else sender.nudge('RESUME');
      }
    }
  }

  #methodContext(entry: InboxEntry, signal: AbortSignal): MethodContext {
    return new RunContext(this.#runServices, entry.message, signal);
  }

  #newRunServices(): RunServices {
    return {
      node: this.name,
      central: this.central,
      filesDir: this.filesDir,
      localFiles: this.#localFiles,
      registry: this.#registryData,
      operator: this.#inbound.operator,
      log: this.log,
      // A method's own messages are not a client's: one that sends an id again means it
      // (a copy resends a chunk under its id after a restart), so ids are not deduplicated.
      send: async (message) => (await this.#acceptNew(Array.isArray(message) ? message : [message], { recordAccepted: () => [] })).flat() as never,
      emit: async (request, data) => {
        const reply = this.#replyFor(request, { ok: true, output: data }, undefined, `${request.id}.reply.${++this.#emitted}`);
        if (reply) await this.#streamedReplies.send(reply);
      },
      ...(this.name === this.central
        ? {
            recordHello: async (node: string, at: number, data: string | undefined) => {
              const known = this.#lastSeen.has(node);
              this.#lastSeen.set(node, { at, ...(data !== undefined ? { data } : {}) });
              const dir = path.join(this.filesDir, 'hello-messages', node);
              if (!known) await mkdir(dir, { recursive: true });
              await writeFile(path.join(dir, 'hello.log'), `${new Date(at).toISOString()}\n`);
            },
          }
        : {}),
    };
  }

  /** The records that close a run: its reply (if any) goes into the outbox in the same batch. */
  #finishRun(entry: InboxEntry, outcome: Outcome, spec: MethodSpec | undefined): { ops: StoreOp[]; done(ok: boolean): void } {
    const m = entry.message;
    if (outcome.ok) this.#counters.executed++;
    else {
      this.#counters.failedRuns++;
      this.#report(`inbound/${m.method}`, outcome.code, `${m.method} ${m.id} from ${m.fromNode}: ${outcome.message}`, m);
    }
    if (m.isReply && m.inReplyTo) {
      this.#waiters.get(m.inReplyTo.id)?.reply?.resolve(m);
      this.#waiters.delete(m.inReplyTo.id);
    }
    const audit = auditOp(
      this.clock.now(),
      m,
      outcome.ok ? { ok: true } : { ok: false, code: outcome.code, message: outcome.message },
      this.options.auditStripData ?? false,
      entry.json,
    );
    const records = [audit, ...this.#scheduler.afterRun(m)];
    const reply = this.#replyFor(m, outcome, spec);
    const outgoing = [...(reply ? [reply] : []), ...(outcome.ok ? (outcome.forward ?? []) : [])];
    if (outgoing.length === 0) return { ops: records, done: nothingToDo };
    const ops = [...records];
    const committed: Array<(ok: boolean) => void> = [];
    const unopened: Message[] = [];
    for (const message of outgoing) {
      const stream = streamIdOf(this.name, message.toNode, message.method);
      const sender = this.#outbound.senders.get(stream);
      if (!sender) {
        unopened.push(message);
        continue;
      }
      const staged = sender.stage(message);
      ops.push(...this.#outbound.recordOps(stream), sender.outboxOp(staged));
      committed.push((ok) => {
        if (!ok) return sender.failed([staged.seq]);
        this.#outbound.recorded(stream);
        sender.committed([staged]);
      });
    }
    return {
      ops,
      done: (ok) => {
        for (const c of committed) c(ok);
        // The subscriber prepares (opens) these streams just before it asks for the
        // records, so none should be missing; should one be, it is opened now and its
        // message accepted after the run is recorded, which a crash in between loses.
        if (ok && unopened.length > 0) void this.#outbound.enqueue(unopened).catch((e) => this.#reportError('outbound', e));
      },
    };
  }

  #seal(message: Message): Message {
    return this.options.guard ? this.options.guard.seal(message) : message;
  }

  /** The reply to `m` as it goes into the outbox (sealed, routed, cut to fit a frame), if it gets one. */
  #replyFor(m: Message, outcome: Outcome, spec: MethodSpec | undefined, id = `${m.id}.reply`): Message | undefined {
    if (m.isReply || m.replyMethod === 'none') return undefined;
    if (outcome.ok && (spec?.replies === false || outcome.output === undefined)) return undefined;
    const data = outcome.ok ? outcome.output! : `error ${outcome.code}: ${outcome.message}${outcome.output ? `\n${outcome.output}` : ''}`;
    const fileName = m.fileName ?? `${m.method}.result`;
    const reply = (data: string, error: Message['error']): Message =>
      this.#withRoute({
        id,
        fromNode: this.name,
        toNode: m.fromNode,
        method: m.replyMethod,
        methodArgs: m.replyMethodArgs,
        data,
        replyMethod: 'none',
        replyMethodArgs: [],
        ACKTimeout: m.replyACKTimeout ?? m.ACKTimeout,
        retries: m.replyRetries ?? m.retries,
        retryWait: m.retryWait,
        methodTimeout: this.#defaults.methodTimeout,
        ...(m.directory !== undefined ? { directory: m.directory } : {}),
        fileName: error ? `${fileName}.error` : fileName,
        isReply: true,
        ...(error ? { error } : {}),
        inReplyTo: { id: m.id, method: m.method, fromNode: m.fromNode, toNode: m.toNode },
        acceptedAt: this.clock.now(),
        // A request that came through a relay is answered through it.
        ...(m.relayViaNode !== undefined && m.relayViaNode !== this.name ? { relayViaNode: m.relayViaNode } : {}),
      });
    // A frame larger than the broker takes would be resent forever and hold up its stream:
    // the reply carries the beginning and says so.
    return this.#fitted(reply(data, outcome.ok ? undefined : { code: outcome.code, message: outcome.message }), (size) =>
      reply('', { code: 'BOSUN_TOO_LARGE', message: `the output is ${size} bytes, more than a frame to ${m.fromNode} carries; the reply holds its beginning` }),
    );
  }

  // ---- errors and hello ----------------------------------------------------------

  #reportError(source: string, error: unknown): void {
    const { code, message } = describeError(error);
    this.errorKernel.report({ source: `${this.name}/${source}`, severity: 'error', code, message, error, action: 'reported' });
  }

  #report(source: string, code: string, message: string, about?: Message): void {
    // Errors about the error log itself are not sent to it again, or they would loop.
    const forward = about?.method !== 'REQErrorLog';
    this.errorKernel.report({ source: `${this.name}/${source}`, severity: 'error', code, message, action: 'reported', forward });
  }

  /** The error kernel's forwarder: every report goes to the options' listener and to central. */
  #forward(report: ErrorReport): void {
    try {
      this.options.onError?.(report);
    } catch {
      // A listener's failure must not break the error path.
    }
    if (report.forward === false) return;
    // Runs a crash cut short are reported while the node starts, when it accepts no
    // messages yet: they go to central once it runs, or central would never hear of them.
    if (this.#status === 'starting') {
      this.#reportsWhileStarting.push(report);
      return;
    }
    this.#sendToCentral(report);
  }

  #sendToCentral(report: ErrorReport): void {
    if (this.#status !== 'running') return;
    // A store that cannot write cannot take the error report either: sending one would
    // only make another failed write, and another report.
    if (report.code === 'BOSUN_STORE_WRITE_FAILED' || report.code === 'BOSUN_STORE_CLOSED') return;
    // A report must fit a frame, through a relay too, or it would be refused.
    const text = `${report.code} ${report.source}: ${report.message}`;
    void this.accept({
      toNode: this.central,
      method: 'REQErrorLog',
      data: prefixWithin(text, this.#maxFrameBytes() - ERROR_REPORT_SHELL_BYTES, 2),
      replyMethod: 'none',
    }).catch(() => {});
  }

  #scheduleHello(): void {
    const every = this.options.helloIntervalSeconds ?? 30;
    if (every <= 0 || this.name === this.central) return;
    const tick = () => {
      if (this.#status !== 'running') return;
      const stream = this.#outbound.senders.get(streamIdOf(this.name, this.central, 'REQHello'));
      // One hello in flight is enough: a central that is away gets the latest when back.
      if (!stream || stream.drained) {
        void this.accept({ toNode: this.central, method: 'REQHello', data: JSON.stringify(this.capabilities()), replyMethod: 'none' });
      }
      this.#helloTimer = this.clock.setTimer(every * 1000, tick);
    };
    tick();
  }
}

/** A run without outgoing messages has nothing to do once recorded; one function serves them all. */
function nothingToDo(): void {}

/** The reply method of a message, or of the message a relay envelope carries. */
function replyMethodOf(m: Message): string {
  if (m.replyMethod !== 'none' || !RELAY_METHODS.has(m.method)) return m.replyMethod;
  try {
    return (JSON.parse(m.data ?? '') as { replyMethod?: string }).replyMethod ?? 'none';
  } catch {
    return 'none';
  }
}

/** The message a relay envelope carries, or undefined when it is unsound (its run will say why). */
function tryRelayed(envelope: Message, node: string): Message | undefined {
  try {
    return relayedMessage(envelope, node);
  } catch {
    return undefined;
  }
}

/** Where the transport is connected, for the tree: `server=host:port`, or nothing. */
function serverInfo(transport: Transport): { server?: string } {
  const server = transport.server;
  return server === undefined ? {} : { server };
}
