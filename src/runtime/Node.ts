import { mkdir, rm } from 'node:fs/promises';
import pino, { type Logger } from 'pino';
import { ErrorKernel } from '../../supervisors/errorKernel.ts';
import { Supervisor } from '../../supervisors/Supervisor.ts';
import type { TreeNode } from '../../supervisors/types.ts';
import { systemClock, type Clock } from '../clock.ts';
import { BosunError, describeError } from '../errors.ts';
import { DEFAULT_MESSAGE_DEFAULTS, type Message } from '../message.ts';
import { builtinMethods, MethodRegistry } from '../methods/index.ts';
import type { MethodRegistryData, MethodSpec } from '../methods/types.ts';
import { regKey } from '../store/keys.ts';
import type { Store } from '../store/types.ts';
import type { Transport } from '../transport/types.ts';
import { DurableTimers } from '../delivery/DurableTimers.ts';
import { encodeFrame, parseStreamId, resumeSubject, streamIdOf, type SignedFrame } from '../delivery/frames.ts';
import type { SubjectReceiver } from '../delivery/SubjectReceiver.ts';
import type { SubjectSender } from '../delivery/SubjectSender.ts';
import type { Subscriber } from '../delivery/Subscriber.ts';
import { Acceptor } from './accept.ts';
import type { AuditFilter, AuditRecord, DeadLetter, QueueFilter, QueuedMessage } from './admin.ts';
import { CentralLink } from './central.ts';
import { errorKernelChild } from './children/errorKernel.ts';
import { Group } from './children/group.ts';
import { crashChild, restartChild } from './children/paths.ts';
import { StoreChild } from './children/store.ts';
import { transportChild } from './children/transport.ts';
import { FrameAuth } from './FrameAuth.ts';
import { frameRouter } from './frameRouter.ts';
import { Inbound } from './Inbound.ts';
import type { AcceptOptions, AcceptResult, Delivery, NodeCapabilities, NodeOptions, NodePlugIns, NodeStatus } from './nodeTypes.ts';
import { newCounters } from './nodeTypes.ts';
import { OperatorApi } from './operatorApi.ts';
import { Outbound } from './Outbound.ts';
import { Outgoing } from './outgoing.ts';
import { Replies } from './replies.ts';
import { RunContext, type RunServices } from './RunContext.ts';
import { Scheduler } from './Scheduler.ts';
import { Waiters } from './waiters.ts';

export type { MessageGuard } from './MessageGuard.ts';
export type { AcceptOptions, AcceptResult, Delivery, NodeCapabilities, NodeErrorReport, NodeOptions, NodePlugIns, NodeStatus } from './nodeTypes.ts';

