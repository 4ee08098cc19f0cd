/**
 * The key layout of the store: one ordered key space split into sublevels by prefix,
 * `<prefix>!<segment>!<segment>…`. Stream ids (`from~to~method`, made of
 * [A-Za-z0-9_-] names) never contain the separator.
 *
 * Numbers are zero-padded to a fixed width so that key order is numeric order; that is
 * what lets a sender find its last outbox entry with one reverse `range` of limit 1.
 */
export const SEPARATOR = '!';

/** Sublevel prefixes. Changing one orphans every record already written under it. */
export const SUBLEVEL = {
  outbox: 'out',
  streamMeta: 'meta',
  inbox: 'in',
  dedup: 'dedup',
  executions: 'exec',
  deadLetters: 'dead',
  timers: 'timer',
  audit: 'audit',
  registry: 'reg',
  /** Client-given message ids accepted within the dedup window (see `runtime/acceptDedup.ts`). */
  acceptedIds: 'acc',
} as const;

const SEQ_WIDTH = 16;

/**
 * A sequence number (or a millisecond timestamp) as a 16-digit zero-padded decimal.
 * Every non-negative safe integer fits, so order is never broken by width.
 */
export function seqKey(seq: number): string {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new RangeError(`a key number must be a non-negative safe integer, got ${seq}`);
  }
  return String(seq).padStart(SEQ_WIDTH, '0');
}

/** A message waiting in a sender's outbox for its ACK. */
export function outKey(stream: string, seq: number): string {
  return `${SUBLEVEL.outbox}!${stream}!${seqKey(seq)}`;
}

/** A message durably received, waiting for its turn to run. */
export function inKey(stream: string, seq: number): string {
  return `${SUBLEVEL.inbox}!${stream}!${seqKey(seq)}`;
}

/** The marker that a message was already received, so a resend is not run twice. */
export function dedupKey(stream: string, seq: number): string {
  return `${SUBLEVEL.dedup}!${stream}!${seqKey(seq)}`;
}

/** The record of a message's execution (outcome, timing). */
export function execKey(stream: string, seq: number): string {
  return `${SUBLEVEL.executions}!${stream}!${seqKey(seq)}`;
}

/** A message that ran out of retries. */
export function deadKey(stream: string, seq: number): string {
  return `${SUBLEVEL.deadLetters}!${stream}!${seqKey(seq)}`;
}

/** Per-stream position: the sending side's and the receiving side's are kept apart. */
export function metaKey(kind: 'send' | 'recv', stream: string): string {
  return `${SUBLEVEL.streamMeta}!${kind}!${stream}`;
}

/** The prefix of every `procKey`, for `prefixRange`. */
export const PROC_PREFIX = `${SUBLEVEL.streamMeta}${SEPARATOR}proc`;

/**
 * An operator's start or stop of a method subscriber (REQOpCommand), kept until the
 * operator resets it. Under `meta` beside the stream positions, which live under
 * `meta!send` and `meta!recv`.
 */
export function procKey(method: string): string {
  return `${PROC_PREFIX}${SEPARATOR}${method}`;
}

/** The prefix of every `inputProgressKey`, for `prefixRange`. */
export const INPUT_PROGRESS_PREFIX = `${SUBLEVEL.streamMeta}${SEPARATOR}input`;

/**
 * How far an input has read a file it took (the watched input file): written in the
 * same batch as the messages it accepted, so a crash can neither lose them nor take
 * them twice.
 */
export function inputProgressKey(file: string): string {
  return `${INPUT_PROGRESS_PREFIX}${SEPARATOR}${file}`;
}

/** A durable timer; keyed by due time first so start-up re-arms them soonest first. */
export function timerKey(dueAt: number, id: string): string {
  return `${SUBLEVEL.timers}!${seqKey(dueAt)}!${id}`;
}

/** An audit log entry, in time order. */
export function auditKey(at: number, id: string): string {
  return `${SUBLEVEL.audit}!${seqKey(at)}!${id}`;
}

/** Registry and configuration data. */
export function regKey(name: string): string {
  return `${SUBLEVEL.registry}!${name}`;
}

/**
 * The range of every key under `prefix` (a sublevel, or a sublevel and a stream, as in
 * `prefixRange(\`out!${stream}\`)`).
 *
 * The upper bound is `prefix` followed by `"`, the character right after `!`: every key
 * that starts with `prefix!` sorts below it whatever characters follow, in LevelDB's
 * byte order and in JavaScript's, which a `'\xff'` sentinel would not guarantee for
 * non-Latin-1 names. The lower bound is `gt`, so a caller may narrow the start with its
 * own `gt`; to narrow the end, pass `lte`, which takes precedence over `lt`.
 */
export function prefixRange(prefix: string): { gt: string; lt: string } {
  return { gt: `${prefix}${SEPARATOR}`, lt: `${prefix}"` };
}

/** The number in a key's last segment, as written by `seqKey` (NaN if it is not one). */
export function parseSeq(key: string): number {
  return Number(key.slice(key.lastIndexOf(SEPARATOR) + 1));
}
