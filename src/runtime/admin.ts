import type { Message } from '../message.ts';
import { auditKey, deadKey, parseSeq, prefixRange } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';
import type { MessageProgress, OutboxRecord, SubjectSender } from '../delivery/SubjectSender.ts';

/** One queued (outbox) message, as `bosun queue ls` shows it. */
export interface QueuedMessage {
  stream: string;
  seq: number;
  id: string;
  toNode: string;
  method: string;
  acceptedAt: number;
  /** Sends so far: the live sender's count, else the one the outbox row kept. */
  attempts: number;
  /** Unix ms of the next send unless an ACK comes first (a message in flight only). */
  nextAttemptAt?: number;
}

export interface QueueFilter {
  id?: string;
  node?: string;
  /** Only messages accepted more than this many seconds ago. */
  olderThanSeconds?: number;
  limit?: number;
}

/** One dead letter: a message that ran out of retries. */
export interface DeadLetter {
  stream: string;
  seq: number;
  message: Message;
  attempts: number;
  at: number;
}

/** One audit record: a message this node ran, and how it ended. */
export interface AuditRecord {
  at: number;
  message: Message;
  outcome: { ok: true } | { ok: false; code: string; message: string };
}

export interface AuditFilter {
  /** Only the runs of the message with this id. */
  id?: string;
  sinceMs?: number;
  method?: string;
  fromNode?: string;
  limit?: number;
}

/**
 * Reads the outbox for the messages a filter selects (skip markers are not messages).
 * `live` gives what a running sender knows of a message beyond its row.
 */
export async function listQueue(
  store: Store,
  now: number,
  filter: QueueFilter = {},
  live: (stream: string, seq: number) => MessageProgress | undefined = () => undefined,
): Promise<QueuedMessage[]> {
  const limit = filter.limit ?? 1000;
  const out: QueuedMessage[] = [];
  for (const [key, row] of await store.range<OutboxRecord>(prefixRange('out'))) {
    const m = row.message;
    if (!m) continue;
    if (filter.id !== undefined && m.id !== filter.id) continue;
    if (filter.node !== undefined && m.toNode !== filter.node) continue;
    if (filter.olderThanSeconds !== undefined && now - m.acceptedAt < filter.olderThanSeconds * 1000) continue;
    const rest = key.slice('out!'.length);
    const stream = rest.slice(0, rest.lastIndexOf('!'));
    const seq = parseSeq(key);
    const progress = live(stream, seq);
    out.push({
      stream,
      seq,
      id: m.id,
      toNode: m.toNode,
      method: m.method,
      acceptedAt: m.acceptedAt,
      attempts: progress?.attempts ?? row.attempts ?? 0,
      ...(progress?.nextAttemptAt !== undefined ? { nextAttemptAt: progress.nextAttemptAt } : {}),
    });
    if (out.length >= limit) break;
  }
  return out;
}

/** Withdraws the queued messages a filter selects; returns them. */
export async function removeQueued(
  store: Store,
  senders: ReadonlyMap<string, SubjectSender>,
  now: number,
  filter: QueueFilter,
): Promise<QueuedMessage[]> {
  const chosen = await listQueue(store, now, { ...filter, limit: filter.limit ?? Infinity });
  const bySender = new Map<SubjectSender, number[]>();
  for (const q of chosen) {
    const sender = senders.get(q.stream);
    if (!sender) continue;
    let seqs = bySender.get(sender);
    if (!seqs) bySender.set(sender, (seqs = []));
    seqs.push(q.seq);
  }
  const ops: StoreOp[] = [];
  for (const [sender, seqs] of bySender) ops.push(...sender.cancel(seqs));
  if (ops.length) await store.write(ops);
  return chosen;
}

export async function listDead(store: Store, limit = 1000): Promise<DeadLetter[]> {
  const rows = await store.range<{ message: Message; attempts: number; at: number }>({ ...prefixRange('dead'), limit });
  return rows.map(([key, row]) => {
    const rest = key.slice('dead!'.length);
    return { stream: rest.slice(0, rest.lastIndexOf('!')), seq: parseSeq(key), ...row };
  });
}

/** Deletes dead letters (all, or those with the given ids); returns how many. */
export async function purgeDead(store: Store, ids?: string[]): Promise<DeadLetter[]> {
  const dead = (await listDead(store, Infinity)).filter((d) => !ids || ids.includes(d.message.id));
  if (dead.length) await store.write(dead.map((d) => ({ type: 'del', key: deadKey(d.stream, d.seq) })));
  return dead;
}

/** The audit record of one run; `messageJson` is the message's JSON text, when made already (for its inbox row). */
export function auditOp(at: number, message: Message, outcome: AuditRecord['outcome'], stripData: boolean, messageJson?: string): StoreOp {
  const key = auditKey(Math.floor(at), `${message.fromNode}~${message.id}`);
  if (stripData) return { type: 'put', key, value: { at, message: { ...message, data: undefined }, outcome } satisfies AuditRecord };
  const value = { at, message, outcome } satisfies AuditRecord;
  if (messageJson === undefined) return { type: 'put', key, value };
  return { type: 'put', key, value, encoded: `{"at":${JSON.stringify(at)},"message":${messageJson},"outcome":${JSON.stringify(outcome)}}` };
}

export async function queryAudit(store: Store, filter: AuditFilter = {}): Promise<AuditRecord[]> {
  const range = prefixRange('audit');
  const rows = await store.range<AuditRecord>({
    ...range,
    ...(filter.sinceMs !== undefined ? { gt: auditKey(Math.max(0, Math.floor(filter.sinceMs)), '') } : {}),
  });
  const out: AuditRecord[] = [];
  for (const [, r] of rows) {
    if (filter.id !== undefined && r.message.id !== filter.id) continue;
    if (filter.method !== undefined && r.message.method !== filter.method) continue;
    if (filter.fromNode !== undefined && r.message.fromNode !== filter.fromNode) continue;
    out.push(r);
    if (out.length >= (filter.limit ?? 1000)) break;
  }
  return out;
}
