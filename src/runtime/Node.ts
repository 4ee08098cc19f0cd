import { mkdir, rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ErrorKernel } from '../../supervisors/errorKernel.ts';
import { Supervisor } from '../../supervisors/Supervisor.ts';
import type { TreeNode } from '../../supervisors/types.ts';
import type { Clock } from '../clock.ts';
import { BosunError, describeError } from '../errors.ts';
import type { MethodRegistry } from '../methods/index.ts';
import type { Store } from '../store/types.ts';
import type { Transport } from '../transport/types.ts';
import { encodeFrame, FRAME_VERSION, parseStreamId, resumeSubject } from '../delivery/frames.ts';
import type { SubjectReceiver } from '../delivery/SubjectReceiver.ts';
import type { SubjectSender } from '../delivery/SubjectSender.ts';
import type { Subscriber } from '../delivery/Subscriber.ts';
import type { CopyInProgress } from '../methods/copyProgress.ts';
import type { AuditFilter, AuditRecord, DeadLetter, QueueFilter, QueuedMessage } from './admin.ts';
import { assembleNode, type NodeParts } from './assembly.ts';
import { errorKernelChild } from './children/errorKernel.ts';
import { crashChild, restartChild } from './children/paths.ts';
import { transportChild } from './children/transport.ts';
import { frameRouter } from './frameRouter.ts';
import { messageStatus, type MessageStatus } from './messageStatus.ts';
import type { AcceptOptions, AcceptResult, Delivery, NodeCapabilities, NodeOptions, NodePlugIns, NodeStatus } from './nodeTypes.ts';

