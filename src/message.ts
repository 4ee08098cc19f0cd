import { randomUUID } from 'node:crypto';
import { BosunError } from './errors.ts';
import { climbsOut } from './methods/paths.ts';
import { fromStewardForm } from './stewardForm.ts';

/**
 * A message as bosun handles it after validation: steward's fields, normalised, with
 * every default applied. Times are in seconds, as in steward's message format.
 */
export interface Message {
  /** Unique id; assigned at acceptance when the input gave none. */
  id: string;
  fromNode: string;
  toNode: string;
  method: string;
  methodArgs: string[];
  /** Free-form payload; for file methods the text to write, for replies the result. */
  data?: string;
  /** Method that handles the reply on `fromNode`; `none` sends no reply. */
  replyMethod: string;
  replyMethodArgs: string[];
  ACKTimeout: number;
  /** Re-sends after the first attempt; -1 retries forever. */
  retries: number;
  retryWait: number;
  replyACKTimeout?: number;
  replyRetries?: number;
  /** Seconds a handler may run; -1 means no limit. */
  methodTimeout: number;
  directory?: string;
  fileName?: string;
  /**
   * `[intervalSeconds, totalSeconds]`: the receiving node runs the method again every
   * interval until `total` seconds after its first run. Survives restarts of that node.
   */
  schedule?: [number, number];
  /** On a scheduled re-run: when the first run was, and which run this is. */
  scheduled?: { firstRunAt: number; run: number; of: string };
  isReply?: boolean;
  /** On a reply: set when the request failed (its data then holds the error text). */
  error?: { code: string; message: string };
  /** On a reply: the request it answers (without its data). */
  inReplyTo?: { id: string; method: string; fromNode: string; toNode: string };
  /** Unix ms when an input accepted the message. */
  acceptedAt: number;
  /** Set by the sending node's guard (ed25519 over the envelope), checked by the receiver's. */
  signature?: string;
  /** Unix ms after which the receiver refuses the message (replay protection). */
  expiresAt?: number;
  /**
   * A node that carries the message to `toNode`, for a target the sender cannot reach
   * directly; the reply comes back the same way. Kept on the message end to end.
   */
  relayViaNode?: string;
}

/** Daemon-wide defaults applied where a message leaves a field out. */
export interface MessageDefaults {
  ACKTimeout: number;
  retries: number;
  retryWait: number;
  methodTimeout: number;
  replyMethod: string;
}

export const DEFAULT_MESSAGE_DEFAULTS: MessageDefaults = {
  ACKTimeout: 5,
  retries: -1,
  retryWait: 1,
  methodTimeout: 10,
  replyMethod: 'REQToFileAppend',
};

/** Largest message accepted from any input, in bytes of its JSON form. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

const NAME = /^[A-Za-z0-9_-]{1,128}$/;

/** True for methods whose streams are ordered (`REQ…`), false for `REQn…`. */
export function isOrderedMethod(method: string): boolean {
  return !/^REQn[A-Z]/.test(method);
}

export function isValidName(name: string): boolean {
  return NAME.test(name);
}

type Raw = Record<string, unknown>;

/**
 * Turns one raw input object into one message per target node (`toNodes` fans out).
 * Throws `BosunError` with a code and a message that names the offending field.
 *
 * `localNode` replaces `fromNode` (an input cannot speak for another node) and the
 * `toNode` value `local`.
 */
export function normaliseMessages(
  raw: unknown,
  localNode: string,
  defaults: MessageDefaults,
  now: number,
): Message[] {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new BosunError('BOSUN_BAD_MESSAGE', 'a message must be a JSON object');
  }
  const r = fromStewardForm(raw as Raw);
  const targets = targetsOf(r, localNode);
  const method = str(r, 'method');
  if (method === undefined || method === '') {
    throw new BosunError('BOSUN_MISSING_FIELD', 'field "method" is required');
  }
  if (!isValidName(method)) throw new BosunError('BOSUN_BAD_MESSAGE', `method "${method}" is not a valid method name`);

  const methodArgs = strArray(r, 'methodArgs') ?? [];
  let data: string | undefined;
  if (r.data !== undefined && r.data !== null) {
    if (typeof r.data !== 'string') throw new BosunError('BOSUN_BAD_MESSAGE', 'field "data" must be a string or an array of strings');
    data = r.data;
  }
  const replyMethod = str(r, 'replyMethod') || defaults.replyMethod;
  if (replyMethod !== 'none' && !isValidName(replyMethod)) {
    throw new BosunError('BOSUN_BAD_MESSAGE', `replyMethod "${replyMethod}" is not a valid method name`);
  }
  const id = str(r, 'id');
  const base = {
    fromNode: localNode,
    method,
    methodArgs,
    ...(data !== undefined ? { data } : {}),
    replyMethod,
    replyMethodArgs: strArray(r, 'replyMethodArgs') ?? [],
    ACKTimeout: positive(r, 'ACKTimeout') ?? defaults.ACKTimeout,
    retries: retriesOf(r) ?? defaults.retries,
    retryWait: nonNegative(r, 'retryWait') ?? defaults.retryWait,
    ...optional('replyACKTimeout', positive(r, 'replyACKTimeout')),
    ...optional('replyRetries', retriesOf(r, 'replyRetries')),
    methodTimeout: methodTimeoutOf(r) ?? defaults.methodTimeout,
    ...optional('directory', pathPart(r, 'directory')),
    ...optional('fileName', pathPart(r, 'fileName')),
    ...optional('schedule', scheduleOf(r)),
    acceptedAt: now,
  };
  const relayViaNode = str(r, 'relayViaNode') || undefined;
  if (relayViaNode !== undefined && !isValidName(relayViaNode)) {
    throw new BosunError('BOSUN_BAD_MESSAGE', `relayViaNode "${relayViaNode}" is not a valid node name`);
  }
  if (id !== undefined && (id === '' || id.length > 128)) {
    throw new BosunError('BOSUN_BAD_MESSAGE', 'field "id" must be a non-empty string of at most 128 characters');
  }
  return targets.map((toNode) => ({
    id: id !== undefined && targets.length === 1 ? id : randomUUID(),
    toNode,
    ...base,
    // A relay that is the sender or the target itself has nothing to carry.
    ...(relayViaNode !== undefined && relayViaNode !== toNode && relayViaNode !== localNode ? { relayViaNode } : {}),
  }));
}

