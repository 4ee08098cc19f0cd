import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { systemClock, type Clock } from '../clock.ts';
import { BosunError, describeError } from '../errors.ts';
import {
  DEFAULT_MESSAGE_DEFAULTS,
  normaliseMessages,
  type Message,
  type MessageDefaults,
} from '../message.ts';
import { builtinMethods, MethodRegistry } from '../methods/index.ts';
import type { MethodContext, MethodSpec } from '../methods/types.ts';
import { metaKey, prefixRange, parseSeq } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';
import type { Transport } from '../transport/types.ts';
import type { TreeNode } from '../../supervisors/types.ts';
import { DurableTimers } from '../delivery/DurableTimers.ts';
import {
  ackSubject,
  decodeFrame,
  encodeFrame,
  parseStreamId,
  resumeSubject,
  streamIdOf,
  type Frame,
} from '../delivery/frames.ts';
import { SubjectReceiver, type InboxEntry } from '../delivery/SubjectReceiver.ts';
import { SubjectSender } from '../delivery/SubjectSender.ts';
import { Subscriber, type Outcome } from '../delivery/Subscriber.ts';

export interface NodeOptions {
  /** This node's name: letters, digits, `-` and `_`. */
  node: string;
  /** The node that collects hellos and error logs (default `central`). */
  central?: string;
  store: Store;
  transport: Transport;
  /** `<dataDir>/files` by default; every file method is confined to it. */
  filesDir: string;
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
  /** Concurrent runs of one unordered method (default 32). */
  unorderedConcurrency?: number;
  /** Called for every error report (the supervision layer's error kernel listens here). */
  onError?(report: NodeErrorReport): void;
}

export interface NodeErrorReport {
  source: string;
  code: string;
  message: string;
  severity: 'warning' | 'error';
}

