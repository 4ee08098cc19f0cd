import { execKey, parseSeq, prefixRange } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';

/**
 * The durable record that a batch of runs has started: written before a non-idempotent
 * method's effect, deleted in the write that records the batch's outcomes. It is keyed
 * by the batch's first sequence number and covers every inbox entry of the stream up to
 * `last`. A crash that leaves one behind leaves a batch whose effect may have happened.
 */
export interface StartedRecord {
  startedAt: number;
  /** The last sequence number of the batch; absent for a batch of one. */
  last?: number;
  /** What the method needs to reconcile the batch after a crash (`BatchSpec.reconcile`). */
  checkpoint?: unknown;
}

/** The put of a batch's started record. */
export function startedOp(stream: string, first: number, last: number, startedAt: number, checkpoint: unknown): StoreOp {
  const value: StartedRecord = { startedAt, ...(last !== first ? { last } : {}), ...(checkpoint !== undefined ? { checkpoint } : {}) };
  return { type: 'put', key: execKey(stream, first), value };
}

/** A started record as recovery finds it. */
export interface StartedBatch {
  key: string;
  stream: string;
  first: number;
  last: number;
  record: StartedRecord;
}

/**
 * Every started record in the store, by stream, so that recovery can tell which inbox
 * entries a crash cut short and which batch each belongs to.
 */
export async function readStartedBatches(store: Store): Promise<Map<string, StartedBatch[]>> {
  const byStream = new Map<string, StartedBatch[]>();
  for (const [key, record] of await store.range<StartedRecord>(prefixRange('exec'))) {
    const rest = key.slice('exec!'.length);
    const stream = rest.slice(0, rest.lastIndexOf('!'));
    const first = parseSeq(key);
    const batch: StartedBatch = { key, stream, first, last: record?.last ?? first, record: record ?? { startedAt: 0 } };
    let list = byStream.get(stream);
    if (!list) byStream.set(stream, (list = []));
    list.push(batch);
  }
  return byStream;
}

/** The started batch that covers `seq` of a stream, if any. */
export function batchCovering(batches: StartedBatch[] | undefined, seq: number): StartedBatch | undefined {
  return batches?.find((b) => b.first <= seq && seq <= b.last);
}
