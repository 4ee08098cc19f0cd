import type { Clock } from '../clock.ts';
import { BosunError, describeError } from '../errors.ts';
import { normaliseMessages, type Message, type MessageDefaults } from '../message.ts';
import type { Store, StoreOp } from '../store/types.ts';
import { AcceptDedup, type AcceptNew } from './acceptDedup.ts';
import type { AcceptOptions, AcceptResult, NodeCounters, NodeStatus } from './nodeTypes.ts';
import type { Outgoing } from './outgoing.ts';

export interface AcceptDeps {
  node: string;
  clock: Clock;
  defaults: MessageDefaults;
  store: Store;
  outgoing: Outgoing;
  counters: NodeCounters;
  /** How long a client-given message id is remembered (see `AcceptDedup`). */
  acceptDedupWindowMs?: number;
  status(): NodeStatus;
  /** Puts messages (and `alsoWrite`) in the outbox in one batch; resolves once durable. */
  enqueue(messages: Message[], alsoWrite: StoreOp[]): Promise<void>;
}

/**
 * The accept step: where input becomes outbox rows. Every input (sockets, files, HTTP,
 * the node's own error reports and hellos) comes through `accept`, so a check that
 * belongs to every accepted message belongs here.
 */
export class Acceptor {
  /** Accepts whose write is in flight; a stop waits for them. */
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #dedup: AcceptDedup;

  constructor(private readonly deps: AcceptDeps) {
    this.#dedup = new AcceptDedup(deps.store, deps.node, deps.clock, deps.acceptDedupWindowMs);
  }

  /**
   * Validates and durably accepts input: one message object, or an array of them (steward's
   * format). Each message is in the outbox before its result says `accepted`. One result
   * per produced message (`toNodes` fans out), or one error per refused input.
   */
  async accept(input: unknown, options: AcceptOptions = {}): Promise<AcceptResult[]> {
    return this.#dedup.accept(input, options, (items, more) => this.acceptNew(items, more));
  }

  /**
   * `accept` for input whose ids were not accepted before: one result list per item. A
   * method's own messages and an operator's resend come here directly: their ids are
   * meant again, not duplicates.
   */
  async acceptNew(items: unknown[], options: Parameters<AcceptNew>[1]): Promise<AcceptResult[][]> {
    const { counters } = this.deps;
    const results: AcceptResult[][] = [];
    /** What goes into the outbox: each message, or its envelope to its relay. */
    const staged: Message[] = [];
    for (const item of items) {
      try {
        staged.push(...this.#prepare(item, results));
      } catch (e) {
        counters.refused++;
        results.push([{ error: describeError(e) }]);
      }
    }
    const alsoWrite = [...(options.alsoWrite ?? []), ...options.recordAccepted(results)];
    if (staged.length === 0 && alsoWrite.length > 0) await this.deps.store.write(alsoWrite);
    if (staged.length > 0) {
      const p = this.deps.enqueue(staged, alsoWrite);
      this.#inFlight.add(p);
      try {
        await p;
        counters.accepted += staged.length;
      } catch (e) {
        const error = describeError(e);
        counters.refused += staged.length;
        return results.map((r) => r.map((x) => ('error' in x ? x : { error })));
      } finally {
        this.#inFlight.delete(p);
      }
    }
    return results;
  }

  /** Resolves once every accept begun so far has its answer. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
  }

  /** One input item as the outbox rows it makes; its results are pushed to `results`. */
  #prepare(item: unknown, results: AcceptResult[][]): Message[] {
    const { node, outgoing } = this.deps;
    const status = this.deps.status();
    if (status !== 'running') throw new BosunError('BOSUN_NODE_STOPPING', `node ${node} is ${status}; it accepts no new messages`);
    const messages = normaliseMessages(item, node, this.deps.defaults, this.deps.clock.now()).map((m) => outgoing.seal(outgoing.withRoute(m)));
    const routed = messages.map((m) => outgoing.route(m));
    messages.forEach((m, i) => outgoing.assertFits(m, routed[i]!));
    results.push(messages.map((m) => ({ id: m.id, toNode: m.toNode, status: 'accepted' as const })));
    return routed;
  }
}