export type AcceptResult =
  | { id: string; toNode: string; status: 'accepted' }
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
 * A running bosun node: outbox and senders, receivers and subscribers, over one store
 * and one transport. Embed it with `startNode`; the daemon is a thin shell around it.
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
  #defaults: MessageDefaults;
  #windowSize: number;
  #timers: DurableTimers;
  #senders = new Map<string, SubjectSender>();
  #opening = new Map<string, Promise<SubjectSender>>();
  #receivers = new Map<string, SubjectReceiver>();
  #receiverOpening = new Map<string, Promise<SubjectReceiver>>();
  #subscribers = new Map<string, Subscriber>();
  #waiters = new Map<string, Waiter>();
  #pendingAcks = new Map<string, { upTo?: number; seqs?: number[] }>();
  #ackFlushScheduled = false;
  #status: 'starting' | 'running' | 'draining' | 'stopped' = 'starting';
  #helloTimer: { cancel(): void } | undefined;
  #accepting = new Set<Promise<unknown>>();
  #lastSeen = new Map<string, { at: number; data?: string }>();
  #unsubscribeStatus: (() => void) | undefined;
  #counters = { accepted: 0, refused: 0, acked: 0, dead: 0, executed: 0, failedRuns: 0, badFrames: 0 };

  private constructor(private readonly options: NodeOptions) {
    this.name = options.node;
    this.central = options.central ?? 'central';
    this.store = options.store;
    this.transport = options.transport;
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ node: options.node });
    this.filesDir = options.filesDir;
    this.#defaults = { ...DEFAULT_MESSAGE_DEFAULTS, ...options.defaults };
    this.#windowSize = options.windowSize ?? 1000;
    this.#timers = new DurableTimers(this.store, this.clock);
    const builtins = builtinMethods().filter((m) => !options.enabledMethods || options.enabledMethods.includes(m.name));
    this.methods = new MethodRegistry([...builtins, ...(options.methods ?? [])]);
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
    // Outbound: every stream with a sequence position, with its pending retry deadline.
    const retryDue = new Map<string, number>();
    for (const t of await this.#timers.load()) {
      if (t.id.startsWith('retry~')) retryDue.set(t.id.slice('retry~'.length), t.dueAt);
    }
    for (const [key] of await this.store.range(prefixRange('meta!send'))) {
      const stream = key.slice('meta!send!'.length);
      if (parseStreamId(stream)?.fromNode !== this.name) continue;
      this.#senders.set(stream, await SubjectSender.open(stream, this.#senderDeps(), retryDue.get(stream)));
    }
    // Inbound: receivers, then the inbox; runs a crash cut short are reported, not re-run.
    const known: string[] = [];
    for (const [key] of await this.store.range(prefixRange('meta!recv'))) known.push(key.slice('meta!recv!'.length));
    for (const stream of known) await this.#receiver(stream);
    const started = new Set<string>();
    for (const [key] of await this.store.range(prefixRange('exec'))) started.add(key.slice('exec!'.length));
    const inbox = await this.store.range<Message>(prefixRange('in'));
    for (const [key, message] of inbox) {
      const rest = key.slice('in!'.length);
      const stream = rest.slice(0, rest.lastIndexOf('!'));
      const entry: InboxEntry = { stream, seq: parseSeq(key), message };
      const sub = this.#subscriber(message.method);
      if (started.has(rest) && !sub.spec?.idempotent) await sub.interrupted(entry);
      else sub.enqueue([entry]);
    }
    this.#unsubscribeStatus = this.transport.onStatus((s) => {
      if (s !== 'connected') return;
      for (const sender of this.#senders.values()) sender.nudge('CONNECTED');
    });
    await this.transport.start(this.name, (subject, payload) => this.#onFrame(subject, payload));
    this.#status = 'running';
    // Tell every sender we know that we are back, so it resends without waiting out its
    // ACK timeout.
    for (const stream of known) {
      const ids = parseStreamId(stream)!;
      this.transport.publish(resumeSubject(ids), encodeFrame({ v: 1, type: 'resume', stream }));
    }
    this.#scheduleHello();
    this.log.info({ transport: this.transport.kind, streams: this.#senders.size, inbox: inbox.length }, 'node started');
  }

  /**
   * Validates and durably accepts input: one message object, or an array of them (steward's
   * format). Each message is in the outbox before its result says `accepted`. One result
   * per produced message (`toNodes` fans out), or one error per refused input.
   */
  async accept(input: unknown): Promise<AcceptResult[]> {
    const items = Array.isArray(input) ? input : [input];
    const results: AcceptResult[][] = [];
    const staged: Message[] = [];
    for (const item of items) {
      try {
        if (this.#status !== 'running') throw new BosunError('BOSUN_NODE_STOPPING', `node ${this.name} is ${this.#status}; it accepts no new messages`);
        const messages = normaliseMessages(item, this.name, this.#defaults, this.clock.now());
        results.push(messages.map((m) => ({ id: m.id, toNode: m.toNode, status: 'accepted' as const })));
        staged.push(...messages);
      } catch (e) {
        this.#counters.refused++;
        results.push([{ error: describeError(e) }]);
      }
    }
    if (staged.length > 0) {
      const p = this.#enqueue(staged);
      this.#accepting.add(p);
      try {
        await p;
        this.#counters.accepted += staged.length;
      } catch (e) {
        const error = describeError(e);
        this.#counters.refused += staged.length;
        return results.flatMap((r) => r.map((x) => ('error' in x ? x : { error })));
      } finally {
        this.#accepting.delete(p);
      }
    }
    return results.flat();
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

  get counters(): Readonly<Record<string, number>> {
    return { ...this.#counters };
  }

  senders(): ReadonlyMap<string, SubjectSender> {
    return this.#senders;
  }

  receivers(): ReadonlyMap<string, SubjectReceiver> {
    return this.#receivers;
  }

  subscribers(): ReadonlyMap<string, Subscriber> {
    return this.#subscribers;
  }

  /** The live tree of this node's actors, as the debug socket shows it. */
  tree(): TreeNode {
    const leaf = (id: string, state: string, info: Record<string, unknown>): TreeNode => ({ id, kind: 'worker', state, restarts: 0, children: [], info });
    const group = (id: string, children: TreeNode[]): TreeNode => ({ id, kind: 'supervisor', state: 'running', restarts: 0, children });
    return group(this.name, [
      leaf('store', this.store.status, {}),
      group('transport', [leaf(`connection:${this.transport.kind}`, this.transport.status, {})]),
      group('outbound', [...this.#senders].map(([id, s]) => leaf(id, s.stateValue, s.info))),
      group('inbound', [
        ...[...this.#receivers].map(([id, r]) => leaf(id, 'receiving', r.info)),
        ...[...this.#subscribers].map(([id, s]) => leaf(id, String(s.actor.getSnapshot().value), s.info)),
      ]),
    ]);
  }

  /** True when nothing this node accepted waits for an ACK and nothing waits to run. */
  get idle(): boolean {
    for (const s of this.#senders.values()) if (!s.drained) return false;
    for (const s of this.#subscribers.values()) {
      const i = s.info as { queued: number; running: number };
      if (i.queued > 0 || i.running > 0) return false;
    }
    return true;
  }

  /**
   * Graceful stop: refuse new input, let running handlers finish (up to `graceMs`),
   * flush the store, close the transport and the store.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#status === 'stopped' || this.#status === 'draining') return;
    this.#status = 'draining';
    this.#helloTimer?.cancel();
    await Promise.allSettled([...this.#accepting]);
    await Promise.all([...this.#subscribers.values()].map((s) => s.drain(graceMs)));
    for (const s of this.#senders.values()) s.stop();
    this.#timers.stopAll();
    this.#unsubscribeStatus?.();
    await this.transport.close();
    await this.store.close();
    this.#status = 'stopped';
    this.log.info('node stopped');
  }

  // ---- outbound ------------------------------------------------------------------

  #senderDeps() {
    return {
      store: this.store,
      clock: this.clock,
      timers: this.#timers,
      publish: (subject: string, payload: Uint8Array) => this.transport.publish(subject, payload),
      windowSize: this.#windowSize,
      onAcked: (messages: Message[]) => {
        this.#counters.acked += messages.length;
        if (this.#waiters.size === 0) return;
        for (const m of messages) this.#waiters.get(m.id)?.acked?.resolve();
      },
      onDead: (message: Message, attempts: number) => {
        this.#counters.dead++;
        this.#report({
          source: `outbound/${streamIdOf(message.fromNode, message.toNode, message.method)}`,
          code: 'BOSUN_DEAD_LETTER',
          message: `message ${message.id} (${message.method} to ${message.toNode}) got no ACK after ${attempts} attempts; it is in the dead-letter store`,
          severity: 'error',
        }, message);
      },
      onError: (e: unknown) => this.#report({ source: 'store', ...describeError(e), severity: 'error' }),
    };
  }

  async #sender(stream: string): Promise<SubjectSender> {
    const known = this.#senders.get(stream);
    if (known) return known;
    let opening = this.#opening.get(stream);
    if (!opening) {
      opening = (async () => {
        const fresh = (await this.store.get(metaKey('send', stream))) === undefined;
        if (fresh) await this.store.write([{ type: 'put', key: metaKey('send', stream), value: { ackedUpTo: 0 } }]);
        const sender = await SubjectSender.open(stream, this.#senderDeps());
        this.#senders.set(stream, sender);
        this.#opening.delete(stream);
        return sender;
      })();
      this.#opening.set(stream, opening);
    }
    return opening;
  }

  /** Puts messages in the outbox; resolves when durable, then hands them to their senders. */
  async #enqueue(messages: Message[]): Promise<void> {
    const staged = await this.#stage(messages);
    try {
      await this.store.write(staged.ops);
    } catch (e) {
      staged.done(false);
      throw e;
    }
    staged.done(true);
  }

  /** The outbox rows for `messages`, and what to do once they are (or are not) durable. */
  async #stage(messages: Message[]): Promise<{ ops: StoreOp[]; done(ok: boolean): void }> {
    const ops: StoreOp[] = [];
    const bySender = new Map<SubjectSender, Array<{ seq: number; message: Message }>>();
    for (const message of messages) {
      const stream = streamIdOf(message.fromNode, message.toNode, message.method);
      const sender = this.#senders.get(stream) ?? (await this.#sender(stream));
      const seq = sender.allocate();
      ops.push(sender.outboxOp(seq, message));
      let list = bySender.get(sender);
      if (!list) bySender.set(sender, (list = []));
      list.push({ seq, message });
    }
    return {
      ops,
      done: (ok) => {
        for (const [sender, entries] of bySender) {
          if (ok) sender.committed(entries);
          else sender.failed(entries.map((e) => e.seq));
        }
      },
    };
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
    switch (frame.type) {
      case 'data':
      case 'skip': {
        if (ids.toNode !== this.name) return;
        const message = frame.type === 'data' ? frame.message : undefined;
        const known = this.#receivers.get(frame.stream);
        if (known) known.onFrame(frame.seq, message);
        else void this.#receiver(frame.stream).then((r) => r.onFrame(frame.seq, message));
        return;
      }
      case 'ack':
      case 'resume': {
        if (ids.fromNode !== this.name) return;
        const sender = this.#senders.get(frame.stream);
        if (!sender) return;
        if (frame.type === 'ack') sender.onAck(frame.upTo, frame.seqs);
        else sender.nudge('RESUME');
      }
    }
  }

  async #receiver(stream: string): Promise<SubjectReceiver> {
    const known = this.#receivers.get(stream);
    if (known) return known;
    let opening = this.#receiverOpening.get(stream);
    if (!opening) {
      opening = SubjectReceiver.open(stream, {
        store: this.store,
        windowSize: this.#windowSize,
        ack: (s, ack) => this.#queueAck(s, ack),
        received: (entries) => this.#subscriber(parseStreamId(stream)!.method).enqueue(entries),
        onError: (e) => this.#report({ source: `inbound/${stream}`, ...describeError(e), severity: 'error' }),
      }).then((r) => {
        this.#receivers.set(stream, r);
        this.#receiverOpening.delete(stream);
        return r;
      });
      this.#receiverOpening.set(stream, opening);
    }
    return opening;
  }

  /** ACKs are coalesced per stream and sent once per turn of the event loop. */
  #queueAck(stream: string, ack: { upTo?: number; seqs?: number[] }): void {
    const pending = this.#pendingAcks.get(stream);
    if (!pending) this.#pendingAcks.set(stream, { ...ack, ...(ack.seqs ? { seqs: [...ack.seqs] } : {}) });
    else if (ack.upTo !== undefined) pending.upTo = Math.max(pending.upTo ?? 0, ack.upTo);
    else if (ack.seqs) (pending.seqs ??= []).push(...ack.seqs);
    if (this.#ackFlushScheduled) return;
    this.#ackFlushScheduled = true;
    setImmediate(() => {
      this.#ackFlushScheduled = false;
      const acks = this.#pendingAcks;
      this.#pendingAcks = new Map();
      for (const [s, a] of acks) {
        const frame: Frame = { v: 1, type: 'ack', stream: s, ...a };
        this.transport.publish(ackSubject(parseStreamId(s)!), encodeFrame(frame));
      }
    });
  }

  #subscriber(method: string): Subscriber {
    let sub = this.#subscribers.get(method);
    if (sub) return sub;
    sub = new Subscriber(method, this.methods.get(method), {
      store: this.store,
      clock: this.clock,
      log: this.log,
      concurrency: this.options.unorderedConcurrency ?? 32,
      context: (entry, signal) => this.#methodContext(entry, signal),
      finish: (entry, outcome, spec) => this.#finishRun(entry, outcome, spec),
      onError: (e) => this.#report({ source: `inbound/${method}`, ...describeError(e), severity: 'error' }),
    });
    this.#subscribers.set(method, sub);
    return sub;
  }

  #methodContext(entry: InboxEntry, signal: AbortSignal): MethodContext {
    const log = this.log;
    return {
      node: this.name,
      central: this.central,
      message: entry.message,
      filesDir: this.filesDir,
      signal,
      get log() {
        return log.child({ method: entry.message.method, id: entry.message.id });
      },
      ...(this.name === this.central
        ? {
            recordHello: async (node: string, at: number, data: string | undefined) => {
              this.#lastSeen.set(node, { at, ...(data !== undefined ? { data } : {}) });
              const dir = path.join(this.filesDir, 'hello-messages', node);
              await mkdir(dir, { recursive: true });
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
      this.#report({ source: `inbound/${m.method}`, code: outcome.code, message: `${m.method} ${m.id} from ${m.fromNode}: ${outcome.message}`, severity: 'error' }, m);
    }
    if (m.isReply && m.inReplyTo) this.#waiters.get(m.inReplyTo.id)?.reply?.resolve(m);
    if (m.isReply && m.inReplyTo) this.#waiters.delete(m.inReplyTo.id);
    const reply = this.#replyFor(m, outcome, spec);
    if (!reply) return { ops: [], done: () => {} };
    // Staging a reply needs the reply stream's sender, which may still be opening.
    const ops: StoreOp[] = [];
    let staged: { ops: StoreOp[]; done(ok: boolean): void } | undefined;
    const sender = this.#senders.get(streamIdOf(reply.fromNode, reply.toNode, reply.method));
    if (sender) {
      const seq = sender.allocate();
      ops.push(sender.outboxOp(seq, reply));
      staged = { ops, done: (ok) => (ok ? sender.committed([{ seq, message: reply }]) : sender.failed([seq])) };
      return staged;
    }
    // First reply on this stream: accept it through the normal path once the run is recorded.
    return { ops, done: (ok) => { if (ok) void this.#enqueue([reply]).catch((e) => this.#report({ source: 'outbound', ...describeError(e), severity: 'error' })); } };
  }

  #replyFor(m: Message, outcome: Outcome, spec: MethodSpec | undefined): Message | undefined {
    if (m.isReply || m.replyMethod === 'none') return undefined;
    if (outcome.ok && (spec?.replies === false || outcome.output === undefined)) return undefined;
    const data = outcome.ok ? outcome.output! : `error ${outcome.code}: ${outcome.message}${outcome.output ? `\n${outcome.output}` : ''}`;
    const fileName = m.fileName ?? `${m.method}.result`;
    return {
      id: `${m.id}.reply`,
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
      fileName: outcome.ok ? fileName : `${fileName}.error`,
      isReply: true,
      inReplyTo: { id: m.id, method: m.method, fromNode: m.fromNode, toNode: m.toNode },
      acceptedAt: this.clock.now(),
    };
  }

  // ---- errors and hello ----------------------------------------------------------

  #report(report: NodeErrorReport, about?: Message): void {
    this.log[report.severity === 'warning' ? 'warn' : 'error']({ source: report.source, code: report.code }, report.message);
    try {
      this.options.onError?.(report);
    } catch {
      // The error path must not fail.
    }
    // Errors about the error log itself are not sent again, or they would loop.
    if (about?.method === 'REQErrorLog' || this.#status !== 'running') return;
    void this.accept({
      toNode: this.central,
      method: 'REQErrorLog',
      data: `${report.code} ${report.source}: ${report.message}`,
      replyMethod: 'none',
    }).catch(() => {});
  }

  #scheduleHello(): void {
    const every = this.options.helloIntervalSeconds ?? 30;
    if (every <= 0) return;
    const tick = () => {
      if (this.#status !== 'running') return;
      const stream = this.#senders.get(streamIdOf(this.name, this.central, 'REQHello'));
      // One hello in flight is enough: a central that is away gets the latest when back.
      if (!stream || stream.drained) {
        void this.accept({ toNode: this.central, method: 'REQHello', data: os.hostname(), replyMethod: 'none' });
      }
      this.#helloTimer = this.clock.setTimer(every * 1000, tick);
    };
    tick();
  }
}

