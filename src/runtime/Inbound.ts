import type { Logger } from 'pino';
import { Supervisor } from '../../supervisors/Supervisor.ts';
import type { ChildSpec, ErrorSink } from '../../supervisors/types.ts';
import type { Clock } from '../clock.ts';
import type { Message } from '../message.ts';
import type { LocalFiles } from '../methods/LocalFiles.ts';
import type { MethodRegistry } from '../methods/registry.ts';
import type { MethodContext, MethodSpec } from '../methods/types.ts';
import { parseSeq, prefixRange } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';
import { ackSubject, encodeFrame, FRAME_VERSION, parseStreamId, type AckBody, type SignedFrame } from '../delivery/frames.ts';
import { batchCovering, readStartedBatches, type StartedBatch } from '../delivery/runRecords.ts';
import { SubjectReceiver, type FrameVerdict, type InboxEntry } from '../delivery/SubjectReceiver.ts';
import { Subscriber, type Outcome } from '../delivery/Subscriber.ts';
import { ProcessControl } from './ProcessControl.ts';
import { serviceChild } from './children/serviceChild.ts';
import { workerHandle } from './workerHandle.ts';

export interface InboundDeps {
  node: string;
  /** Where file methods write: a reconciled batch's checkpoint names files in it. */
  filesDir: string;
  /** The files the node's methods hold. */
  localFiles: LocalFiles;
  store: Store;
  clock: Clock;
  log: Logger;
  methods: MethodRegistry;
  windowSize: number;
  concurrency: number;
  errors: ErrorSink;
  publish(subject: string, payload: Uint8Array): void;
  /** Signs an ACK frame (a node with a guard): one signature per frame, never per message. */
  sealFrame?<F extends SignedFrame>(frame: F): F;
  context(entry: InboxEntry, signal: AbortSignal): MethodContext;
  finish(entry: InboxEntry, outcome: Outcome, spec: MethodSpec | undefined): { ops: StoreOp[]; done(ok: boolean): void };
  onError(source: string, error: unknown): void;
  authorize?(message: Message, delivery: { stream: string; seq: number }): void | Promise<void>;
  prepare?(entry: InboxEntry): void | Promise<void>;
  /** Built-in methods switched off in the configuration, which an operator may start. */
  switchedOff?: MethodSpec[];
}

/**
 * The inbound side of a node: a supervised receiver per stream that writes frames to the
 * inbox and ACKs them, and a supervised subscriber per method that runs them. When the subtree
 * (re)starts, receivers reopen from their stream positions and the inbox is read again:
 * runs a crash cut short are reported as interrupted, the rest are queued.
 *
 * Method names come from senders, so a method this node does not serve keeps nothing in
 * memory once its messages are answered: its receiver is let go when everything it took
 * is durable, and its subscriber when it has nothing left to run. Both are made again
 * from the store on the next frame, so order and duplicate detection hold as for any
 * stream; only the store keeps a row per stream (its position).
 */
export class Inbound {
  readonly receivers = new Map<string, SubjectReceiver>();
  readonly subscribers = new Map<string, Subscriber>();
  #receiverOpening = new Map<string, Promise<SubjectReceiver>>();
  #supervisor: Supervisor | undefined;
  #ready = false;
  #pendingAcks = new Map<string, AckBody>();
  #ackFlushScheduled = false;

  /** Process control for REQOpCommand, kept across restarts. */
  readonly operator: ProcessControl;

  constructor(private readonly deps: InboundDeps) {
    this.operator = new ProcessControl({
      store: deps.store,
      clock: deps.clock,
      log: deps.log,
      methods: deps.methods,
      switchedOff: deps.switchedOff ?? [],
      subscribers: this.subscribers,
      subscriber: (method) => this.subscriber(method),
    });
  }

