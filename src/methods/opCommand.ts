import { BosunError } from '../errors.ts';
import { keysLikeGo } from '../keysLikeGo.ts';
import { isValidName } from '../message.ts';
import type { MethodContext, MethodOperator, MethodResult, MethodSpec, OperatorProcess } from './types.ts';

/**
 * `REQOpCommand`: process control, as in steward. `methodArgs[0]` is a JSON object:
 *
 * - `{"opCmd":"ps"}`: one line per method: method, state, then what the runtime knows
 *   (queued and active runs, allowed nodes) and where the state comes from
 *   (`from=config` or `from=operator`).
 * - `{"opCmd":"startProc","opArg":{"method":"REQHttpGet","allowedNodes":["central"]}}`
 *   (`allowedNodes` optional: every node when left out).
 * - `{"opCmd":"stopProc","opArg":{"method":"REQHttpGet"}}`. `REQOpCommand` itself cannot
 *   be stopped: the node could no longer be controlled from afar.
 * - `{"opCmd":"resetProc","opArg":{"method":"REQHttpGet"}}`: forgets the operator's start
 *   or stop; the method does what the configuration says again.
 *
 * A runtime that keeps process state (bosun's does) has a start or stop durable before
 * this answers, and keeps it across restarts until `resetProc`. `opArg` may also carry
 * steward's `kind` (only `"subscriber"`), `receivingNode` (this node) and `id` (steward's
 * number for one of several processes of a method; bosun has one subscriber per method,
 * so it is checked to be a number and otherwise not used). Keys match without regard to
 * case, as steward's Go decoding did. Steward's `"operation"` field is turned into
 * `methodArgs[0]` when the message is accepted.
 *
 * It works on nodes whose runtime offers `ctx.operator`; others answer
 * `BOSUN_NOT_SUPPORTED`.
 */
export const REQOpCommand: MethodSpec = {
  name: 'REQOpCommand',
  summary: 'Process control: methodArgs[0] is {"opCmd":"ps"|"startProc"|"stopProc"|"resetProc","opArg":{"method":…,"allowedNodes":[…]}}.',
  // Listing changes nothing; starting, stopping or resetting twice leaves the same state.
  idempotent: true,
  handler: opCommand,
};

type OpCommand =
  | { opCmd: 'ps' }
  | { opCmd: 'startProc'; method: string; allowedNodes?: string[]; receivingNode?: string }
  | { opCmd: 'stopProc'; method: string; receivingNode?: string }
  | { opCmd: 'resetProc'; method: string; receivingNode?: string };

async function opCommand(ctx: MethodContext): Promise<MethodResult> {
  const command = parseOpCommand(ctx.message.methodArgs[0]);
  if (command.opCmd !== 'ps' && command.receivingNode !== undefined && command.receivingNode !== ctx.node) {
    throw new BosunError('BOSUN_BAD_MESSAGE', `REQOpCommand: opArg.receivingNode is ${command.receivingNode}, but this is ${ctx.node}`);
  }
  const operator: MethodOperator | undefined = ctx.operator;
  if (!operator) throw new BosunError('BOSUN_NOT_SUPPORTED', `node ${ctx.node}: this node does not offer process control`);
  switch (command.opCmd) {
    case 'ps':
      return { output: formatProcesses(await operator.list()) };
    case 'startProc': {
      await operator.start(command.method, command.allowedNodes);
      const from = command.allowedNodes ? ` for ${command.allowedNodes.join(', ')}` : '';
      return { output: `started ${command.method}${from} on ${ctx.node}${UNTIL_RESET}` };
    }
    case 'stopProc':
      if (command.method === REQOpCommand.name) {
        throw new BosunError('BOSUN_BAD_MESSAGE', `${REQOpCommand.name} cannot stop itself: the node could no longer be controlled`);
      }
      await operator.stop(command.method);
      return { output: `stopped ${command.method} on ${ctx.node}${UNTIL_RESET}` };
    case 'resetProc': {
      const now = await operator.reset(command.method);
      return { output: `${command.method} on ${ctx.node} is as configured: ${formatProcess(now)}` };
    }
  }
}

const UNTIL_RESET = '; kept across restarts until resetProc';

const USAGE =
  'methodArgs[0] must be JSON like {"opCmd":"ps"}, {"opCmd":"startProc","opArg":{"method":"REQHttpGet","allowedNodes":["central"]}}, {"opCmd":"stopProc","opArg":{"method":"REQHttpGet"}} or {"opCmd":"resetProc","opArg":{"method":"REQHttpGet"}}';

