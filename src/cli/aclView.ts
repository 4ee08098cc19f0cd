import { COMMAND_METHODS, type AclConfig, type CommandPattern, type NodeAcl } from '../security/acl.ts';
import { formatTable } from './table.ts';

/** The ACL for people, as `bosun acl ls` prints it. */

/** A command pattern as typed: elements space-separated, quoted only when they must be. */
export function formatPattern(pattern: CommandPattern | string): string {
  if (typeof pattern === 'string') return pattern;
  return pattern.map((a) => (a === '' || /[\s"'\\]/.test(a) ? JSON.stringify(a) : a)).join(' ');
}

/** Rows for one key with several values: the key on the first row only. */
function grouped(key: string, values: string[]): string[][] {
  return values.map((v, i) => [i === 0 ? key : '', v]);
}

function section(title: string, rows: string[][]): string {
  return rows.length > 1 ? `${title}\n${indent(formatTable(rows))}` : '';
}

function indent(text: string): string {
  return text.replace(/^(?=.)/gm, '  ');
}

const COMMAND_METHOD_LIST = [...COMMAND_METHODS].join(', ');

/** The whole ACL on central: groups, method rules, command rules. */
export function formatAclConfig(acl: AclConfig): string {
  const nodeGroups = Object.entries(acl.nodeGroups).map(([group, nodes]) => [group, nodes.join(' ')]);
  const commandGroups = Object.entries(acl.commandGroups).flatMap(([group, patterns]) => grouped(group, patterns.map(formatPattern)));
  const methods = Object.entries(acl.methods).flatMap(([host, byMethod]) =>
    Object.entries(byMethod).map(([method, senders]) => [method, host, senders.join(' ')]),
  );
  const commands = Object.entries(acl.commands).flatMap(([host, bySender]) =>
    Object.entries(bySender).flatMap(([sender, items]) => items.map((item, i) => (i === 0 ? [host, sender, formatPattern(item)] : ['', '', formatPattern(item)]))),
  );
  const text = [
    section('node groups', [['GROUP', 'NODES'], ...nodeGroups]),
    section('command groups', [['GROUP', 'COMMANDS'], ...commandGroups]),
    section('methods: who may send them, besides central and the node itself', [['METHOD', 'ON', 'FROM'], ...methods.sort(byFirst)]),
    section(`commands (${COMMAND_METHOD_LIST}): what each sender may run`, [['ON', 'FROM', 'MAY RUN'], ...commands]),
  ].filter(Boolean);
  if (text.length === 0) return 'no rules: central and each node itself may send every method and run every command; no other node may\n';
  return text.join('\n');
}

/** The rules one node holds, groups expanded: what it checks each message against. */
export function formatNodeAcl(node: string, acl: NodeAcl, central: string): string {
  const methods = Object.entries(acl.methods).map(([method, senders]) => [method, senders.join(' ')]);
  const commands = Object.entries(acl.commands).flatMap(([sender, patterns]) => grouped(sender, patterns.map(formatPattern)));
  const centralName = central === 'central' ? central : `${central} (central)`;
  const defaults = node === central ? centralName : `${centralName} and ${node} itself`;
  return [
    `rules on ${node}, groups expanded ("*" is every node with an allowed key):\n` +
      `${defaults} may send every method and run every command, unless a command rule names them\n`,
    section('methods: who else may send them', [['METHOD', 'FROM'], ...methods]) || 'methods: nobody else may send any\n',
    section(`commands (${COMMAND_METHOD_LIST}): what each sender may run`, [['FROM', 'MAY RUN'], ...commands]) || 'commands: nobody else may run any\n',
  ].join('\n');
}

function byFirst(a: string[], b: string[]): number {
  return a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0;
}