  childSpec(): ChildSpec {
    return {
      id: 'inbound',
      type: 'supervisor',
      start: async () => {
        this.#ready = false;
        this.receivers.clear();
        this.#receiverOpening.clear();
        this.subscribers.clear();
        // Operators' starts and stops apply before any subscriber takes an inbox entry.
        await this.operator.load();
        const supervisor = await Supervisor.start({
          id: 'inbound',
          strategy: 'one_for_one',
          intensity: 10,
          periodSeconds: 10,
          clock: this.deps.clock,
          errors: this.deps.errors,
          children: this.deps.methods.list().map((m) => this.#subscriberSpec(m.name)),
        });
        this.#supervisor = supervisor;
        for (const stream of await this.knownStreams()) {
          if (this.#serves(parseStreamId(stream)!.method)) await this.#receiver(stream);
        }
        await this.#recover();
        this.#ready = true;
        return supervisor;
      },
    };
  }

  /** Streams this node has received on: their senders are told when it starts. */
  async knownStreams(): Promise<string[]> {
    return (await this.deps.store.range(prefixRange('meta!recv'))).map(([key]) => key.slice('meta!recv!'.length));
  }

  /** Receivers and subscribers in memory now. */
  get live(): { receivers: number; subscribers: number } {
    return { receivers: this.receivers.size, subscribers: this.subscribers.size };
  }

  /**
   * A data frame (or a skip marker, `message` undefined) of the sender's incarnation `inc`.
   * Dropped until the subtree is up. `dropped` hears of a frame its receiver did not take.
   */
  onData(stream: string, seq: number, message: Message | undefined, inc: string, dropped?: (verdict: FrameVerdict) => void): void {
    if (!this.#ready) return;
    const take = (r: SubjectReceiver) => {
      const verdict = r.onFrame(seq, message, inc);
      if (verdict !== 'taken' && verdict !== 'duplicate') dropped?.(verdict);
      // A duplicate is answered at once, from what the store had: nothing is left to keep.
      if (r.idle) this.#releaseReceiver(stream);
    };
    const known = this.receivers.get(stream);
    if (known) take(known);
    else void this.#receiver(stream).then(take, (e) => this.deps.onError(`inbound/${stream}`, e));
  }

  /** True while the node runs `method`: its stream state stays in memory between frames. */
  #serves(method: string): boolean {
    return this.deps.methods.has(method);
  }

  /** Lets an idle receiver of a method this node does not serve go; the store keeps its position. */
  #releaseReceiver(stream: string): void {
    const r = this.receivers.get(stream);
    const supervisor = this.#supervisor;
    if (!r || !r.idle || this.#serves(r.ids.method) || !supervisor) return;
    this.receivers.delete(stream);
    // The supervisor's calls run in the order made: a receiver opened again for the
    // stream later is started after this one is stopped and forgotten.
    const forget = (e: unknown) => this.deps.onError(`inbound/${stream}`, e);
    void supervisor.terminateChild(`receiver:${stream}`).catch(forget);
    void supervisor.deleteChild(`receiver:${stream}`).catch(forget);
  }

  get idle(): boolean {
    for (const s of this.subscribers.values()) {
      const i = s.info as { queued: number; running: number };
      if (i.queued > 0 || i.running > 0) return false;
    }
    return true;
  }

  async drain(graceMs: number): Promise<void> {
    this.#ready = false;
    await Promise.all([...this.subscribers.values()].map((s) => s.drain(graceMs)));
  }

  /**
   * Reads the inbox: a batch a crash cut short is reconciled and run again when its
   * method can check its effect (a file append), otherwise reported as interrupted; the
   * rest is queued, in stream order.
   */
  async #recover(onlyMethod?: string): Promise<void> {
    const started = await readStartedBatches(this.deps.store);
    // Inbox keys sort by stream, then sequence: entries of a cut-short batch come
    // together, and it is settled before anything after it in its stream is queued.
    let cutShort: { batch: StartedBatch; entries: InboxEntry[] } | undefined;
    for (const [key, message] of await this.deps.store.range<Message>(prefixRange('in'))) {
      if (onlyMethod !== undefined && message.method !== onlyMethod) continue;
      const rest = key.slice('in!'.length);
      const entry: InboxEntry = { stream: rest.slice(0, rest.lastIndexOf('!')), seq: parseSeq(key), message };
      const batch = batchCovering(started.get(entry.stream), entry.seq);
      if (cutShort && cutShort.batch !== batch) {
        await this.#settleCutShort(cutShort.batch, cutShort.entries);
        cutShort = undefined;
      }
      if (batch) (cutShort ??= { batch, entries: [] }).entries.push(entry);
      else this.subscriber(message.method).enqueue([entry]);
    }
    if (cutShort) await this.#settleCutShort(cutShort.batch, cutShort.entries);
  }

  /**
   * A batch whose started record outlived a crash. An idempotent method's runs again;
   * one the method can reconcile is undone from its checkpoint, its record dropped, and
   * run again; any other is reported as interrupted, never run again.
   */
  async #settleCutShort(batch: StartedBatch, entries: InboxEntry[]): Promise<void> {
    const sub = this.subscriber(entries[0]!.message.method);
    const spec = sub.spec;
    const reconcile = spec?.batch?.reconcile;
    try {
      // The record goes before the batch runs again: its runs record no start of their own.
      if (spec?.idempotent) {
        await this.deps.store.write([{ type: 'del', key: batch.key }]);
        return sub.enqueue(entries);
      }
      if (reconcile && batch.record.checkpoint !== undefined) {
        await reconcile(batch.record.checkpoint, { filesDir: this.deps.filesDir, localFiles: this.deps.localFiles });
        await this.deps.store.write([{ type: 'del', key: batch.key }]);
        return sub.enqueue(entries);
      }
    } catch (e) {
      this.deps.onError(`inbound/${sub.method}`, e);
    }
    await sub.interruptedBatch(entries, batch.key);
  }

