import path from 'node:path';
import type { TreeNode } from '../../supervisors/types.ts';
import { BosunError } from '../errors.ts';
import { DEBUG_SOCKET_FILE } from '../inputs/debugSocket.ts';
import { parseCommandArgs } from './args.ts';
import { connectDaemon, daemonAddress, readLines } from './daemonClient.ts';
import type { CliIo } from './io.ts';

/** `bosun tree`: asks the daemon's debug.sock for its tree and prints it. */
export async function runTree(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('tree', args, {
    'data-dir': { type: 'string' },
    node: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return io.help('tree');
  const address = daemonAddress('tree', values, io.env, io.cwd);
  const socket = await connectDaemon(path.join(address.dataDir, DEBUG_SOCKET_FILE), address);
  const lines: string[] = [];
  socket.end('tree\n');
  await readLines(socket, (line) => {
    if (line !== '') lines.push(line);
  });
  const answer = parseAnswer(lines[0]);
  if ('error' in answer) throw new BosunError('BOSUN_INTERRUPTED', `the daemon could not show its tree: ${answer.error.message}`);
  io.stdout.write(values.json ? JSON.stringify(answer) + '\n' : formatTree(answer));
  return 0;
}

function parseAnswer(line: string | undefined): TreeNode | { error: { code: string; message: string } } {
  try {
    if (line === undefined) throw new Error('no answer');
    const answer = JSON.parse(line) as TreeNode | { error: { code: string; message: string } };
    if (answer !== null && typeof answer === 'object' && ('error' in answer || 'id' in answer)) return answer;
  } catch {
    // falls through to the error below
  }
  throw new BosunError('BOSUN_INTERRUPTED', 'the daemon gave no readable answer on its debug socket');
}

/**
 * The tree, one actor per line, children indented under their parent:
 * `id [kind] state restarts=N key=value …`.
 */
export function formatTree(root: TreeNode): string {
  const lines: string[] = [];
  const visit = (node: TreeNode, depth: number): void => {
    const info = Object.entries(node.info ?? {}).map(([key, value]) => `${formatWord(key)}=${formatValue(value)}`);
    lines.push(`${'  '.repeat(depth)}${[node.id, `[${node.kind}]`, node.state, `restarts=${node.restarts}`, ...info].join(' ')}`);
    for (const child of node.children) visit(child, depth + 1);
  };
  visit(root, 0);
  return lines.join('\n') + '\n';
}

/** A key or string value as is when it is one plain word, else quoted, so `k=v` pairs stay unambiguous. */
function formatWord(text: string): string {
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return formatWord(value);
  if (value === undefined) return 'undefined';
  return JSON.stringify(value);
}
