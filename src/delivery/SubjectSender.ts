import { createActor, type Actor } from 'xstate';
import { applyMessageEvent, restoreMessage, retriesAfterTimeout, type MessageState } from '../../actors/messageMachine.ts';
import { subjectMachine } from '../../actors/subjectMachine.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import { isOrderedMethod, type Message } from '../message.ts';
import { deadKey, metaKey, outKey, parseSeq, prefixRange } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';
import type { DurableTimers } from './DurableTimers.ts';
import { dataSubject, encodeDataFrame, encodeFrame, FRAME_VERSION, newIncarnation, parseStreamId, type AckBody, type SignedFrame, type StreamId } from './frames.ts';

/** The stream's position, in `meta!send!<stream>`. */
interface SendMeta {
  /** Ordered streams: every seq up to here is ACKed. */
  ackedUpTo: number;
  /** The highest seq ever handed out and settled. */
  highSeq?: number;
  /** The stream's incarnation (see `frames.ts`); rows written before it existed have none. */
  inc?: string;
}

/** What the outbox holds for one sequence number. */
export interface OutboxRecord {
  message?: Message;
  /** Sends counted before the last restart. */
  attempts?: number;
  /** A dead-lettered message of an ordered stream: only its place is sent. */
  skip?: true;
}

/** A queued message as its live sender sees it (`SubjectSender.progress`). */
export interface MessageProgress {
  attempts: number;
  /** Unix ms of the next send, unless an ACK comes first; absent when none is planned. */
  nextAttemptAt?: number;
}

/**
 * A message given its place in the stream, about to be written to the outbox: its JSON
 * text is made once, for its outbox row and for its frame.
 */
export interface StagedMessage {
  seq: number;
  message: Message;
  json: string;
}

interface WindowRecord {
  seq: number;
  message: Message | undefined;
  /** The message's JSON text, when this process staged it (not when read back). */
  json?: string;
  state: MessageState;
  attempts: number;
  retries: number;
  ackTimeoutMs: number;
  retryWaitMs: number;
  sentAt: number;
  frame?: Uint8Array;
}

export interface SenderDeps {
  store: Store;
  clock: Clock;
  timers: DurableTimers;
  publish(subject: string, payload: Uint8Array): void;
  /** Signs a skip frame (a node with a guard). */
  sealFrame?<F extends SignedFrame>(frame: F): F;
  /** The delivery signature of a data frame (a node with a guard; see `frames.ts`). */
  signDelivery?(stream: string, inc: string, seq: number, messageJson: string): string;
  /** The largest frame the transport carries now; a larger one is dead-lettered, never sent. */
  maxFrameBytes(): number;
  windowSize: number;
  /** Messages whose ACK arrived. */
  onAcked(messages: Message[]): void;
  /**
   * A message that ran out of retries, now in the dead-letter store; or, with `tooLarge`,
   * one whose frame the transport cannot carry, dead-lettered at once.
   */
  onDead(message: Message, attempts: number, tooLarge?: { frameBytes: number; maxFrameBytes: number }): void;
  /** A store write that failed off the accept path. */
  onError(error: unknown): void;
}

/**
 * The outbound side of one stream. Accepted messages are rows in the outbox; only the
 * window (at most `windowSize` records) is in memory, so a million messages queued for
 * an offline node cost disk, not heap. Ordered streams resend go-back-N from the oldest
 * unacknowledged record; unordered streams resend each record on its own.
 */
export class SubjectSender {
  readonly stream: string;
  readonly ids: StreamId;
  readonly ordered: boolean;
  readonly actor: Actor<typeof subjectMachine>;
  #window = new Map<number, WindowRecord>();
  /** Next sequence number to hand out. */
  #nextSeq = 1;
  /** Highest seq whose outbox write has settled (committed or failed); writes settle in order. */
  #settledUpTo = 0;
  /** Highest seq taken into the window (or known to be a hole). */
  #loadedUpTo = 0;
  #ackedUpTo = 0;
  #refilling = false;
  /** Records added in state `sending`, not yet sent. */
  #toSend: WindowRecord[] = [];
  #ackTimer: TimerHandle | undefined;
  #ackTimerDue = Infinity;
  #stopped = false;
  #deadLetters = 0;
  /** The stream's incarnation: its sequence numbers are this one's. */
  #inc = '';
  /** ACKs ignored: another incarnation's, or naming another message than the one at their number. */
  #foreignAcks = 0;