  /**
   * An entry read back at start-up (a scheduled run): a run that a crash cut short
   * (`started`) of a non-idempotent method is reported as interrupted, never run again;
   * the rest are queued.
   */
  async resume(entry: InboxEntry, started: boolean): Promise<void> {
    const sub = this.subscriber(entry.message.method);
    if (started && !sub.spec?.idempotent) await sub.interrupted(entry);
    else sub.enqueue([entry]);
  }

  /**
   * The stream's receiver, started as a child of the inbound supervisor (`receiver:<stream>`)
   * if it is not running: a crash of it reopens it from the stream's position in the store.
   */
  async #receiver(stream: string): Promise<SubjectReceiver> {
    const known = this.receivers.get(stream);
    if (known) return known;
    let opening = this.#receiverOpening.get(stream);
    if (!opening) {
      const supervisor = this.#supervisor;
      opening = (async () => {
        if (!supervisor || supervisor.status !== 'running') throw new Error('the inbound supervisor is not running');
        await supervisor.startChild(this.#receiverSpec(stream));
        return this.receivers.get(stream)!;
      })().finally(() => this.#receiverOpening.delete(stream));
      this.#receiverOpening.set(stream, opening);
    }
    return opening;
  }

  #receiverSpec(stream: string): ChildSpec {
    const method = parseStreamId(stream)!.method;
    return serviceChild({
      id: `receiver:${stream}`,
      start: async () => {
        const r = await SubjectReceiver.open(stream, {
          store: this.deps.store,
          windowSize: this.deps.windowSize,
          ack: (s, ack) => this.#queueAck(s, ack),
          received: (entries) => this.subscriber(method).enqueue(entries),
          settled: (s) => this.#releaseReceiver(s),
          onError: (e) => this.deps.onError(`inbound/${stream}`, e),
        });
        this.receivers.set(stream, r);
        return {
          stop: () => {
            if (this.receivers.get(stream) === r) this.receivers.delete(stream);
          },
          describe: () => ({ state: r.state, info: r.info }),
        };
      },
    });
  }