/** The opArg keys each command takes; `kind` and `receivingNode` are steward's. */
const OP_ARG_KEYS: Record<Exclude<OpCommand['opCmd'], 'ps'>, readonly string[]> = {
  startProc: ['method', 'allowedNodes', 'kind', 'receivingNode', 'id'],
  stopProc: ['method', 'kind', 'receivingNode', 'id'],
  resetProc: ['method', 'kind', 'receivingNode', 'id'],
};
const OP_ARG_FIELDS = ['method', 'allowedNodes', 'kind', 'receivingNode', 'id'] as const;
const OPERATION_FIELDS = ['opCmd', 'opArg'] as const;

/** Reads and checks `methodArgs[0]`; every refusal names the part that is wrong. */
export function parseOpCommand(arg: string | undefined): OpCommand {
  if (arg === undefined || arg === '') throw bad(`methodArgs[0] is missing; ${USAGE}`);
  let raw: unknown;
  try {
    raw = JSON.parse(arg);
  } catch {
    throw bad(`methodArgs[0] is not valid JSON; ${USAGE}`);
  }
  if (!isPlainObject(raw)) throw bad(`methodArgs[0] must be a JSON object; ${USAGE}`);
  const { opCmd, opArg: rawOpArg } = matchKeys(raw, OPERATION_FIELDS, 'the operation');
  const opArg = isPlainObject(rawOpArg) ? matchKeys(rawOpArg, OP_ARG_FIELDS, 'opArg') : rawOpArg;
  if (opCmd === 'ps') return { opCmd };
  if (opCmd !== 'startProc' && opCmd !== 'stopProc' && opCmd !== 'resetProc') {
    throw bad(`opCmd must be "ps", "startProc", "stopProc" or "resetProc", not ${JSON.stringify(opCmd ?? null)}`);
  }
  if (!isPlainObject(opArg)) throw bad(`${opCmd} needs opArg, an object with "method"`);
  // A misspelt key (say "allowednodes") would silently widen who may send: refuse it.
  const unknown = Object.keys(opArg).filter((k) => !OP_ARG_KEYS[opCmd].includes(k));
  if (unknown.length > 0) throw bad(`${opCmd} takes no opArg.${unknown[0]}; it takes ${OP_ARG_KEYS[opCmd].join(', ')}`);
  const { method, allowedNodes, kind, receivingNode, id } = opArg;
  if (id !== undefined && (typeof id !== 'number' || !Number.isInteger(id))) throw bad(`opArg.id must be a whole number, not ${JSON.stringify(id)}`);
  if (typeof method !== 'string' || !isValidName(method)) throw bad(`opArg.method must be a method name, not ${JSON.stringify(method ?? null)}`);
  if (kind !== undefined && kind !== 'subscriber') throw bad(`opArg.kind must be "subscriber" (the only kind bosun controls), not ${JSON.stringify(kind)}`);
  if (receivingNode !== undefined && (typeof receivingNode !== 'string' || !isValidName(receivingNode))) {
    throw bad(`opArg.receivingNode must be a node name, not ${JSON.stringify(receivingNode)}`);
  }
  const target = { method, ...(receivingNode !== undefined ? { receivingNode } : {}) };
  if (opCmd !== 'startProc' || allowedNodes === undefined) return { opCmd, ...target };
  if (!Array.isArray(allowedNodes) || allowedNodes.length === 0 || !allowedNodes.every((n) => typeof n === 'string' && isValidName(n))) {
    throw bad('opArg.allowedNodes must be a non-empty array of node names');
  }
  return { opCmd, ...target, allowedNodes: allowedNodes as string[] };
}

/** `keysLikeGo`, with its refusal in this method's words. */
function matchKeys(object: Record<string, unknown>, known: readonly string[], where: string): Record<string, unknown> {
  try {
    return keysLikeGo(object, known, where);
  } catch (e) {
    throw bad((e as Error).message);
  }
}

function bad(what: string): BosunError {
  return new BosunError('BOSUN_BAD_MESSAGE', `REQOpCommand: ${what}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function formatProcesses(processes: OperatorProcess[]): string {
  if (processes.length === 0) return 'no method subscribers';
  return [...processes]
    .sort((a, b) => a.method.localeCompare(b.method))
    .map((p) => `${p.method} ${formatProcess(p)}`)
    .join('\n');
}

/** `running queued=0 active=0 allowed=central from=operator`: the state, then what is known. */
function formatProcess(p: OperatorProcess): string {
  const parts = [p.state];
  if (p.queued !== undefined) parts.push(`queued=${p.queued}`);
  if (p.active !== undefined) parts.push(`active=${p.active}`);
  if (p.allowedNodes) parts.push(`allowed=${p.allowedNodes.join(',')}`);
  if (p.source) parts.push(`from=${p.source}`);
  return parts.join(' ');
}