function targetsOf(r: Raw, localNode: string): string[] {
  const toNodes = r.toNodes === undefined || r.toNodes === null ? undefined : strArray(r, 'toNodes');
  const toNode = str(r, 'toNode');
  const targets = toNodes && toNodes.length > 0 ? toNodes : toNode ? [toNode] : [];
  if (targets.length === 0) throw new BosunError('BOSUN_MISSING_FIELD', 'field "toNode" (or "toNodes") is required');
  const resolved = [...new Set(targets.map((t) => (t === 'local' ? localNode : t)))];
  for (const t of resolved) {
    if (!isValidName(t)) throw new BosunError('BOSUN_BAD_MESSAGE', `node name "${t}" may only hold letters, digits, "-" and "_"`);
  }
  return resolved;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function str(r: Raw, key: string): string | undefined {
  const v = r[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new BosunError('BOSUN_BAD_MESSAGE', `field "${key}" must be a string`);
  return v;
}

function strArray(r: Raw, key: string): string[] | undefined {
  const v = r[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw new BosunError('BOSUN_BAD_MESSAGE', `field "${key}" must be an array of strings`);
  }
  return v as string[];
}

function num(r: Raw, key: string): number | undefined {
  const v = r[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BosunError('BOSUN_BAD_MESSAGE', `field "${key}" must be a number`);
  return v;
}

function positive(r: Raw, key: string): number | undefined {
  const v = num(r, key);
  // steward treats ACKTimeout < 1 as "no ACK"; bosun always ACKs, so a missing or
  // non-positive value takes the default instead.
  return v === undefined || v <= 0 ? undefined : v;
}

function nonNegative(r: Raw, key: string): number | undefined {
  const v = num(r, key);
  if (v !== undefined && v < 0) throw new BosunError('BOSUN_BAD_MESSAGE', `field "${key}" must not be negative`);
  return v;
}

function retriesOf(r: Raw, key = 'retries'): number | undefined {
  const v = num(r, key);
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < -1) throw new BosunError('BOSUN_BAD_MESSAGE', `field "${key}" must be a whole number, -1 for forever`);
  return v;
}

function methodTimeoutOf(r: Raw): number | undefined {
  const v = num(r, 'methodTimeout');
  if (v === undefined || v === 0) return undefined;
  if (v < 0 && v !== -1) throw new BosunError('BOSUN_BAD_MESSAGE', 'field "methodTimeout" must be positive, or -1 for no limit');
  return v;
}

function scheduleOf(r: Raw): [number, number] | undefined {
  const v = r.schedule;
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) {
    throw new BosunError('BOSUN_BAD_MESSAGE', 'field "schedule" must be [intervalSeconds, totalSeconds], both positive numbers');
  }
  if (v[0] < 0.01) throw new BosunError('BOSUN_BAD_MESSAGE', 'a schedule interval must be at least 0.01 seconds');
  return [v[0], v[1]];
}

/**
 * `directory` or `fileName`. What would climb out of the files folder on any node is
 * refused here, at the input, where the sender sees it; the node that writes checks again
 * (symbolic links included). An absolute `directory` is a folder under the files folder.
 */
function pathPart(r: Raw, key: 'directory' | 'fileName'): string | undefined {
  const v = str(r, key);
  if (v === undefined || v === '') return undefined;
  if (v.includes('\0')) throw new BosunError('BOSUN_BAD_MESSAGE', `field "${key}" must not contain NUL bytes`);
  if (climbsOut(v, { rooted: key === 'directory' })) {
    throw new BosunError('BOSUN_PATH_OUTSIDE_ROOT', `${key} "${v}" would leave the files folder`);
  }
  return v;
}
