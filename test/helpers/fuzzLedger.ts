import { expect } from 'vitest';
import { DELIVERED_DIR, DELIVERED_FILE, ID, SELF, TOKEN } from './fuzzInputs.ts';

// The checker of the fuzz test of the message inputs (test/reliability.fuzz.test.ts): the
// ledger of what the daemon accepted, and the checks of every answer against it.

/** What the daemon accepted, for the delivery check at the end. */
export const ledger = {
  inputs: { bytes: 0, bytesAlone: 0, json: 0, mutated: 0, http: 0 },
  /** Connections (or requests) per input. */
  byInput: new Map<string, number>(),
  httpStatus: new Map<number, number>(),
  lines: 0,
  accepted: 0,
  errors: new Map<string, number>(),
  /** Accepted per method, for messages to this node whose method is known. */
  acceptedByMethod: new Map<string, number>(),
  /** Tokens of accepted REQToFileAppend messages that must appear in the delivered file. */
  tokens: new Set<string>(),
  probes: 0,
};
let nextToken = 0;
let nextId = 0;
let nextProbe = 0;

export interface Answer {
  id?: unknown;
  toNode?: unknown;
  status?: unknown;
  error?: { code?: unknown; message?: unknown };
}

/** Fills in the placeholders: every token and id sent is unique. */
export function materialise(value: unknown): { line: string; value: unknown } {
  const line = JSON.stringify(value)
    .replaceAll(TOKEN, () => `fztok_${nextToken++}_end`)
    .replaceAll(ID, () => `fzid_${nextId++}`);
  return { line, value: JSON.parse(line) };
}

export function probe(): { id: string; line: string } {
  const id = `probe-${nextProbe++}`;
  return { id, line: JSON.stringify({ id, toNode: 'local', method: 'REQNone', replyMethod: 'none' }) };
}

/** Every answer is one JSON object: accepted with its id, or an error a person can read. */
export function checkAnswer(line: string, context: () => string): Answer {
  let answer: Answer;
  try {
    answer = JSON.parse(line) as Answer;
  } catch {
    throw new Error(`an answer line is not JSON: ${JSON.stringify(line.slice(0, 300))}\n${context()}`);
  }
  ledger.lines++;
  if (answer.status === 'accepted') {
    expect(typeof answer.id === 'string' && typeof answer.toNode === 'string', `accepted answer ${line}`).toBe(true);
    ledger.accepted++;
    return answer;
  }
  // An id accepted before (the fuzz repeats ids) is answered with its first acceptance and queues nothing.
  if (answer.status === 'duplicate') {
    expect(typeof answer.id === 'string' && typeof answer.toNode === 'string', `duplicate answer ${line}`).toBe(true);
    return answer;
  }
  const code = answer.error?.code;
  const message = answer.error?.message;
  if (typeof code !== 'string' || typeof message !== 'string' || message === '') {
    throw new Error(`an answer is neither accepted nor a {code,message} error: ${line.slice(0, 300)}\n${context()}`);
  }
  if (!/^BOSUN_[A-Z_]+$/.test(code) || code === 'BOSUN_INTERNAL' || /\n\s+at\s/.test(message)) {
    throw new Error(`an error answer is not a clear bosun error: ${line.slice(0, 600)}\n${context()}`);
  }
  ledger.errors.set(code, (ledger.errors.get(code) ?? 0) + 1);
  return answer;
}

/**
 * Splits a connection's answers at the probes: the answers before probe k belong to
 * input k. Every probe must come back accepted, in order: bad input never costs the
 * valid message after it.
 */
export function segmentsByProbe(lines: string[], probeIds: string[], context: (i: number) => string): Answer[][] {
  const segments: Answer[][] = [];
  let current: Answer[] = [];
  for (const line of lines) {
    const answer = checkAnswer(line, () => context(segments.length));
    if (answer.status === 'accepted' && typeof answer.id === 'string' && answer.id.startsWith('probe-')) {
      const expected = probeIds[segments.length];
      if (answer.id !== expected) throw new Error(`probe ${expected} was not answered next (got ${answer.id})\n${context(segments.length)}`);
      ledger.probes++;
      segments.push(current);
      current = [];
    } else current.push(answer);
  }
  if (segments.length !== probeIds.length || current.length > 0) {
    throw new Error(`${probeIds.length - segments.length} probes unanswered, ${current.length} answers after the last probe\n${context(segments.length)}`);
  }
  count('REQNone', probeIds.length);
  return segments;
}

function count(method: string, n = 1): void {
  ledger.acceptedByMethod.set(method, (ledger.acceptedByMethod.get(method) ?? 0) + n);
}

/**
 * How many answers a JSON value gets: one per message, one error for anything else.
 * Undefined only for a real fan-out (`toNodes` naming several valid nodes), whose count
 * depends on the rest of the message.
 */
function expectedAnswers(value: unknown): number | undefined {
  const fansOut = (item: unknown): boolean => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return false;
    const toNodes = (item as { toNodes?: unknown }).toNodes;
    if (!Array.isArray(toNodes) || !toNodes.every((t) => typeof t === 'string' && /^[A-Za-z0-9_-]{1,128}$/.test(t))) return false;
    return new Set(toNodes.map((t) => (t === 'local' ? SELF : t))).size > 1;
  };
  const items = Array.isArray(value) ? value : [value];
  return items.some(fansOut) ? undefined : items.length;
}

/** Records what the node accepted from a JSON input and checks the answers match its messages. */
export function account(value: unknown, answers: Answer[], describe: () => string): void {
  const expected = expectedAnswers(value);
  if (expected === undefined) {
    expect(answers.length, `answers for ${describe()}`).toBeGreaterThanOrEqual(1);
    return;
  }
  expect(answers.length, `one answer per message for ${describe()}`).toBe(expected);
  const items = Array.isArray(value) ? value : [value];
  items.forEach((item, i) => {
    const answer = answers[i]!;
    if (answer.status !== 'accepted') return;
    const m = item as Record<string, unknown>;
    expect(answer.toNode, `accepted for a node this input did not name: ${describe()}`).toBe(SELF);
    if (typeof m.id === 'string') expect(answer.id, `the accepted id is the message's own: ${describe()}`).toBe(m.id);
    if (typeof m.method === 'string') count(m.method);
    const token = typeof m.data === 'string' ? /fztok_\d+_end/.exec(m.data)?.[0] : undefined;
    if (m.method === 'REQToFileAppend' && token && m.directory === DELIVERED_DIR && m.fileName === DELIVERED_FILE) ledger.tokens.add(token);
  });
}
