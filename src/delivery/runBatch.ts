import { describeError } from '../errors.ts';
import type { MethodSpec, PlannedBatch } from '../methods/types.ts';
import type { StoreOp } from '../store/types.ts';
import type { Outcome } from './HandlerRun.ts';
import type { InboxEntry } from './SubjectReceiver.ts';

/**
 * Consecutive entries of one stream that run together. A batch of one is the common case
 * for methods that do not batch.
 */
export interface RunBatch {
  entries: InboxEntry[];
  spec: MethodSpec | undefined;
  /** Per entry: the refusal that ends it without running, or undefined when it runs. */
  refusals: Array<Outcome | undefined>;
  planned?: PlannedBatch;
  /** The started record's key, when the batch has one. */
  recordKey?: string;
  /** Its put, until it is written. */
  start?: StoreOp;
}

/** Entries run together only when nothing of their stream lies between them. */
export function follows(previous: InboxEntry, next: InboxEntry): boolean {
  return next.seq === previous.seq + 1 && next.stream === previous.stream;
}

/** What decides whether a message may run on a subscriber. */
export interface RunRules {
  method: string;
  allowedNodes: string[] | undefined;
  authorize?: ((message: InboxEntry['message'], delivery: { stream: string; seq: number }) => void | Promise<void>) | undefined;
}

/** Why `entry` must not run here, or undefined when it may. */
export async function refusalOf(entry: InboxEntry, spec: MethodSpec | undefined, rules: RunRules): Promise<Outcome | undefined> {
  const m = entry.message;
  if (!spec) return { ok: false, code: 'BOSUN_UNKNOWN_METHOD', message: `node ${m.toNode} does not serve method ${m.method}` };
  // The handler is chosen by the stream the frame came on, so the message must be for
  // that method: a frame that says otherwise is refused, never run as something else.
  if (m.method !== rules.method) {
    return { ok: false, code: 'BOSUN_MISDIRECTED', message: `a ${m.method} message came on the ${rules.method} stream; it was not run` };
  }
  if (rules.allowedNodes && !rules.allowedNodes.includes(m.fromNode)) {
    return {
      ok: false,
      code: 'BOSUN_NOT_ALLOWED',
      message: `${rules.method} here takes messages from ${rules.allowedNodes.join(', ')} only, not from ${m.fromNode}`,
    };
  }
  if (!rules.authorize) return undefined;
  try {
    await rules.authorize(m, { stream: entry.stream, seq: entry.seq });
    return undefined;
  } catch (e) {
    const d = describeError(e);
    return { ok: false, code: d.code, message: d.message };
  }
}
