import { Supervisor } from '../../supervisors/Supervisor.ts';
import type { ChildSpec, ErrorSink } from '../../supervisors/types.ts';
import type { Clock } from '../clock.ts';
import type { Message } from '../message.ts';
import { metaKey, prefixRange } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';
import type { DurableTimers } from '../delivery/DurableTimers.ts';
import { parseStreamId, streamIdOf } from '../delivery/frames.ts';
import { SubjectSender, type SenderDeps, type StagedMessage } from '../delivery/SubjectSender.ts';
import { workerHandle } from './workerHandle.ts';

export interface OutboundDeps extends Omit<SenderDeps, 'store' | 'clock' | 'timers'> {
  node: string;
  store: Store;
  clock: Clock;
  timers: DurableTimers;
  errors: ErrorSink;
}

/**
 * The outbound side of a node: one supervised subject actor per stream this node sends
 * on. The supervisor's children are rebuilt from the store whenever it (re)starts, so a
 * restart of the whole subtree loses nothing: each subject reopens from its outbox.
 */
export class Outbound {
  readonly senders = new Map<string, SubjectSender>();
  #opening = new Map<string, Promise<SubjectSender>>();
  /** Streams opened in this process whose `meta!send` row is not written yet. */
  #unrecorded = new Set<string>();
  #supervisor: Supervisor | undefined;
  /** Retry deadlines read at start-up, consumed by each stream's first open. */
  #retryDue = new Map<string, number>();
  /** Outbox writes in flight: a restart waits for them, so it neither misses a row nor reuses its number. */
  #writes = new Set<Promise<unknown>>();

  constructor(private readonly deps: OutboundDeps) {}

  /** The child spec of the outbound supervisor, for the node's root. */
  childSpec(): ChildSpec {
    return {
      id: 'outbound',
      type: 'supervisor',
      start: async () => {
        // Streams open before a restart are opened again, with what their writes in
        // flight put in the outbox: a stream's first rows may not be durable yet when the
        // restart reads which streams there are.
        const open = [...this.senders.keys(), ...this.#opening.keys()];
        await Promise.allSettled([...this.#writes]);
        this.senders.clear();
        this.#opening.clear();
        this.#retryDue.clear();
        for (const t of await this.deps.timers.load()) {
          if (t.id.startsWith('retry~')) this.#retryDue.set(t.id.slice('retry~'.length), t.dueAt);
        }
        const streams = new Set<string>();
        for (const [key] of await this.deps.store.range(prefixRange('meta!send'))) {
          const stream = key.slice('meta!send!'.length);
          if (parseStreamId(stream)?.fromNode === this.deps.node) streams.add(stream);
        }
        for (const stream of open) {
          // Its first rows failed to write: the next ones record it.
          if (!streams.has(stream)) this.#unrecorded.add(stream);
          streams.add(stream);
        }
        const supervisor = await Supervisor.start({
          id: 'outbound',
          strategy: 'one_for_one',
          intensity: 10,
          periodSeconds: 10,
          clock: this.deps.clock,
          errors: this.deps.errors,
          children: [...streams].map((s) => this.#senderSpec(s)),
        });
        this.#supervisor = supervisor;
        return supervisor;
      },
    };
  }

  /** The stream's subject actor, started (and its stream recorded) if it is new. */
  async sender(stream: string): Promise<SubjectSender> {
    const known = this.senders.get(stream);
    if (known) return known;
    let opening = this.#opening.get(stream);
    if (!opening) {
      opening = (async () => {
        // A new stream is recorded with its first outbox rows (see `stage`), not by a
        // write of its own: a fan-out to a thousand nodes is then one batch, not a
        // thousand synced writes.
        if ((await this.deps.store.get(metaKey('send', stream))) === undefined) this.#unrecorded.add(stream);
        const supervisor = this.#supervisor;
        if (!supervisor || supervisor.status !== 'running') throw new Error('the outbound supervisor is not running');
        await supervisor.startChild(this.#senderSpec(stream));
        return this.senders.get(stream)!;
      })().finally(() => this.#opening.delete(stream));
      this.#opening.set(stream, opening);
    }
    return opening;
  }

  /**
   * Puts `messages` in the outbox and hands them to their subjects once durable.
   *
   * Every stream is opened first; then sequence numbers are handed out and the write is
   * issued in one synchronous step. Were there an `await` between handing out a number
   * and issuing its write, a concurrent accept could commit a later number of the same
   * stream first, and the earlier one would look like a failed write.
   */
  async enqueue(messages: Message[], alsoWrite: StoreOp[] = []): Promise<void> {
    const streams = new Map<string, SubjectSender>();
    for (const message of messages) {
      const stream = streamIdOf(this.deps.node, message.toNode, message.method);
      if (!streams.has(stream)) streams.set(stream, this.senders.get(stream) ?? (await this.sender(stream)));
    }
    const ops: StoreOp[] = [];
    const recording: string[] = [];
    const bySender = new Map<SubjectSender, StagedMessage[]>();
    for (const message of messages) {
      const stream = streamIdOf(this.deps.node, message.toNode, message.method);
      const sender = this.senders.get(stream) ?? streams.get(stream)!;
      if (this.#unrecorded.has(stream) && !recording.includes(stream)) {
        recording.push(stream);
        ops.push(...this.recordOps(stream));
      }
      const staged = sender.stage(message);
      ops.push(sender.outboxOp(staged));
      let list = bySender.get(sender);
      if (!list) bySender.set(sender, (list = []));
      list.push(staged);
    }
    ops.push(...alsoWrite);
    const done = (ok: boolean) => {
      if (ok) for (const stream of recording) this.#unrecorded.delete(stream);
      for (const [sender, entries] of bySender) {
        if (ok) sender.committed(entries);
        else sender.failed(entries.map((e) => e.seq));
      }
    };
    const write = this.deps.store.write(ops);
    this.#writes.add(write);
    try {
      await write;
    } catch (e) {
      done(false);
      throw e;
    } finally {
      this.#writes.delete(write);
    }
    done(true);
  }

  /**
   * The row that makes a new stream known at the next start; written with the stream's
   * first outbox rows. Empty once it is written.
   */
  recordOps(stream: string): StoreOp[] {
    const sender = this.senders.get(stream);
    return this.#unrecorded.has(stream) && sender ? [sender.recordOp()] : [];
  }

  /** The stream's row is durable now. */
  recorded(stream: string): void {
    this.#unrecorded.delete(stream);
  }

  /** Every subject resends its window now (the broker is back, or a receiver is). */
  nudgeAll(): void {
    for (const sender of this.senders.values()) sender.nudge('CONNECTED');
  }

  /** True when nothing waits for an ACK. */
  get drained(): boolean {
    for (const s of this.senders.values()) if (!s.drained) return false;
    return true;
  }

  #senderSpec(stream: string): ChildSpec {
    return {
      id: stream,
      restart: 'permanent',
      shutdown: 1000,
      start: async () => {
        const retryDue = this.#retryDue.get(stream);
        this.#retryDue.delete(stream);
        const sender = await SubjectSender.open(stream, this.deps, retryDue);
        this.senders.set(stream, sender);
        return workerHandle(sender.actor, {
          stop: () => sender.stop(),
          describe: () => ({ state: sender.stateValue, children: [], info: sender.info }),
        });
      },
    };
  }
}
