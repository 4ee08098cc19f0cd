import { BosunError } from '../errors.ts';
import { isValidName } from '../message.ts';
import type { MethodContext, MethodOperator, MethodResult, MethodSpec, OperatorProcess } from './types.ts';

/**
 * `REQOpCommand`: process control, as in steward. `methodArgs[0]` is a JSON object:
 *
 * - `{"opCmd":"ps"}`: one line per method subscriber: method, state, then what the
 *   runtime knows (queued and active runs, allowed nodes).
 * - `{"opCmd":"startProc","opArg":{"method":"REQHttpGet","allowedNodes":["central"]}}`
 *   (`allowedNodes` optional: every node when left out).
 * - `{"opCmd":"stopProc","opArg":{"method":"REQHttpGet"}}`. `REQOpCommand` itself cannot
 *   be stopped: the node could no longer be controlled from afar.
 *
 * It works on nodes whose runtime offers `ctx.operator`; others answer
 * `BOSUN_NOT_SUPPORTED`.
 */
export const REQOpCommand: MethodSpec = {
  name: 'REQOpCommand',
  summary: 'Process control: methodArgs[0] is {"opCmd":"ps"|"startProc"|"stopProc","opArg":{"method":…,"allowedNodes":[…]}}.',
  // Listing changes nothing; starting or stopping twice leaves the same state.
  idempotent: true,
  handler: opCommand,
};

type OpCommand =
  | { opCmd: 'ps' }
  | { opCmd: 'startProc'; method: string; allowedNodes?: string[] }
  | { opCmd: 'stopProc'; method: string };

async function opCommand(ctx: MethodContext): Promise<MethodResult> {
  const command = parseOpCommand(ctx.message.methodArgs[0]);
  const operator: MethodOperator | undefined = ctx.operator;
  if (!operator) throw new BosunError('BOSUN_NOT_SUPPORTED', `node ${ctx.node}: this node does not offer process control`);
  switch (command.opCmd) {
    case 'ps':
      return { output: formatProcesses(await operator.list()) };
    case 'startProc': {
      await operator.start(command.method, command.allowedNodes);
      const from = command.allowedNodes ? ` for ${command.allowedNodes.join(', ')}` : '';
      return { output: `started ${command.method}${from} on ${ctx.node}` };
    }
    case 'stopProc':
      if (command.method === REQOpCommand.name) {
        throw new BosunError('BOSUN_BAD_MESSAGE', `${REQOpCommand.name} cannot stop itself: the node could no longer be controlled`);
      }
      await operator.stop(command.method);
      return { output: `stopped ${command.method} on ${ctx.node}` };
  }
}

const USAGE = 'methodArgs[0] must be JSON like {"opCmd":"ps"}, {"opCmd":"startProc","opArg":{"method":"REQHttpGet"}} or {"opCmd":"stopProc","opArg":{"method":"REQHttpGet"}}';

/** Reads and checks `methodArgs[0]`; every refusal names the part that is wrong. */
export function parseOpCommand(arg: string | undefined): OpCommand {
  const bad = (what: string): BosunError => new BosunError('BOSUN_BAD_MESSAGE', `REQOpCommand: ${what}`);
  if (arg === undefined || arg === '') throw bad(`methodArgs[0] is missing; ${USAGE}`);
  let raw: unknown;
  try {
    raw = JSON.parse(arg);
  } catch {
    throw bad(`methodArgs[0] is not valid JSON; ${USAGE}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad(`methodArgs[0] must be a JSON object; ${USAGE}`);
  const { opCmd, opArg } = raw as { opCmd?: unknown; opArg?: unknown };
  if (opCmd === 'ps') return { opCmd };
  if (opCmd !== 'startProc' && opCmd !== 'stopProc') {
    throw bad(`opCmd must be "ps", "startProc" or "stopProc", not ${JSON.stringify(opCmd ?? null)}`);
  }
  if (opArg === null || typeof opArg !== 'object' || Array.isArray(opArg)) throw bad(`${opCmd} needs opArg, an object with "method"`);
  const { method, allowedNodes } = opArg as { method?: unknown; allowedNodes?: unknown };
  if (typeof method !== 'string' || !isValidName(method)) throw bad(`opArg.method must be a method name, not ${JSON.stringify(method ?? null)}`);
  if (opCmd === 'stopProc') return { opCmd, method };
  if (allowedNodes === undefined) return { opCmd, method };
  if (!Array.isArray(allowedNodes) || allowedNodes.length === 0 || !allowedNodes.every((n) => typeof n === 'string' && isValidName(n))) {
    throw bad('opArg.allowedNodes must be a non-empty array of node names');
  }
  return { opCmd, method, allowedNodes: allowedNodes as string[] };
}

function formatProcesses(processes: OperatorProcess[]): string {
  if (processes.length === 0) return 'no method subscribers';
  return [...processes]
    .sort((a, b) => a.method.localeCompare(b.method))
    .map((p) => {
      const parts = [p.method, p.state];
      if (p.queued !== undefined) parts.push(`queued=${p.queued}`);
      if (p.active !== undefined) parts.push(`active=${p.active}`);
      if (p.allowedNodes) parts.push(`allowed=${p.allowedNodes.join(',')}`);
      return parts.join(' ');
    })
    .join('\n');
}
