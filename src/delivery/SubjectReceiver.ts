import { INITIAL_RECEIVER_STATE, stepReceiver, type ReceiverEvent, type ReceiverState } from '../../actors/receiverMachine.ts';
import { isOrderedMethod, type Message } from '../message.ts';
import { dedupKey, inKey, metaKey, parseSeq, prefixRange } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';
import { parseStreamId, type StreamId } from './frames.ts';

/** An inbox entry: a message durably received and waiting to run. */
export interface InboxEntry {
  stream: string;
  seq: number;
  message: Message;
  /** The message's JSON text, made for its inbox row, when this process received it: its audit record reuses it. */
  json?: string;
}

export interface ReceiverDeps {
  store: Store;
  windowSize: number;
  /** Sends an ACK frame for the stream. */
  ack(stream: string, ack: { upTo?: number; seqs?: number[] }): void;
  /** Entries now durable in the inbox, in stream order. */
  received(entries: InboxEntry[]): void;
  /** Everything the receiver took is durable and nothing waits: it may be let go (see `idle`). */
  settled?(stream: string): void;
  onError(error: unknown): void;
}

interface RecvMeta {
  /** Ordered: every seq up to here is in the inbox or done. Unordered: dedup floor. */
  hwm: number;
}

/**
 * The inbound side of one stream. A data frame is written to the inbox together with the
 * stream's high-water mark in one batch, and ACKed only once that batch is durable, so an
 * ACK means "durably received". One write per stream is in flight at a time; frames that
 * arrive meanwhile join the next one, and the store's group commit merges the streams.
 */
export class SubjectReceiver {
  readonly stream: string;
  readonly ids: StreamId;
  readonly ordered: boolean;
  /** Highest seq accepted in memory (ordered) — contiguous. */
  #hwm = 0;
  #committedHwm = 0;
  /** Ordered: frames that arrived ahead of a gap, inside the window. */
  #early = new Map<number, Message | undefined>();
  /** Unordered: seqs above the floor that are durable; `#floor` is contiguous. */
  #seen = new Set<number>();
  #inWrite = new Set<number>();
  #pending: Array<{ seq: number; message: Message | undefined }> = [];
  /** The receiver machine's state: whether a batch is being written. */
  #state: ReceiverState = INITIAL_RECEIVER_STATE;
  #received = 0;
  #duplicates = 0;

  private constructor(
    stream: string,
    private readonly deps: ReceiverDeps,
  ) {
    this.stream = stream;
    this.ids = parseStreamId(stream)!;
    this.ordered = isOrderedMethod(this.ids.method);
  }

  static async open(stream: string, deps: ReceiverDeps): Promise<SubjectReceiver> {
    const r = new SubjectReceiver(stream, deps);
    const meta = await deps.store.get<RecvMeta>(metaKey('recv', stream));
    r.#hwm = r.#committedHwm = meta?.hwm ?? 0;
    if (!r.ordered) {
      for (const [key] of await deps.store.range(prefixRange(`dedup!${stream}`))) {
        const seq = parseSeq(key);
        if (seq > r.#hwm) r.#seen.add(seq);
      }
    }
    return r;
  }

  /** A data frame (`message`) or a skip marker (`undefined`) for `seq`. */
  onFrame(seq: number, message: Message | undefined): void {
    if (this.ordered) this.#onOrdered(seq, message);
    else this.#onUnordered(seq, message);
  }

  /**
   * No write in flight and no frame waiting for one: a receiver opened again from the
   * store knows all this one has ACKed. Frames kept because they came early are not
   * ACKed yet, so their sender sends them again; forgetting them loses nothing.
   */
  get idle(): boolean {
    return this.#state === 'idle' && this.#pending.length === 0 && this.#inWrite.size === 0;
  }

  /** The receiver machine's state (`idle`, `writing`). */
  get state(): ReceiverState {
    return this.#state;
  }

  get info(): Record<string, unknown> {
    return {
      ordered: this.ordered,
      receivedUpTo: this.ordered ? this.#committedHwm : undefined,
      received: this.#received,
      duplicates: this.#duplicates,
      early: this.#early.size,
    };
  }

  #onOrdered(seq: number, message: Message | undefined): void {
    if (seq <= this.#hwm) {
      this.#duplicates++;
      // Re-ACK what is durable; a frame still being written is ACKed when it commits.
      if (seq <= this.#committedHwm) this.deps.ack(this.stream, { upTo: this.#committedHwm });
      return;
    }
    if (seq > this.#hwm + 1) {
      if (seq <= this.#hwm + this.deps.windowSize) this.#early.set(seq, message);
      return;
    }
    this.#take(seq, message);
    for (let next = this.#hwm + 1; this.#early.has(next); next++) {
      const early = this.#early.get(next);
      this.#early.delete(next);
      this.#take(next, early);
    }
    this.#flush();
  }

  #take(seq: number, message: Message | undefined): void {
    this.#hwm = seq;
    this.#pending.push({ seq, message });
  }

  #onUnordered(seq: number, message: Message | undefined): void {
    if (seq <= this.#hwm || this.#seen.has(seq)) {
      this.#duplicates++;
      this.deps.ack(this.stream, { seqs: [seq] });
      return;
    }
    if (this.#inWrite.has(seq)) {
      this.#duplicates++;
      return;
    }
    this.#inWrite.add(seq);
    this.#pending.push({ seq, message });
    this.#flush();
  }