export type { MessageGuard } from './MessageGuard.ts';
export { ERROR_REPLY_MAX_RETRIES } from './replies.ts';
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
 * ├─ inbound     one_for_one: a receiver per stream, a subscriber actor per method
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
  readonly #parts: NodeParts;
  #root: Supervisor | undefined;
  #status: NodeStatus = 'starting';

  private constructor(private readonly options: NodeOptions) {
    const parts = assembleNode(options, () => this.#status);
    ({ name: this.name, central: this.central, store: this.store, transport: this.transport, methods: this.methods } = parts);
    ({ log: this.log, clock: this.clock, filesDir: this.filesDir, errorKernel: this.errorKernel } = parts);
    this.#parts = parts;
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
    const { frames, inbound, outbound, counters } = this.#parts;
    await this.transport.start(this.name, frameRouter({ node: this.name, log: this.log, frames, inbound, outbound, counters }));
    this.#root = await Supervisor.start({
      id: this.name,
      strategy: 'rest_for_one',
      intensity: 3,
      periodSeconds: 30,
      clock: this.clock,
      errors: this.errorKernel,
      children: [
        this.#parts.storeChild.spec(),
        errorKernelChild(this.errorKernel, this.#parts.centralLink),
        transportChild({ transport: this.transport, clock: this.clock, errors: this.errorKernel, connected: () => this.#linkUp() }),
        this.#parts.outbound.childSpec(),
        this.#parts.inbound.childSpec(),
      ],
    });
    this.#root.onExit((reason) => {
      if (this.#status === 'draining' || this.#status === 'stopped') return;
      this.log.fatal({ reason }, 'the supervision tree gave up; the node cannot go on');
      this.options.onFatal?.(reason);
    });
    await this.#parts.scheduler.restore();
    this.#status = 'running';
    this.#parts.centralLink.flush();
    await this.#announceResume();
    this.#parts.centralLink.startHellos();
    this.log.info({ transport: this.transport.kind, streams: this.#parts.outbound.senders.size }, 'runtime started');
  }

  /**
   * The link is (back) up. Both directions resend at once: our senders their windows, and
   * the senders of the streams we receive theirs (frames to us while we were away are
   * lost), instead of each waiting out its ACK timeout.
   */
  #linkUp(): void {
    this.#parts.outbound.nudgeAll();
    if (this.#status === 'running') void this.#announceResume();
  }

  /** Tells every sender we know that we are back, so it resends without waiting out its ACK timeout. */
  async #announceResume(): Promise<void> {
    let streams: string[];
    try {
      streams = await this.#parts.inbound.knownStreams();
    } catch (error) {
      // the store is closing: a stopping node has no one to tell
      this.log.debug({ error: describeError(error) }, 'could not list the streams to resume');
      return;
    }
    for (const stream of streams) {
      this.transport.publish(resumeSubject(parseStreamId(stream)!), encodeFrame(this.#parts.frames.seal({ v: FRAME_VERSION, type: 'resume', stream })));
    }
  }

  /**
   * Plugs a host's subtrees into the running tree, after the node's own children: the
   * inputs, the services and the debug socket. Each starts now; from then on its crash is
   * its supervisor's to handle, like any child's.
   */
  async attach(plugIns: NodePlugIns): Promise<void> {
    if (!this.#root || this.#status !== 'running') throw new BosunError('BOSUN_NODE_STOPPING', `node ${this.name} is ${this.#status}; nothing can be attached`);
    await this.#parts.plugIns.attach(this.#root, plugIns);
  }

  /** Validates and durably accepts input (see `Acceptor.accept`). */
  accept(input: unknown, options: AcceptOptions = {}): Promise<AcceptResult[]> {
    return this.#parts.acceptor.accept(input, options);
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
    return { id: result.id, ...this.#parts.waiters.watch(result.id) };
  }

  /** Nodes that said hello to this (central) node, with when. */
  lastSeen(): Map<string, { at: number; data?: string }> {
    return this.#parts.centralLink.lastSeen();
  }

  /** What this node tells central in its hellos. */
  capabilities(): NodeCapabilities {
    return this.#parts.centralLink.capabilities();
  }

  /** Central: every node that said hello, with when and its capabilities. */
  nodes(): Array<{ node: string; lastSeen: string; capabilities?: NodeCapabilities }> {
    return this.#parts.centralLink.nodes();
  }

  get counters(): Readonly<Record<string, number>> {
    return { ...this.#parts.counters, refusedFrames: this.#parts.frames.refused };
  }

  /**
   * What this node holds in memory now: a sender per stream it sends on, a receiver per
   * stream it keeps open, a subscriber per method with work (or served), the runs going.
   */
  get live(): { senders: number; receivers: number; subscribers: number; runs: number } {
    let runs = 0;
    for (const sub of this.#parts.inbound.subscribers.values()) runs += (sub.info as { running: number }).running;
    return { senders: this.#parts.outbound.senders.size, ...this.#parts.inbound.live, runs };
  }

  senders(): ReadonlyMap<string, SubjectSender> {
    return this.#parts.outbound.senders;
  }

  receivers(): ReadonlyMap<string, SubjectReceiver> {
    return this.#parts.inbound.receivers;
  }

  subscribers(): ReadonlyMap<string, Subscriber> {
    return this.#parts.inbound.subscribers;
  }

  /** The live supervision tree, as the debug socket shows it. */
  tree(): TreeNode {
    return this.#root?.tree() ?? { id: this.name, kind: 'supervisor', state: this.#status, restarts: 0, children: [] };
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

  copies(): Promise<CopyInProgress[]> {
    return this.#parts.operatorApi.copies();
  }

  queue(filter: QueueFilter = {}): Promise<QueuedMessage[]> {
    return this.#parts.operatorApi.queue(filter);
  }

  removeQueued(filter: QueueFilter): Promise<QueuedMessage[]> {
    return this.#parts.operatorApi.removeQueued(filter);
  }

  deadLetters(limit?: number): Promise<DeadLetter[]> {
    return this.#parts.operatorApi.deadLetters(limit);
  }

  resendDead(ids?: string[]): Promise<AcceptResult[]> {
    return this.#parts.operatorApi.resendDead(ids);
  }

  purgeDead(ids?: string[]): Promise<DeadLetter[]> {
    return this.#parts.operatorApi.purgeDead(ids);
  }

  audit(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    return this.#parts.operatorApi.audit(filter);
  }

  /** What became of message `id`: queued, in flight, delivered, run (and how it ended), dead. */
  messageStatus(id: string): Promise<MessageStatus> {
    return messageStatus(this.store, this.name, id, (filter) => this.queue(filter));
  }

  /** True when nothing this node accepted waits for an ACK and nothing waits to run. */
  get idle(): boolean {
    return this.#parts.outbound.drained && this.#parts.inbound.idle;
  }

  /**
   * Graceful stop: refuse new input and close the inputs and services, let running
   * handlers finish (up to `graceMs`), stop the tree in reverse start order (the inputs
   * closed last among them), close the transport and the store.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#status === 'stopped' || this.#status === 'draining') return;
    this.#status = 'draining';
    this.#parts.centralLink.stopHellos();
    await this.#parts.plugIns.closeIntake(this.#root);
    await this.#parts.acceptor.settled();
    await this.#parts.inbound.drain(graceMs);
    await this.#root?.stop();
    this.#parts.timers.stopAll();
    await this.transport.close();
    await this.store.close();
    await this.#parts.localFiles.close();
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
    this.#parts.centralLink.stopHellos();
    this.#root?.kill();
    for (const sender of this.#parts.outbound.senders.values()) sender.stop();
    this.#parts.timers.stopAll();
    void this.#parts.localFiles.close();
    await this.transport.close();
  }

  // ---- wiring ----------------------------------------------------------------------


}
