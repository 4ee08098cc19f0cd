import { BosunError } from './errors.ts';
import { keysLikeGo } from './keysLikeGo.ts';

/** Every message field an input takes, spelt as bosun spells it (keys match without regard to case). */
export const MESSAGE_FIELDS = [
  'toNode',
  'toNodes',
  'fromNode',
  'method',
  'methodArgs',
  'data',
  'id',
  'replyMethod',
  'replyMethodArgs',
  'ACKTimeout',
  'retries',
  'retryWait',
  'replyACKTimeout',
  'replyRetries',
  'methodTimeout',
  'directory',
  'fileName',
  'schedule',
  'relayViaNode',
  'operation',
  'commandOrEvent',
] as const;

/** The names steward's first README used for what are now `REQCliCommand` and `REQToFileAppend`. */
const METHOD_ALIASES: Readonly<Record<string, string>> = {
  shellCommand: 'REQCliCommand',
  textLogging: 'REQToFileAppend',
};

/** Methods whose `data` is text to write or print: an array there is lines. */
const LINE_METHODS = new Set(['REQToFileAppend', 'REQToFile', 'REQToConsole', 'REQErrorLog']);

/** The method that takes steward's `operation` field. */
const OPERATION_METHOD = 'REQOpCommand';

/**
 * Rewrites one input object written in steward's form into bosun's own (canonical) form,
 * so that every message of steward's READMEs means what it meant there:
 *
 * - keys match without regard to case, as Go decoded them (`"MethodTimeout": 7`);
 * - `operation` (`{"opCmd":"ps"}`, `startProc`/`stopProc` with `opArg`) becomes
 *   `methodArgs[0]` of `REQOpCommand`, as a JSON text;
 * - a `data` array is lines for the methods that write or print text (`REQToFileAppend`,
 *   `REQToFile`, `REQToConsole`): each element one line, newline-terminated; for every other
 *   method it is the arguments (the argv of a command, the URL of `REQHttpGet`, the file of
 *   `REQTailFile`) when `methodArgs` is not given;
 * - `commandOrEvent` is dropped: every bosun message is ACKed;
 * - the first README's method names `shellCommand` and `textLogging` are today's
 *   `REQCliCommand` and `REQToFileAppend`.
 *
 * An object already in bosun's form comes back unchanged.
 */
export function fromStewardForm(raw: Record<string, unknown>): Record<string, unknown> {
  const r = keysLikeGo(raw, MESSAGE_FIELDS, 'the message');
  const alias = typeof r.method === 'string' && Object.hasOwn(METHOD_ALIASES, r.method) ? METHOD_ALIASES[r.method] : undefined;
  const hasOperation = r.operation !== undefined && r.operation !== null;
  // Most messages are in bosun's form already: they pass through without a copy.
  if (alias === undefined && !hasOperation && !Array.isArray(r.data) && !('commandOrEvent' in r) && !('operation' in r)) return r;
  const { commandOrEvent: _kind, operation: _operation, ...rest } = r;
  const canonical: Record<string, unknown> = rest;
  if (alias !== undefined) canonical.method = alias;
  if (hasOperation) canonical.methodArgs = operationArgs(r);
  if (Array.isArray(canonical.data)) Object.assign(canonical, dataArray(canonical, canonical.data));
  return canonical;
}

function operationArgs(r: Record<string, unknown>): string[] {
  const method = typeof r.method === 'string' && Object.hasOwn(METHOD_ALIASES, r.method) ? METHOD_ALIASES[r.method] : r.method;
  if (method !== OPERATION_METHOD) {
    throw new BosunError('BOSUN_BAD_MESSAGE', `field "operation" is for ${OPERATION_METHOD} only, not ${JSON.stringify(method ?? null)}`);
  }
  const op = r.operation;
  if (op === null || typeof op !== 'object' || Array.isArray(op)) {
    throw new BosunError('BOSUN_BAD_MESSAGE', 'field "operation" must be an object like {"opCmd":"ps"}');
  }
  if (Array.isArray(r.methodArgs) && r.methodArgs.length > 0) {
    throw new BosunError('BOSUN_BAD_MESSAGE', 'give the operation either as "operation" or as methodArgs[0], not both');
  }
  // REQOpCommand checks its content (keys of any case included) where it runs.
  return [JSON.stringify(op)];
}

function dataArray(r: Record<string, unknown>, data: unknown[]): { data?: string; methodArgs?: unknown } {
  if (!data.every((x) => typeof x === 'string')) {
    throw new BosunError('BOSUN_BAD_MESSAGE', 'field "data" must be a string or an array of strings');
  }
  const items = data as string[];
  if (typeof r.method === 'string' && LINE_METHODS.has(r.method)) {
    return { data: items.map((line) => (line.endsWith('\n') ? line : `${line}\n`)).join('') };
  }
  const methodArgs = r.methodArgs;
  if (methodArgs === undefined || methodArgs === null || (Array.isArray(methodArgs) && methodArgs.length === 0)) {
    return { data: undefined, methodArgs: items };
  }
  // Both given: methodArgs are the arguments, the array is payload (ctrl's {{CTRL_DATA}}).
  return { data: items.join(' ') };
}