  /**
   * ACKs are coalesced per stream and sent once per turn of the event loop: the highest
   * `upTo` with its message's id, or every seq with its id. An ACK of another incarnation
   * (the sender started over) replaces what was pending.
   */
  #queueAck(stream: string, ack: AckBody): void {
    const pending = this.#pendingAcks.get(stream);
    if (!pending || pending.inc !== ack.inc) {
      this.#pendingAcks.set(stream, { ...ack, ...(ack.seqs ? { seqs: [...ack.seqs], ids: [...(ack.ids ?? [])] } : {}) });
    } else if (ack.upTo !== undefined) {
      if (ack.upTo >= (pending.upTo ?? 0)) {
        pending.upTo = ack.upTo;
        if (ack.id !== undefined) pending.id = ack.id;
        else delete pending.id;
      }
    } else if (ack.seqs) {
      (pending.seqs ??= []).push(...ack.seqs);
      (pending.ids ??= []).push(...(ack.ids ?? []));
    }
    if (this.#ackFlushScheduled) return;
    this.#ackFlushScheduled = true;
    setImmediate(() => {
      this.#ackFlushScheduled = false;
      const acks = this.#pendingAcks;
      this.#pendingAcks = new Map();
      for (const [s, a] of acks) {
        const frame: SignedFrame = { v: FRAME_VERSION, type: 'ack', stream: s, ...a };
        this.deps.publish(ackSubject(parseStreamId(s)!), encodeFrame(this.deps.sealFrame ? this.deps.sealFrame(frame) : frame));
      }
    });
  }

  /**
   * The method's subscriber; one for a method this node does not serve answers with errors,
   * and is let go as soon as it has answered everything it was given.
   */
  subscriber(method: string): Subscriber {
    const known = this.subscribers.get(method);
    if (known) return known;
    const sub = this.#newSubscriber(method);
    const supervisor = this.#supervisor;
    // The supervisor's calls run in the order made: a release of this subscriber, made
    // later, stops and forgets its child before a new one for the method is started.
    void supervisor?.startChild(this.#subscriberSpec(method, sub)).catch((e) => this.deps.onError(`inbound/${method}`, e));
    sub.actor.subscribe((snapshot) => {
      if (snapshot.value !== 'idle' || sub.spec || sub.paused || (sub.info as { queued: number }).queued > 0) return;
      if (!supervisor || this.subscribers.get(method) !== sub || this.#supervisor !== supervisor) return;
      this.subscribers.delete(method);
      const forget = (e: unknown) => this.deps.onError(`inbound/${method}`, e);
      void supervisor.terminateChild(method).catch(forget);
      void supervisor.deleteChild(method).catch(forget);
    });
    return sub;
  }

  #newSubscriber(method: string): Subscriber {
    const sub = new Subscriber(method, this.deps.methods.get(method), {
      store: this.deps.store,
      clock: this.deps.clock,
      log: this.deps.log,
      concurrency: this.deps.concurrency,
      ...(this.deps.authorize ? { authorize: this.deps.authorize } : {}),
      ...(this.deps.prepare ? { prepare: this.deps.prepare } : {}),
      context: (entry, signal) => this.deps.context(entry, signal),
      finish: (entry, outcome, spec) => this.deps.finish(entry, outcome, spec),
      onError: (e) => this.deps.onError(`inbound/${method}`, e),
    });
    this.subscribers.set(method, sub);
    this.operator.apply(sub);
    return sub;
  }

  /** The child spec of a method's subscriber; `made` is the one its first start adopts. */
  #subscriberSpec(method: string, made?: Subscriber): ChildSpec {
    let starts = 0;
    return {
      id: method,
      restart: 'permanent',
      shutdown: 10_000,
      start: async () => {
        let sub = made;
        made = undefined;
        if (!sub) {
          sub = this.#newSubscriber(method);
          // A restarted subscriber picks its method's work up from the inbox.
          if (starts > 0) await this.#recover(method);
        }
        starts++;
        const current = sub;
        return workerHandle(current.actor, {
          stop: () => current.drain(10_000),
          describe: () => ({ state: String(current.actor.getSnapshot().value), children: [], info: current.info }),
        });
      },
    };
  }
}