/**
 * A running bosun node: a supervision tree over one store and one transport. The node
 * assembles the tree and holds the public API; the work is done by the parts it wires:
 *
 * ```
 * <node>         rest_for_one
 * ├─ store       the store; its failure restarts everything after it
 * ├─ errorKernel forwarding of error reports to central
 * ├─ transport   one_for_one: the connection actor of the link
 * ├─ outbound    one_for_one: a subject actor per stream
 * ├─ inbound     one_for_one: a subscriber actor per method (receivers beside them)
 * ├─ inputs      one_for_one: what a host plugs in (`attach`): sockets, TCP, HTTP, files
 * ├─ services    one_for_one: the gateway, and what else a host enables
 * └─ debug       the debug socket
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
  readonly errorKernel: ErrorKernel;
  #timers: DurableTimers;
  #outbound: Outbound;
  #inbound: Inbound;
  #scheduler: Scheduler;
  #frames: FrameAuth;
  #acceptor: Acceptor;
  #replies: Replies;
  #centralLink: CentralLink;
  #operatorApi: OperatorApi;
  #waiters = new Waiters();
  #storeChild: StoreChild;
  #inputs: Group | undefined;
  #inputsClosedLast: string[] = [];
  #root: Supervisor | undefined;
  #status: NodeStatus = 'starting';
  #counters = newCounters();

  private constructor(private readonly options: NodeOptions) {
    this.name = options.node;
    this.central = options.central ?? 'central';
    this.store = options.store;
    this.transport = options.transport;
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ node: options.node });
    this.filesDir = options.filesDir;
    const defaults = { ...DEFAULT_MESSAGE_DEFAULTS, ...options.defaults };
    this.#timers = new DurableTimers(this.store, this.clock);
    const switchedOn = (m: MethodSpec) => !options.enabledMethods || options.enabledMethods.includes(m.name);
    const builtins = builtinMethods();
    this.methods = new MethodRegistry([...builtins.filter(switchedOn), ...(options.methods ?? [])]);
    const status = () => this.#status;
    const outgoing = new Outgoing({ node: this.name, clock: this.clock, transport: this.transport, guard: options.guard, routes: options.routes });
    const accept = (input: unknown, acceptOptions?: AcceptOptions) => this.accept(input, acceptOptions);
    this.#storeChild = new StoreChild(this.store);
    this.#centralLink = new CentralLink({
      node: this.name,
      central: this.central,
      clock: this.clock,
      filesDir: this.filesDir,
      methods: this.methods,
      helloInFlight: (stream) => this.#outbound.senders.get(stream)?.drained === false,
      helloIntervalSeconds: options.helloIntervalSeconds ?? 30,
      status,
      accept,
      maxFrameBytes: () => outgoing.maxFrameBytes(),
      ...(options.onError ? { onError: options.onError } : {}),
    });
    this.errorKernel = new ErrorKernel(this.log, [(report) => this.#centralLink.forward(report)]);
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
      maxFrameBytes: () => outgoing.maxFrameBytes(),
      windowSize,
      onAcked: (messages) => {
        this.#counters.acked += messages.length;
        this.#waiters.acked(messages);
      },
      onDead: (message, attempts, tooLarge) => this.#deadLetter(message, attempts, tooLarge),
      onError: (e) => this.#reportError('store', e),
    });
    this.#acceptor = new Acceptor({
      node: this.name,
      clock: this.clock,
      defaults,
      store: this.store,
      outgoing,
      counters: this.#counters,
      status,
      enqueue: (messages, alsoWrite) => this.#outbound.enqueue(messages, alsoWrite),
    });
    this.#scheduler = new Scheduler(
      this.store,
      this.clock,
      this.#timers,
      (entry) => this.#inbound.subscriber(entry.message.method).enqueue([entry]),
      (entry, started) => this.#inbound.resume(entry, started),
    );
    this.#replies = new Replies({
      node: this.name,
      clock: this.clock,
      defaults,
      ...(options.routes ? { routes: options.routes } : {}),
      auditStripData: options.auditStripData ?? false,
      outgoing,
      outbound: this.#outbound,
      scheduler: this.#scheduler,
      waiters: this.#waiters,
      counters: this.#counters,
      report: (source, code, message, about) => this.#report(source, code, message, about),
      reportError: (source, e) => this.#reportError(source, e),
    });
    let runServices: RunServices | undefined;
    this.#inbound = new Inbound({
      node: this.name,
      store: this.store,
      clock: this.clock,
      log: this.log,
      methods: this.methods,
      windowSize,
      concurrency: options.unorderedConcurrency ?? 32,
      errors: this.errorKernel,
      publish,
      sealFrame,
      context: (entry, signal) => new RunContext((runServices ??= this.#runServices()), entry.message, signal),
      finish: (entry, outcome, spec) => this.#replies.finishRun(entry, outcome, spec),
      onError: (source, e) => this.#reportError(source, e),
      switchedOff: builtins.filter((m) => !switchedOn(m) && !this.methods.has(m.name)),
      prepare: (entry) => this.#replies.prepare(entry),
      // The guard learns how the message came: scheduled re-runs, made here, are sequence 0
      // of their stream, which no frame from the wire can be.
      ...(options.guard ? { authorize: (m: Message, delivery: { stream: string; seq: number }) => options.guard!.check(m, delivery) } : {}),
    });
    this.#operatorApi = new OperatorApi({ node: this.name, store: this.store, clock: this.clock, outbound: this.#outbound, status, accept });
    this.store.onCorrupt = (key, error) =>
      this.errorKernel.report({
        source: `${this.name}/store`,
        severity: 'error',
        code: 'BOSUN_STORE_CORRUPT',
        message: `the record ${key} was corrupt; it was moved to quarantine!${key} and left out (${describeError(error).message})`,
        action: 'reported',
      });
  }

  static async start(options: NodeOptions): Promise<BosunNode> {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(options.node)) {
      throw new BosunError('BOSUN_BAD_CONFIG', `node name "${options.node}" may only hold letters, digits, "-" and "_"`);
    }
    const node = new BosunNode(options);
    await node.#start();
    return node;
  }

  get status(): NodeStatus {
    return this.#status;
  }

  async #start(): Promise<void> {
    if (this.store.status !== 'open') await this.store.open();
    await mkdir(this.filesDir, { recursive: true });
    const onFrame = frameRouter({ node: this.name, log: this.log, frames: this.#frames, inbound: this.#inbound, outbound: this.#outbound, counters: this.#counters });
    await this.transport.start(this.name, onFrame);
    this.#root = await Supervisor.start({
      id: this.name,
      strategy: 'rest_for_one',
      intensity: 3,
      periodSeconds: 30,
      clock: this.clock,
      errors: this.errorKernel,
      children: [
        this.#storeChild.spec(),
        errorKernelChild(this.errorKernel, this.#centralLink),
        transportChild({ transport: this.transport, clock: this.clock, errors: this.errorKernel, connected: () => this.#outbound.nudgeAll() }),
        this.#outbound.childSpec(),
        this.#inbound.childSpec(),
      ],
    });
    this.#root.onExit((reason) => {
      if (this.#status === 'draining' || this.#status === 'stopped') return;
      this.log.fatal({ reason }, 'the supervision tree gave up; the node cannot go on');
      this.options.onFatal?.(reason);
    });
    await this.#scheduler.restore();
    this.#status = 'running';
    this.#centralLink.flush();
    // Tell every sender we know that we are back, so it resends without waiting out its
    // ACK timeout.
    for (const stream of await this.#inbound.knownStreams()) {
      this.transport.publish(resumeSubject(parseStreamId(stream)!), encodeFrame(this.#frames.seal({ v: 1, type: 'resume', stream })));
    }
    this.#centralLink.startHellos();
    this.log.info({ transport: this.transport.kind, streams: this.#outbound.senders.size }, 'runtime started');
  }

  /**
   * Plugs a host's subtrees into the running tree, after the node's own children: the
   * inputs, the services and the debug socket. Each starts now; from then on its crash is
   * its supervisor's to handle, like any child's.
   */
  async attach(plugIns: NodePlugIns): Promise<void> {
    const root = this.#root;
    if (!root || this.#status !== 'running') throw new BosunError('BOSUN_NODE_STOPPING', `node ${this.name} is ${this.#status}; nothing can be attached`);
    const groupOf = (id: string, children: NodePlugIns['services']) => new Group({ id, children: children ?? [], clock: this.clock, errors: this.errorKernel });
    const closedLast = plugIns.inputsClosedLast ?? [];
    // Closed last: started first, as a supervisor stops its children in reverse order.
    this.#inputs = groupOf('inputs', [...closedLast, ...(plugIns.inputs ?? [])]);
    this.#inputsClosedLast = closedLast.map((c) => c.id);
    await root.startChild(this.#inputs.spec());
    await root.startChild(groupOf('services', plugIns.services).spec());
    if (plugIns.debug) await root.startChild(plugIns.debug);
  }

  /** Validates and durably accepts input (see `Acceptor.accept`). */
  accept(input: unknown, options: AcceptOptions = {}): Promise<AcceptResult[]> {
    return this.#acceptor.accept(input, options);
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
    return { id: result.id, ...this.#waiters.watch(result.id) };
  }

  /** Nodes that said hello to this (central) node, with when. */
  lastSeen(): Map<string, { at: number; data?: string }> {
    return this.#centralLink.lastSeen();
  }

  /** What this node tells central in its hellos. */
  capabilities(): NodeCapabilities {
    return this.#centralLink.capabilities();
  }

  /** Central: every node that said hello, with when and its capabilities. */
  nodes(): Array<{ node: string; lastSeen: string; capabilities?: NodeCapabilities }> {
    return this.#centralLink.nodes();
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

  senders(): ReadonlyMap<string, SubjectSender> {
    return this.#outbound.senders;
  }

  receivers(): ReadonlyMap<string, SubjectReceiver> {
    return this.#inbound.receivers;
  }

  subscribers(): ReadonlyMap<string, Subscriber> {
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

  /** A clean restart of the child at `path` (`inputs/tcp`, `ship1/outbound`). */
  restartChild(path: string): Promise<{ restarted: string }> {
    return restartChild(this.#runningRoot(), path);
  }

  /** Fault injection: the child at `path` fails from inside, and its supervisor handles it. */
  crashChild(path: string): Promise<{ crashed: string }> {
    return crashChild(this.#runningRoot(), path);
  }

  #runningRoot(): Supervisor {
    if (!this.#root || this.#root.status !== 'running') throw new BosunError('BOSUN_NODE_STOPPING', `node ${this.name} is ${this.#status}; its tree is not running`);
    return this.#root;
  }

  // ---- operator commands: see OperatorApi ------------------------------------------

  queue(filter: QueueFilter = {}): Promise<QueuedMessage[]> {
    return this.#operatorApi.queue(filter);
  }

  removeQueued(filter: QueueFilter): Promise<QueuedMessage[]> {
    return this.#operatorApi.removeQueued(filter);
  }

  deadLetters(limit?: number): Promise<DeadLetter[]> {
    return this.#operatorApi.deadLetters(limit);
  }

  resendDead(ids?: string[]): Promise<AcceptResult[]> {
    return this.#operatorApi.resendDead(ids);
  }

  purgeDead(ids?: string[]): Promise<DeadLetter[]> {
    return this.#operatorApi.purgeDead(ids);
  }

  audit(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    return this.#operatorApi.audit(filter);
  }

  /** True when nothing this node accepted waits for an ACK and nothing waits to run. */
  get idle(): boolean {
    return this.#outbound.drained && this.#inbound.idle;
  }

  /**
   * Graceful stop: refuse new input and close the inputs and services, let running
   * handlers finish (up to `graceMs`), stop the tree in reverse start order (the inputs
   * closed last among them), close the transport and the store.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#status === 'stopped' || this.#status === 'draining') return;
    this.#status = 'draining';
    this.#centralLink.stopHellos();
    await this.#root?.terminateChild('services').catch(() => {});
    if (this.#inputs) {
      const ids = (await this.#inputsIds()).filter((id) => !this.#inputsClosedLast.includes(id));
      await this.#inputs.stopChildren(ids);
    }
    await this.#acceptor.settled();
    await this.#inbound.drain(graceMs);
    await this.#root?.stop();
    this.#timers.stopAll();
    await this.transport.close();
    await this.store.close();
    if (this.options.removeFilesDirOnStop) await rm(this.filesDir, { recursive: true, force: true });
    this.#status = 'stopped';
    this.log.info('node stopped');
  }

  async #inputsIds(): Promise<string[]> {
    const inputs = (await this.#root?.whichChildren().catch(() => []))?.find((c) => c.id === 'inputs')?.handle;
    if (!(inputs instanceof Supervisor) || inputs.status !== 'running') return [];
    return (await inputs.whichChildren()).map((c) => c.id);
  }

  /**
   * Stops at once, as a crash would: nothing is drained or flushed, timers and actors
   * die, the transport closes. The store is left as it is; fault-injection tests take
   * what survives from it (`MemoryStore.crash`) and start a new node on that.
   */
  async crash(): Promise<void> {
    if (this.#status === 'stopped') return;
    this.#status = 'stopped';
    this.#centralLink.stopHellos();
    this.#root?.kill();
    for (const sender of this.#outbound.senders.values()) sender.stop();
    this.#timers.stopAll();
    await this.transport.close();
  }

  // ---- wiring ----------------------------------------------------------------------

  #runServices(): RunServices {
    const registry: MethodRegistryData = {
      get: (key) => this.store.get(regKey(`kv!${key}`)),
      put: (key, value) => this.store.write([{ type: 'put', key: regKey(`kv!${key}`), value }]),
      del: (key) => this.store.write([{ type: 'del', key: regKey(`kv!${key}`) }]),
      list: async <T>(prefix: string) =>
        (await this.store.range<T>({ gte: regKey(`kv!${prefix}`), lt: regKey(`kv!${prefix}\uffff`) })).map(
          ([k, v]) => [k.slice(regKey('kv!').length), v] as [string, T],
        ),
    };
    return {
      node: this.name,
      central: this.central,
      filesDir: this.filesDir,
      registry,
      operator: this.#inbound.operator,
      log: this.log,
      send: (message) => this.accept(message) as never,
      emit: (request, data) => this.#replies.emit(request, data),
      ...(this.name === this.central ? { recordHello: (node: string, at: number, data: string | undefined) => this.#centralLink.recordHello(node, at, data) } : {}),
    };
  }

  #deadLetter(message: Message, attempts: number, tooLarge: { frameBytes: number; maxFrameBytes: number } | undefined): void {
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
  }

  #reportError(source: string, error: unknown): void {
    const { code, message } = describeError(error);
    this.errorKernel.report({ source: `${this.name}/${source}`, severity: 'error', code, message, error, action: 'reported' });
    // A store found closed while the node runs has failed: its child ends, and the
    // children that read from it restart with it.
    if (source === 'store' && code === 'BOSUN_STORE_CLOSED' && this.#status === 'running') this.#storeChild.failed(error);
  }

  #report(source: string, code: string, message: string, about?: Message): void {
    // Errors about the error log itself are not sent to it again, or they would loop.
    const forward = about?.method !== 'REQErrorLog';
    this.errorKernel.report({ source: `${this.name}/${source}`, severity: 'error', code, message, action: 'reported', forward });
  }
}
