import type { Message } from '../message.ts';
import { prefixRange } from '../store/keys.ts';
import type { Store } from '../store/types.ts';
import { acceptedIdKey, type AcceptedIdRecord } from './acceptDedup.ts';
import { listDead, queryAudit, type AuditRecord, type QueuedMessage, type QueueFilter } from './admin.ts';

/**
 * Where one message is, as far as this node can tell:
 * - `queued`: in the outbox, not sent yet; `in flight`: sent, its ACK not come yet;
 * - `delivered`: the target node ACKed it (it holds it durably; its run is recorded there);
 * - `waiting to run`: received here, in the inbox;
 * - `run`: run here, with how it ended; `dead`: ran out of retries;
 * - `unknown`: this node holds nothing of it (never accepted here, or forgotten).
 */
export type MessageState = 'queued' | 'in flight' | 'delivered' | 'waiting to run' | 'run' | 'dead' | 'unknown';

export interface MessageFate {
  id: string;
  toNode?: string;
  state: MessageState;
  /** For `run`: how it ended. */
  outcome?: AuditRecord['outcome'];
  /** For `run` and `dead`: when. */
  at?: number;
  /** For `queued` and `in flight`: sends so far. */
  attempts?: number;
}

export interface MessageStatus {
  /** The id asked about. */
  id: string;
  /** When a client gave this id and it was accepted (within the dedup window). */
  accepted?: { at: number };
  /** One per message the id stands for (`toNodes` fans one out to several). */
  messages: MessageFate[];
}

/**
 * What became of message `id`: looked up in the accepted ids, the outbox, the inbox,
 * the dead letters and the audit log. Each is a scan but the first: an operator's
 * question, not a hot path.
 */
export async function messageStatus(store: Store, node: string, id: string, queue: (filter: QueueFilter) => Promise<QueuedMessage[]>): Promise<MessageStatus> {
  const record = await store.get<AcceptedIdRecord>(acceptedIdKey(node, id));
  const targets: Array<{ id: string; toNode?: string }> = record?.results ?? [{ id }];
  const dead = await listDead(store, Infinity);
  const inbox = await store.range<Message>(prefixRange('in'));
  const messages: MessageFate[] = [];
  for (const target of targets) {
    const toNode = target.toNode !== undefined ? { toNode: target.toNode } : {};
    const [ran] = await queryAudit(store, { id: target.id, limit: 1 });
    const letter = dead.find((d) => d.message.id === target.id);
    const [queued] = await queue({ id: target.id, limit: 1 });
    if (ran) messages.push({ id: target.id, toNode: ran.message.toNode, state: 'run', outcome: ran.outcome, at: ran.at });
    else if (letter) messages.push({ id: target.id, toNode: letter.message.toNode, state: 'dead', at: letter.at });
    else if (inbox.some(([, m]) => m.id === target.id)) messages.push({ id: target.id, ...toNode, state: 'waiting to run' });
    else if (queued) messages.push({ id: target.id, toNode: queued.toNode, state: queued.attempts > 0 ? 'in flight' : 'queued', attempts: queued.attempts });
    else if (record && target.toNode !== node) messages.push({ id: target.id, ...toNode, state: 'delivered' });
    else messages.push({ id: target.id, ...toNode, state: 'unknown' });
  }
  return { id, ...(record ? { accepted: { at: record.at } } : {}), messages };
}
