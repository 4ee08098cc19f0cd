import type { Clock } from '../clock.ts';
import { CopyProgress, type CopyInProgress } from '../methods/copyProgress.ts';
import type { MethodRegistryData } from '../methods/types.ts';
import { BosunError } from '../errors.ts';
import type { Message } from '../message.ts';
import { deadKey } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';
import {
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
import type { AcceptOptions, AcceptResult, NodeStatus } from './nodeTypes.ts';
import type { Outbound } from './Outbound.ts';

export interface OperatorApiDeps {
  node: string;
  store: Store;
  clock: Clock;
  /** The methods' key-value data, where a copy keeps its progress. */
  registry: MethodRegistryData;
  outbound: Pick<Outbound, 'senders' | 'enqueue'>;
  status(): NodeStatus;
  /** Accepts without the client-id dedup: a resend is asked for by the operator, its id is meant again. */
  acceptNew(items: unknown[], options: AcceptOptions & { recordAccepted: () => StoreOp[] }): Promise<AcceptResult[][]>;
}

/** What an operator asks of a node's queues: the outbox, the dead letters, the audit log. */
export class OperatorApi {
  constructor(private readonly deps: OperatorApiDeps) {}

  /** The copies this node sends that have not ended, with what the destination confirmed. */
  copies(): Promise<CopyInProgress[]> {
    return CopyProgress.list(this.deps.registry);
  }

  /** Messages in the outbox: queued for, or in flight to, their nodes. */
  queue(filter: QueueFilter = {}): Promise<QueuedMessage[]> {
    const { store, clock, outbound } = this.deps;
    return listQueue(store, clock.now(), filter, (stream, seq) => outbound.senders.get(stream)?.progress(seq));
  }

  /** Withdraws queued messages (by id, target node or age); returns what it removed. */
  async removeQueued(filter: QueueFilter): Promise<QueuedMessage[]> {
    if (filter.id === undefined && filter.node === undefined && filter.olderThanSeconds === undefined) {
      throw new BosunError('BOSUN_BAD_MESSAGE', 'say which messages to remove: an id, a node, or an age');
    }
    return removeQueued(this.deps.store, this.deps.outbound.senders, this.deps.clock.now(), filter);
  }

  deadLetters(limit?: number): Promise<DeadLetter[]> {
    return listDead(this.deps.store, limit);
  }

  /** Sends dead letters again (all, or those with the given ids), with their retries reset. */
  async resendDead(ids?: string[]): Promise<AcceptResult[]> {
    const { node, store } = this.deps;
    const status = this.deps.status();
    if (status !== 'running') throw new BosunError('BOSUN_NODE_STOPPING', `node ${node} is ${status}; it sends nothing again`);
    const dead = (await listDead(store, Infinity)).filter((d) => !ids || ids.includes(d.message.id));
    const removal = (letters: DeadLetter[]): StoreOp[] => letters.map((d) => ({ type: 'del', key: deadKey(d.stream, d.seq) }));
    // A message this node carried for another (a relay's) goes again as it was, with its
    // sender's signature: accepting it anew would make it this node's own message.
    const carried = dead.filter((d) => d.message.fromNode !== node);
    const own = dead.filter((d) => d.message.fromNode === node);
    const results: AcceptResult[] = [];
    if (carried.length > 0) {
      await this.deps.outbound.enqueue(carried.map((d) => d.message), removal(carried));
      results.push(...carried.map((d) => ({ id: d.message.id, toNode: d.message.toNode, status: 'accepted' as const })));
    }
    // Each letter leaves the dead-letter store in the same write that queues it again.
    if (own.length > 0) {
      const again = own.map((d): Partial<Message> => ({ ...d.message, fromNode: undefined, acceptedAt: undefined }));
      results.push(...(await this.deps.acceptNew(again, { alsoWrite: removal(own), recordAccepted: () => [] })).flat());
    }
    return results;
  }

  purgeDead(ids?: string[]): Promise<DeadLetter[]> {
    return purgeDead(this.deps.store, ids);
  }

  /** What this node ran, and how each run ended. */
  audit(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    return queryAudit(this.deps.store, filter);
  }
}