  private constructor(
    stream: string,
    private readonly deps: SenderDeps,
  ) {
    this.stream = stream;
    this.ids = parseStreamId(stream)!;
    this.ordered = isOrderedMethod(this.ids.method);
    this.actor = createActor(
      subjectMachine.provide({
        actions: {
          pump: () => this.#pump(),
          expire: () => this.#expire(),
          armRetry: () => this.#armRetry(),
          cancelRetry: () => this.#cancelRetry(),
          resend: () => this.#resend(),
        },
        guards: {
          windowEmpty: () => this.#window.size === 0 && this.#loadedUpTo >= this.#settledUpTo,
          anyWaiting: () => this.#anyIn('retryWait'),
        },
      }),
    );
    // Observed from birth: an unobserved actor error would be rethrown and end the process.
    // The supervisor's handle observes it too and restarts the subject from its outbox.
    this.actor.subscribe({ error: () => this.stop() });
  }

  /** Restores a stream from the store: sequence position, window, and a pending retry. */
  static async open(stream: string, deps: SenderDeps, retryDueAt?: number): Promise<SubjectSender> {
    const sender = new SubjectSender(stream, deps);
    const meta = await deps.store.get<SendMeta>(metaKey('send', stream));
    const lastSeq = await lastUsedSeq(deps.store, stream);
    sender.#ackedUpTo = meta?.ackedUpTo ?? 0;
    sender.#inc = meta?.inc ?? newIncarnation(deps.clock.now());
    sender.#loadedUpTo = sender.ordered ? sender.#ackedUpTo : 0;
    // A sequence number is never handed out twice: the receiver would take the second
    // message for a duplicate of the first. Acked rows are deleted, so the highest number
    // used is kept in the stream's meta row as well.
    sender.#settledUpTo = Math.max(sender.#ackedUpTo, meta?.highSeq ?? 0, lastSeq);
    // A stream recorded before incarnations existed gets one now, kept before any frame
    // names it; a new stream's goes with its first outbox rows (`recordOp`).
    if (meta && meta.inc === undefined) await deps.store.write([sender.#metaOp()]);
    sender.#nextSeq = sender.#settledUpTo + 1;
    sender.actor.start();
    if (retryDueAt !== undefined) {
      await sender.#refill(false);
      // The stream's durable retry timer was armed: its window restores waiting for it.
      for (const r of sender.#window.values()) Object.assign(r, restoreMessage({ attempts: r.attempts, retries: r.retries, retryPending: true }));
      sender.#toSend = [];
      sender.#armRetryAt(retryDueAt, false);
    }
    sender.actor.send({ type: 'ENQUEUED' });
    return sender;
  }

  /** The stream's incarnation: the frames it sends and the ACKs it takes name it. */
  get incarnation(): string {
    return this.#inc;
  }

  /** The row that records a new stream, with its incarnation: written with its first outbox rows. */
  recordOp(): StoreOp {
    return { type: 'put', key: metaKey('send', this.stream), value: { ackedUpTo: 0, inc: this.#inc } satisfies SendMeta };
  }

  /**
   * Hands out the next sequence number to `message`; the caller writes its `outboxOp`
   * and reports the write with `committed` or `failed`.
   */
  stage(message: Message): StagedMessage {
    return { seq: this.#nextSeq++, message, json: JSON.stringify(message) };
  }

  /** The outbox row for a staged message. */
  outboxOp({ seq, message, json }: StagedMessage): StoreOp {
    return { type: 'put', key: outKey(this.stream, seq), value: { message } satisfies OutboxRecord, encoded: `{"message":${json}}` };
  }

  /**
   * The outbox writes for `seqs` have committed (in order). Messages that fit the window
   * go out straight from memory; the rest wait in the store.
   */
  committed(entries: StagedMessage[]): void {
    if (this.#stopped) return;
    for (const { seq, message, json } of entries) {
      this.#settledUpTo = Math.max(this.#settledUpTo, seq);
      if (seq === this.#loadedUpTo + 1 && this.#window.size < this.deps.windowSize && !this.#refilling) {
        this.#loadedUpTo = seq;
        const r = this.#record(seq, message, 0);
        r.json = json;
        this.#add(r);
      }
    }
    this.actor.send({ type: 'ENQUEUED' });
  }

  /** The outbox writes for `seqs` failed: those sequence numbers become holes. */
  failed(seqs: number[]): void {
    if (this.#stopped) return;
    for (const seq of seqs) this.#settledUpTo = Math.max(this.#settledUpTo, seq);
    this.actor.send({ type: 'ENQUEUED' });
  }

  /**
   * An ACK from the receiver. It counts only for this incarnation, and only for the messages
   * it names: the ACK's id for a number in the window must be its message's (any, for a
   * skip's place). An ACK earned on another message, on an earlier incarnation of the
   * stream, or for a number never handed out, drops nothing.
   */
  onAck(ack: AckBody): void {
    if (this.#stopped) return;
    if (ack.inc !== this.#inc) {
      this.#foreignAcks++;
      return;
    }
    const acked: Message[] = [];
    const ops: StoreOp[] = [];
    const { upTo, seqs } = ack;
    if (this.ordered && upTo !== undefined) {
      const at = this.#window.get(upTo);
      if (upTo >= this.#nextSeq || (at && !names(at, ack.id))) {
        this.#foreignAcks++;
        return;
      }
      // Not in the window (sent before a restart, not loaded again yet), the id cannot be
      // compared: the ACK is signed and numbers are bound to messages, so it is taken as
      // cumulative, as it says.
      for (const [seq, r] of this.#window) {
        if (seq > upTo) break;
        applyMessageEvent(r, { type: 'ACKED' });
        this.#window.delete(seq);
        ops.push({ type: 'del', key: outKey(this.stream, seq) });
        if (r.message) acked.push(r.message);
      }
      if (upTo > this.#ackedUpTo) {
        this.#ackedUpTo = upTo;
        ops.push(this.#metaOp());
      }
    } else if (seqs) {
      seqs.forEach((seq, i) => {
        const r = this.#window.get(seq);
        if (!r) return;
        if (!names(r, ack.ids?.[i])) {
          this.#foreignAcks++;
          return;
        }
        applyMessageEvent(r, { type: 'ACKED' });
        this.#window.delete(seq);
        ops.push({ type: 'del', key: outKey(this.stream, seq) });
        if (r.message) acked.push(r.message);
      });
      if (ops.length) ops.push(this.#metaOp());
    }
    if (ops.length === 0) return;
    // Not synced: a delete lost with the disk's cache leaves ACKed rows behind, which are
    // sent again and ACKed again by the receiver's durable dedup. Syncing it would put an
    // fsync in front of the next inbox or run write of this node.
    this.deps.store.write(ops, { sync: false }).catch((e) => this.deps.onError(e));
    if (acked.length) this.deps.onAcked(acked);
    this.actor.send({ type: 'ACKED' });
  }

  /**
   * Withdraws queued messages (an operator's `queue rm`). In an ordered stream each one
   * leaves a skip marker in its place, so the receiver is not left waiting for it.
   * Returns the store operations; the caller writes them.
   */
  cancel(seqs: number[]): StoreOp[] {
    const ops: StoreOp[] = [];
    for (const seq of seqs) {
      const r = this.#window.get(seq);
      if (this.ordered) {
        if (r) {
          r.message = undefined;
          r.retries = -1;
          r.frame = undefined;
        }
        ops.push({ type: 'put', key: outKey(this.stream, seq), value: { skip: true } satisfies OutboxRecord });
      } else {
        if (r) applyMessageEvent(r, { type: 'WITHDRAWN' });
        this.#window.delete(seq);
        ops.push({ type: 'del', key: outKey(this.stream, seq) });
      }
    }
    if (!this.ordered) this.actor.send({ type: 'ACKED' });
    return ops;
  }

  /** The transport reconnected, or the receiver announced it is back. */
  nudge(kind: 'CONNECTED' | 'RESUME'): void {
    if (this.#stopped) return;
    this.actor.send({ type: kind });
  }

  /**
   * What the sender knows of a queued message that only it has in memory: its sends so
   * far (the outbox row counts them only across restarts, and not at all with unlimited
   * retries) and when the next one is due if no ACK comes first. Undefined for a message
   * still waiting in the outbox behind the window.
   */
  progress(seq: number): MessageProgress | undefined {
    const r = this.#window.get(seq);
    if (!r?.message) return undefined;
    let nextAttemptAt: number | undefined;
    if (r.state === 'retryWait') nextAttemptAt = this.deps.timers.dueAt(this.#retryTimerId);
    else if (retriesAfterTimeout(r)) nextAttemptAt = r.sentAt + r.ackTimeoutMs + r.retryWaitMs;
    return { attempts: r.attempts, ...(nextAttemptAt !== undefined ? { nextAttemptAt } : {}) };
  }

  get info(): Record<string, unknown> {
    return {
      ordered: this.ordered,
      inFlight: this.#window.size,
      queued: Math.max(0, this.#settledUpTo - this.#loadedUpTo),
      nextSeq: this.#nextSeq,
      ackedUpTo: this.ordered ? this.#ackedUpTo : undefined,
      deadLetters: this.#deadLetters,
      incarnation: this.#inc,
      foreignAcks: this.#foreignAcks,
    };
  }

  get stateValue(): string {
    return String(this.actor.getSnapshot().value);
  }

  /** True when nothing is queued or in flight. */
  get drained(): boolean {
    return this.#window.size === 0 && this.#loadedUpTo >= this.#settledUpTo && this.#settledUpTo === this.#nextSeq - 1;
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#ackTimer?.cancel();
    this.deps.timers.cancel(this.#retryTimerId);
    this.actor.stop();
  }

  /** A window record from what the outbox row kept (nothing yet, for a message just staged). */
  #record(seq: number, message: Message | undefined, attempts: number): WindowRecord {
    return {
      seq,
      message,
      ...restoreMessage({ attempts, retries: message ? message.retries : -1, retryPending: false }),
      ackTimeoutMs: (message?.ACKTimeout ?? 5) * 1000,
      retryWaitMs: (message?.retryWait ?? 1) * 1000,
      sentAt: 0,
    };
  }

  #pump(): void {
    if (this.#stopped) return;
    const toSend = this.#toSend;
    this.#toSend = [];
    for (const r of toSend) if (r.state === 'sending' && this.#window.get(r.seq) === r) this.#send(r);
    // Refill from the outbox in large reads: only once the window is down to half, so a
    // single ACK does not cost a store read of a single row.
    const lowWater = this.#window.size <= this.deps.windowSize / 2;
    if (lowWater && this.#loadedUpTo < this.#settledUpTo && !this.#refilling) {
      void this.#refill(true);
    }
  }

  /**
   * Loads the next part of the outbox into the window. In an ordered stream a missing row
   * (a write that failed) becomes a skip marker, but only once the skip is itself durable:
   * a skip the receiver saw for a number the sender could later hand out again would make
   * the receiver drop the new message as a duplicate. A read or write that fails is tried
   * again a second later, not at once.
   */
  async #refill(send: boolean): Promise<void> {
    this.#refilling = true;
    let failed = false;
    try {
      const room = this.deps.windowSize - this.#window.size;
      const upTo = this.#settledUpTo;
      const rows = await this.deps.store.range<OutboxRecord>({
        gt: outKey(this.stream, this.#loadedUpTo),
        lte: outKey(this.stream, upTo),
        limit: room,
      });
      // Only a read that came back short has seen everything up to `upTo`; otherwise the
      // rows after the last one are merely unread, not missing.
      const exhausted = rows.length < room;
      const taken: Array<{ seq: number; row: OutboxRecord | undefined }> = [];
      let expected = this.#loadedUpTo + 1;
      for (const [key, row] of rows) {
        const seq = parseSeq(key);
        if (this.ordered) for (; expected < seq && taken.length < room; expected++) taken.push({ seq: expected, row: undefined });
        if (taken.length >= room) break;
        taken.push({ seq, row });
        expected = seq + 1;
      }
      if (this.ordered && exhausted) for (; expected <= upTo && taken.length < room; expected++) taken.push({ seq: expected, row: undefined });
      const holes = taken.filter((t) => t.row === undefined);
      if (holes.length) {
        await this.deps.store.write(
          holes.map((h) => ({ type: 'put', key: outKey(this.stream, h.seq), value: { skip: true } satisfies OutboxRecord })),
        );
      }
      for (const { seq, row } of taken) {
        this.#add(this.#record(seq, !row || row.skip ? undefined : row.message, row?.attempts ?? 0));
        this.#loadedUpTo = seq;
      }
      if (!this.ordered && exhausted) this.#loadedUpTo = Math.max(this.#loadedUpTo, upTo);
    } catch (e) {
      failed = true;
      this.deps.onError(e);
    } finally {
      this.#refilling = false;
    }
    if (this.#stopped) return;
    if (failed) this.deps.clock.setTimer(1000, () => !this.#stopped && this.actor.send({ type: 'ENQUEUED' }));
    else if (send) this.actor.send({ type: 'ENQUEUED' });
  }

  #add(r: WindowRecord): void {
    this.#window.set(r.seq, r);
    this.#toSend.push(r);
  }

  #send(r: WindowRecord): void {
    r.frame ??= r.message ? this.#dataFrame(r.seq, r.json ?? JSON.stringify(r.message)) : encodeFrame(this.#skipFrame(r.seq));
    r.json = undefined;
    // Accepting checks the size, but a message queued before the transport told its limit
    // (a NATS server's smaller max_payload), or one carried for a relay, may not fit: the
    // transport would drop it at every try, forever.
    const maxFrameBytes = this.deps.maxFrameBytes();
    if (r.message && r.frame.byteLength > maxFrameBytes) return this.#tooLarge(r, maxFrameBytes);
    applyMessageEvent(r, { type: 'SENT' });
    r.sentAt = this.deps.clock.now();
    this.deps.publish(dataSubject(this.ids), r.frame);
    this.#armAckTimer(r.sentAt + r.ackTimeoutMs);
  }

  #dataFrame(seq: number, json: string): Uint8Array {
    return encodeDataFrame(this.stream, this.#inc, seq, json, this.deps.signDelivery?.(this.stream, this.#inc, seq, json));
  }

  #skipFrame(seq: number): SignedFrame {
    const frame: SignedFrame = { v: FRAME_VERSION, type: 'skip', stream: this.stream, inc: this.#inc, seq };
    return this.deps.sealFrame ? this.deps.sealFrame(frame) : frame;
  }

  #tooLarge(r: WindowRecord, maxFrameBytes: number): void {
    const frameBytes = r.frame!.byteLength;
    applyMessageEvent(r, { type: 'TOO_LARGE' });
    const ops: StoreOp[] = [];
    this.#deadLetter(r, ops, { frameBytes, maxFrameBytes });
    this.deps.store.write(ops).catch((e) => this.deps.onError(e));
    // An ordered stream's receiver waits for this place: its skip marker goes at once.
    const skip = this.#window.get(r.seq);
    if (skip && skip !== r) {
      applyMessageEvent(skip, { type: 'RETRY_DUE' });
      this.#send(skip);
    }
  }

  #armAckTimer(due: number): void {
    if (this.#ackTimer && this.#ackTimerDue <= due) return;
    this.#ackTimer?.cancel();
    this.#ackTimerDue = due;
    this.#ackTimer = this.deps.clock.setTimer(due - this.deps.clock.now(), () => {
      this.#ackTimer = undefined;
      this.#ackTimerDue = Infinity;
      if (!this.#stopped) this.actor.send({ type: 'ACK_TIMEOUT' });
    });
  }

  /** Runs every record whose ACK is overdue through the message machine. */
  #expire(): void {
    const now = this.deps.clock.now();
    let nextDue = Infinity;
    const ops: StoreOp[] = [];
    for (const r of this.#window.values()) {
      if (r.state !== 'awaitingAck') continue;
      const due = r.sentAt + r.ackTimeoutMs;
      if (due > now) {
        nextDue = Math.min(nextDue, due);
        continue;
      }
      if (applyMessageEvent(r, { type: 'ACK_TIMEOUT' }).state === 'dead') this.#deadLetter(r, ops);
    }
    if (ops.length) this.deps.store.write(ops).catch((e) => this.deps.onError(e));
    if (nextDue !== Infinity) this.#armAckTimer(nextDue);
    // Dead letters of an unordered stream free their places: what waits behind them goes.
    if (!this.ordered && ops.length) this.#pump();
  }

  #deadLetter(r: WindowRecord, ops: StoreOp[], tooLarge?: { frameBytes: number; maxFrameBytes: number }): void {
    const message = r.message!;
    this.#deadLetters++;
    ops.push({ type: 'put', key: deadKey(this.stream, r.seq), value: { message, attempts: r.attempts, at: this.deps.clock.now() } });
    if (this.ordered) {
      // The receiver applies strictly in order: send the place, without the message.
      const skip = applyMessageEvent(this.#record(r.seq, undefined, 0), { type: 'HOLD' });
      this.#window.set(r.seq, skip);
      ops.push({ type: 'put', key: outKey(this.stream, r.seq), value: { skip: true } satisfies OutboxRecord });
    } else {
      this.#window.delete(r.seq);
      ops.push({ type: 'del', key: outKey(this.stream, r.seq) }, this.#metaOp());
    }
    this.deps.onDead(message, r.attempts, tooLarge);
  }

  #metaOp(): StoreOp {
    return { type: 'put', key: metaKey('send', this.stream), value: { ackedUpTo: this.#ackedUpTo, highSeq: this.#settledUpTo, inc: this.#inc } satisfies SendMeta };
  }

  get #retryTimerId(): string {
    return `retry~${this.stream}`;
  }

  #armRetry(): void {
    // A deadline restored at start-up stands; a fresh wait is armed otherwise.
    if (this.deps.timers.has(this.#retryTimerId)) return;
    let wait = 0;
    for (const r of this.#window.values()) if (r.state === 'retryWait') wait = Math.max(wait, r.retryWaitMs);
    this.#armRetryAt(this.deps.clock.now() + wait, true);
  }

  #armRetryAt(dueAt: number, persist: boolean): void {
    const record = { id: this.#retryTimerId, event: 'RETRY_DUE', dueAt };
    const fire = () => {
      if (!this.#stopped) this.actor.send({ type: 'RETRY_DUE' });
    };
    if (!persist) return this.deps.timers.rearm(record, fire);
    this.deps.store.write(this.deps.timers.arm(record, fire)).catch((e) => this.deps.onError(e));
  }

  #cancelRetry(): void {
    const ops = this.deps.timers.cancel(this.#retryTimerId);
    if (ops.length) this.deps.store.write(ops).catch((e) => this.deps.onError(e));
  }

  #resend(): void {
    const ops: StoreOp[] = [];
    for (const r of this.#window.values()) {
      if (r.state === 'retryWait') applyMessageEvent(r, { type: 'RETRY_DUE' });
      this.#send(r);
      if (r.state === 'dead') continue;
      // Remember the attempts of a message with limited retries, so that a restart does
      // not hand it fresh ones. Only resends are written: the happy path writes nothing.
      if (r.message && r.retries >= 0) {
        ops.push({ type: 'put', key: outKey(this.stream, r.seq), value: { message: r.message, attempts: r.attempts } satisfies OutboxRecord });
      }
    }
    if (ops.length) this.deps.store.write(ops).catch((e) => this.deps.onError(e));
  }

  #anyIn(state: MessageState): boolean {
    for (const r of this.#window.values()) if (r.state === state) return true;
    return false;
  }
}

/**
 * Whether an ACK's id for a record's number names it. A skip's place (a message given up,
 * or withdrawn) is named by any id: the receiver may have taken the message before its
 * sender gave it up, and the place is done either way.
 */
function names(r: WindowRecord, id: string | undefined): boolean {
  return r.message === undefined || r.message.id === (id || undefined);
}

/**
 * The highest sequence number with a row in the outbox, counting rows found corrupt and
 * moved to quarantine: their numbers were used, and must not be handed out again.
 */
async function lastUsedSeq(store: Store, stream: string): Promise<number> {
  const last = (prefix: string) => store.range<unknown>({ ...prefixRange(prefix), reverse: true, limit: 1 });
  const first = await last(`out!${stream}`);
  if (first.length > 0) return parseSeq(first[0]![0]);
  // Empty: either no rows, or the last one was corrupt (the read moved it aside). An empty
  // write waits for that move; then both places are read again.
  await store.write([]);
  const [out, quarantined] = await Promise.all([last(`out!${stream}`), last(`quarantine!out!${stream}`)]);
  return Math.max(out.length ? parseSeq(out[0]![0]) : 0, quarantined.length ? parseSeq(quarantined[0]![0]) : 0);
}