  #flush(): void {
    if (this.#state !== 'idle' || this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#step({ type: 'WRITE' });
    const ops: StoreOp[] = [];
    const entries: InboxEntry[] = [];
    for (const { seq, message } of batch) {
      if (message) {
        const entry: InboxEntry = { stream: this.stream, seq, message, json: JSON.stringify(message) };
        entries.push(entry);
        ops.push({ type: 'put', key: inKey(this.stream, seq), value: message, encoded: entry.json });
      }
      if (!this.ordered) ops.push({ type: 'put', key: dedupKey(this.stream, seq), value: 1 });
    }
    const last = batch[batch.length - 1]!.seq;
    if (this.ordered) ops.push({ type: 'put', key: metaKey('recv', this.stream), value: { hwm: last } satisfies RecvMeta });
    this.deps.store.write(ops).then(
      () => {
        this.#step({ type: 'COMMITTED' });
        this.#received += batch.length;
        if (this.ordered) {
          this.#committedHwm = last;
          this.deps.ack(this.stream, { upTo: last });
        } else {
          for (const { seq } of batch) {
            this.#inWrite.delete(seq);
            this.#seen.add(seq);
          }
          this.deps.ack(this.stream, { seqs: batch.map((b) => b.seq) });
          this.#compact();
        }
        if (entries.length) this.deps.received(entries);
        this.#flush();
        if (this.idle) this.deps.settled?.(this.stream);
      },
      (error) => {
        // Nothing of the batch is durable: forget it (and what queued behind it), so the
        // sender's resend brings it again and nothing is ACKed out of order.
        this.#step({ type: 'FAILED' });
        this.#hwm = this.#committedHwm;
        this.#early.clear();
        for (const { seq } of [...batch, ...this.#pending]) this.#inWrite.delete(seq);
        this.#pending = [];
        this.deps.onError(error);
      },
    );
  }

  #step(event: ReceiverEvent): void {
    this.#state = stepReceiver(this.#state, event);
  }

  /** Unordered: moves the dedup floor over contiguous seqs and drops their records. */
  #compact(): void {
    const ops: StoreOp[] = [];
    while (this.#seen.has(this.#hwm + 1)) {
      this.#hwm++;
      this.#seen.delete(this.#hwm);
      ops.push({ type: 'del', key: dedupKey(this.stream, this.#hwm) });
    }
    if (ops.length === 0) return;
    this.#committedHwm = this.#hwm;
    ops.push({ type: 'put', key: metaKey('recv', this.stream), value: { hwm: this.#hwm } satisfies RecvMeta });
    this.deps.store.write(ops).catch((e) => this.deps.onError(e));
  }
}
