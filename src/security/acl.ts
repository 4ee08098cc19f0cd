import { BosunError } from '../errors.ts';
import { isValidName } from '../message.ts';
import { canonicalJson } from './canonical.ts';

/**
 * Access control: which nodes may send which methods, and which commands a sender may
 * run. Central keeps an `AclConfig` (with groups); each node gets the `NodeAcl` that
 * applies to it, groups expanded, signed by central.
 *
 * Names in a config: a node name, a group (`grp_…`), or `*` (every node with a known key).
 * Node groups and command groups are separate name spaces.
 *
 * Defaults, when no rule names a sender:
 * - a method may be sent by central and by the node itself;
 * - a command method may run any command for those two, nothing for anyone else.
 * A method rule adds senders to that default. A command rule for a sender (or `*`)
 * allows that sender the command methods, restricted to the rule's commands; `*` rules
 * never restrict central or the node itself, a rule naming them explicitly does.
 */

/**
 * A command pattern, matched against `methodArgs` element by element: a literal
 * argument, `*` for any one argument, or, as the last element only, `**` for any number
 * of further arguments (none included).
 */
export type CommandPattern = string[];

export interface AclConfig {
  /** `grp_…` → node names. */
  nodeGroups: Record<string, string[]>;
  /** `grp_…` → command patterns. */
  commandGroups: Record<string, CommandPattern[]>;
  /** host (node, node group, `*`) → method → senders (nodes, node groups, `*`). */
  methods: Record<string, Record<string, string[]>>;
  /** host → sender → command patterns, or names of command groups. */
  commands: Record<string, Record<string, Array<CommandPattern | string>>>;
}

/** The rules that apply on one node: groups expanded, only `*` left as a wildcard. */
export interface NodeAcl {
  /** method → senders besides the defaults (node names or `*`). */
  methods: Record<string, string[]>;
  /** sender (node name or `*`) → command patterns. */
  commands: Record<string, CommandPattern[]>;
}

/** The methods whose `methodArgs` are a command to run. */
export const COMMAND_METHODS: ReadonlySet<string> = new Set(['REQCliCommand', 'REQnCliCommand', 'REQnCliCommandCont']);

export const EMPTY_ACL_CONFIG: AclConfig = { nodeGroups: {}, commandGroups: {}, methods: {}, commands: {} };
export const EMPTY_NODE_ACL: NodeAcl = { methods: {}, commands: {} };

const GROUP = /^grp_[A-Za-z0-9_-]{1,124}$/;
const LIMITS = { entries: 10_000, patternArgs: 256, argChars: 4096 };

export const isGroupName = (name: string): boolean => GROUP.test(name);

// ---- matching ----------------------------------------------------------------------

export function matchesPattern(pattern: CommandPattern, argv: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p === '**' && i === pattern.length - 1) return true;
    if (i >= argv.length) return false;
    if (p !== '*' && p !== argv[i]) return false;
  }
  return pattern.length === argv.length;
}

export interface AclSubject {
  /** The node that checks. */
  node: string;
  central: string;
}

/** Central and the node itself: the senders every method takes by default. */
function isDefaultSender(at: AclSubject, sender: string): boolean {
  return sender === at.central || sender === at.node;
}

/** The command rules that apply to `sender`, or undefined when none do (defaults apply). */
function commandRules(acl: NodeAcl, at: AclSubject, sender: string): CommandPattern[] | undefined {
  const own = acl.commands[sender];
  const any = isDefaultSender(at, sender) ? undefined : acl.commands['*'];
  if (own === undefined && any === undefined) return undefined;
  return [...(own ?? []), ...(any ?? [])];
}

/** May `sender` send `method` to this node? */
export function methodAllowed(acl: NodeAcl, at: AclSubject, sender: string, method: string): boolean {
  if (isDefaultSender(at, sender)) return true;
  const senders = acl.methods[method];
  if (senders && (senders.includes(sender) || senders.includes('*'))) return true;
  return COMMAND_METHODS.has(method) && commandRules(acl, at, sender) !== undefined;
}

/** May `sender` run `argv` here (after `methodAllowed`)? */
export function commandAllowed(acl: NodeAcl, at: AclSubject, sender: string, argv: readonly string[]): boolean {
  const rules = commandRules(acl, at, sender);
  if (rules === undefined) return isDefaultSender(at, sender);
  return rules.some((p) => matchesPattern(p, argv));
}

// ---- the effective ACL of one node ---------------------------------------------------

/** The rules of `config` that apply on `host`, groups expanded, sorted and without duplicates. */
export function nodeAclOf(config: AclConfig, host: string): NodeAcl {
  const hostKeys = new Set(['*', host]);
  for (const [group, members] of Object.entries(config.nodeGroups)) if (members.includes(host)) hostKeys.add(group);
  const expandSender = (s: string): string[] => (isGroupName(s) ? (config.nodeGroups[s] ?? []) : [s]);
  const methods = new Map<string, Set<string>>();
  const commands = new Map<string, Map<string, CommandPattern>>();
  for (const key of hostKeys) {
    for (const [method, senders] of Object.entries(config.methods[key] ?? {})) {
      let set = methods.get(method);
      if (!set) methods.set(method, (set = new Set()));
      for (const s of senders.flatMap(expandSender)) set.add(s);
    }
    for (const [sender, items] of Object.entries(config.commands[key] ?? {})) {
      const patterns = items.flatMap((item) => (typeof item === 'string' ? (config.commandGroups[item] ?? []) : [item]));
      for (const s of expandSender(sender)) {
        let map = commands.get(s);
        if (!map) commands.set(s, (map = new Map()));
        for (const p of patterns) map.set(JSON.stringify(p), p);
      }
    }
  }
  return {
    methods: Object.fromEntries([...methods].sort(byKey).map(([m, s]) => [m, [...s].sort()])),
    commands: Object.fromEntries(
      [...commands].sort(byKey).map(([s, map]) => [s, [...map].sort(byKey).map(([, p]) => p)]),
    ),
  };
}

function byKey<T>(a: [string, T], b: [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

// ---- editing (each returns a new config; the old one is never changed) ----------------

export type AclEdit =
  | { op: 'add' | 'delete'; kind: 'command'; host: string; sender: string; item?: CommandPattern | string }
  | { op: 'add' | 'delete'; kind: 'method'; host: string; method: string; senders: string[] }
  | { op: 'add' | 'delete'; kind: 'nodeGroup'; group: string; nodes: string[] }
  | { op: 'add' | 'delete'; kind: 'commandGroup'; group: string; pattern?: CommandPattern };

/**
 * `methodArgs` of `REQAclAdd`/`REQAclDelete` as an edit:
 * - `command HOST SENDER ARG…` (or `command HOST SENDER grp_COMMANDS`; delete without
 *   ARG removes every command of SENDER on HOST)
 * - `method HOST METHOD SENDER…` (delete without SENDER removes the method's rule)
 * - `nodeGroup grp_NAME NODE…` (delete without NODE removes the group)
 * - `commandGroup grp_NAME ARG…` (delete without ARG removes the group)
 */
export function parseAclEdit(op: 'add' | 'delete', args: readonly string[]): AclEdit {
  const [kind, a, b, ...rest] = args;
  const need = (v: string | undefined, what: string): string => {
    if (v === undefined || v === '') throw usage(`${kind ?? 'kind'} needs ${what}`);
    return v;
  };
  switch (kind) {
    case 'command': {
      const host = target(need(a, 'a HOST'), 'host');
      const sender = target(need(b, 'a SENDER'), 'sender');
      if (rest.length === 0) {
        if (op === 'add') throw usage('command add needs the command: ARG… or a command group');
        return { op, kind, host, sender };
      }
      const item = rest.length === 1 && isGroupName(rest[0]!) ? rest[0]! : pattern(rest);
      return { op, kind, host, sender, item };
    }
    case 'method': {
      const host = target(need(a, 'a HOST'), 'host');
      const method = need(b, 'a METHOD');
      if (!isValidName(method)) throw usage(`"${method}" is not a method name`);
      if (op === 'add' && rest.length === 0) throw usage('method add needs at least one SENDER');
      return { op, kind, host, method, senders: rest.map((s) => target(s, 'sender')) };
    }
    case 'nodeGroup': {
      const group = groupName(need(a, 'a group name'));
      const nodes = [b, ...rest].filter((x): x is string => x !== undefined).map((n) => nodeName(n));
      if (op === 'add' && nodes.length === 0) throw usage('nodeGroup add needs at least one NODE');
      return { op, kind, group, nodes };
    }
    case 'commandGroup': {
      const group = groupName(need(a, 'a group name'));
      const argv = [b, ...rest].filter((x): x is string => x !== undefined);
      if (op === 'add' && argv.length === 0) throw usage('commandGroup add needs the command: ARG…');
      return { op, kind, group, ...(argv.length > 0 ? { pattern: pattern(argv) } : {}) };
    }
    default:
      throw usage(`the first argument says what to ${op}: command, method, nodeGroup or commandGroup (not "${kind ?? ''}")`);
  }
}

/**
 * Applies one edit. Refused, with nothing changed: deleting what is not there (a typo
 * should not look like success), and any edit that leaves a rule naming a group that does
 * not exist (such a rule would silently allow nobody, or nothing).
 */
export function applyAclEdit(config: AclConfig, edit: AclEdit): AclConfig {
  const next = editedCopy(config, edit);
  if (edit.op === 'delete' && sameConfig(next, config)) throw notFound(`nothing to delete: ${describeEdit(edit)} is not in the ACL`);
  const before = new Set(unknownGroupUses(config).map((u) => u.text));
  const introduced = unknownGroupUses(next).filter((u) => !before.has(u.text));
  const dangling = introduced[0];
  if (dangling === undefined) return next;
  if (edit.op === 'delete') throw notFound(`${dangling.group} is still used (${dangling.text}): delete those rules first; nothing changed`);
  const make = dangling.kind === 'node' ? 'nodeGroup' : 'commandGroup';
  throw notFound(`${dangling.group} is no ${dangling.kind} group: make it first (${make} ${dangling.group} …); nothing changed`);
}

export function sameConfig(a: AclConfig, b: AclConfig): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** Every place a config names a group it does not define, for people. */
export function unknownGroupUses(config: AclConfig): Array<{ group: string; kind: 'node' | 'command'; text: string }> {
  const uses: Array<{ group: string; kind: 'node' | 'command'; text: string }> = [];
  const node = (name: string, text: string) => {
    if (isGroupName(name) && !Object.hasOwn(config.nodeGroups, name)) uses.push({ group: name, kind: 'node', text });
  };
  for (const [host, methods] of Object.entries(config.methods)) {
    for (const [method, senders] of Object.entries(methods)) {
      node(host, `method ${host} ${method}`);
      for (const s of senders) node(s, `method ${host} ${method} ${s}`);
    }
  }
  for (const [host, senders] of Object.entries(config.commands)) {
    for (const [sender, items] of Object.entries(senders)) {
      node(host, `command ${host} ${sender}`);
      node(sender, `command ${host} ${sender}`);
      for (const item of items) {
        if (typeof item === 'string' && !Object.hasOwn(config.commandGroups, item)) uses.push({ group: item, kind: 'command', text: `command ${host} ${sender} ${item}` });
      }
    }
  }
  return uses;
}

function describeEdit(edit: AclEdit): string {
  switch (edit.kind) {
    case 'command':
      return `command ${edit.host} ${edit.sender}${edit.item === undefined ? '' : ` ${typeof edit.item === 'string' ? edit.item : edit.item.join(' ')}`}`;
    case 'method':
      return `method ${edit.host} ${edit.method}${edit.senders.length ? ` ${edit.senders.join(' ')}` : ''}`;
    case 'nodeGroup':
      return `nodeGroup ${edit.group}${edit.nodes.length ? ` ${edit.nodes.join(' ')}` : ''}`;
    case 'commandGroup':
      return `commandGroup ${edit.group}${edit.pattern ? ` ${edit.pattern.join(' ')}` : ''}`;
  }
}

function editedCopy(config: AclConfig, edit: AclEdit): AclConfig {
  const next = structuredClone(config);
  switch (edit.kind) {
    case 'command': {
      const senders = (next.commands[edit.host] ??= {});
      if (edit.op === 'add') {
        const items = (senders[edit.sender] ??= []);
        if (!items.some((i) => same(i, edit.item!))) items.push(edit.item!);
      } else if (edit.item === undefined) delete senders[edit.sender];
      else if (senders[edit.sender]) {
        senders[edit.sender] = senders[edit.sender]!.filter((i) => !same(i, edit.item!));
        if (senders[edit.sender]!.length === 0) delete senders[edit.sender];
      }
      if (Object.keys(senders).length === 0) delete next.commands[edit.host];
      break;
    }
    case 'method': {
      const methods = (next.methods[edit.host] ??= {});
      if (edit.op === 'add') methods[edit.method] = [...new Set([...(methods[edit.method] ?? []), ...edit.senders])];
      else if (edit.senders.length === 0) delete methods[edit.method];
      else {
        methods[edit.method] = (methods[edit.method] ?? []).filter((s) => !edit.senders.includes(s));
        if (methods[edit.method]!.length === 0) delete methods[edit.method];
      }
      if (Object.keys(methods).length === 0) delete next.methods[edit.host];
      break;
    }
    case 'nodeGroup': {
      if (edit.op === 'add') next.nodeGroups[edit.group] = [...new Set([...(next.nodeGroups[edit.group] ?? []), ...edit.nodes])];
      else if (edit.nodes.length === 0) delete next.nodeGroups[edit.group];
      else {
        next.nodeGroups[edit.group] = (next.nodeGroups[edit.group] ?? []).filter((n) => !edit.nodes.includes(n));
        if (next.nodeGroups[edit.group]!.length === 0) delete next.nodeGroups[edit.group];
      }
      break;
    }
    case 'commandGroup': {
      if (edit.op === 'add') {
        const list = (next.commandGroups[edit.group] ??= []);
        if (!list.some((p) => same(p, edit.pattern!))) list.push(edit.pattern!);
      } else if (edit.pattern === undefined) delete next.commandGroups[edit.group];
      else {
        next.commandGroups[edit.group] = (next.commandGroups[edit.group] ?? []).filter((p) => !same(p, edit.pattern!));
        if (next.commandGroups[edit.group]!.length === 0) delete next.commandGroups[edit.group];
      }
      break;
    }
  }
  return validateAclConfig(next);
}

function same(a: CommandPattern | string, b: CommandPattern | string): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// ---- validation ------------------------------------------------------------------------

/**
 * Checks a whole config (an import, or one read back from the store) and returns it
 * with only the known members. Throws `BOSUN_BAD_MESSAGE` naming the first fault.
 */
export function validateAclConfig(value: unknown): AclConfig {
  const root = record(value, 'the ACL');
  let entries = 0;
  const count = () => {
    if (++entries > LIMITS.entries) throw bad(`the ACL has more than ${LIMITS.entries} entries`);
  };
  const nodeGroups: AclConfig['nodeGroups'] = {};
  for (const [group, members] of Object.entries(record(root.nodeGroups ?? {}, 'nodeGroups'))) {
    groupName(group, bad);
    nodeGroups[group] = strings(members, `nodeGroups.${group}`).map((n) => (count(), nodeName(n, bad)));
  }
  const commandGroups: AclConfig['commandGroups'] = {};
  for (const [group, patterns] of Object.entries(record(root.commandGroups ?? {}, 'commandGroups'))) {
    groupName(group, bad);
    commandGroups[group] = array(patterns, `commandGroups.${group}`).map((p) => (count(), pattern(strings(p, `commandGroups.${group}`), bad)));
  }
  const methods: AclConfig['methods'] = {};
  for (const [host, byMethod] of Object.entries(record(root.methods ?? {}, 'methods'))) {
    target(host, 'host', bad);
    methods[host] = {};
    for (const [method, senders] of Object.entries(record(byMethod, `methods.${host}`))) {
      if (!isValidName(method)) throw bad(`methods.${host}: "${method}" is not a method name`);
      methods[host]![method] = strings(senders, `methods.${host}.${method}`).map((s) => (count(), target(s, 'sender', bad)));
    }
  }
  const commands: AclConfig['commands'] = {};
  for (const [host, bySender] of Object.entries(record(root.commands ?? {}, 'commands'))) {
    target(host, 'host', bad);
    commands[host] = {};
    for (const [sender, items] of Object.entries(record(bySender, `commands.${host}`))) {
      target(sender, 'sender', bad);
      commands[host]![sender] = array(items, `commands.${host}.${sender}`).map((item) => {
        count();
        if (typeof item === 'string') {
          if (!isGroupName(item)) throw bad(`commands.${host}.${sender}: "${item}" is neither a command (an array) nor a command group`);
          return item;
        }
        return pattern(strings(item, `commands.${host}.${sender}`), bad);
      });
    }
  }
  return { nodeGroups, commandGroups, methods, commands };
}

/** Checks a `NodeAcl` as it arrives in a signed update. */
export function validateNodeAcl(value: unknown): NodeAcl {
  const root = record(value, 'the node ACL');
  const methods: NodeAcl['methods'] = {};
  for (const [method, senders] of Object.entries(record(root.methods ?? {}, 'methods'))) {
    if (!isValidName(method)) throw bad(`"${method}" is not a method name`);
    methods[method] = strings(senders, `methods.${method}`).map((s) => (s === '*' ? s : nodeName(s, bad)));
  }
  const commands: NodeAcl['commands'] = {};
  for (const [sender, patterns] of Object.entries(record(root.commands ?? {}, 'commands'))) {
    if (sender !== '*') nodeName(sender, bad);
    commands[sender] = array(patterns, `commands.${sender}`).map((p) => pattern(strings(p, `commands.${sender}`), bad));
  }
  return { methods, commands };
}

type Fail = (message: string) => BosunError;
const bad: Fail = (message) => new BosunError('BOSUN_BAD_MESSAGE', message);
const notFound: Fail = (message) => new BosunError('BOSUN_NOT_FOUND', message);
const usage: Fail = bad;

function record(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function array(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw bad(`${what} must be an array`);
  return v;
}

function strings(v: unknown, what: string): string[] {
  const a = array(v, what);
  if (!a.every((x) => typeof x === 'string')) throw bad(`${what} must hold strings only`);
  return a as string[];
}

function pattern(argv: string[], fail: Fail = usage): CommandPattern {
  if (argv.length === 0) throw fail('a command pattern needs at least one element');
  if (argv.length > LIMITS.patternArgs) throw fail(`a command pattern has at most ${LIMITS.patternArgs} elements`);
  argv.forEach((a, i) => {
    if (a.length > LIMITS.argChars) throw fail(`a command pattern element is at most ${LIMITS.argChars} characters`);
    if (a === '**' && i !== argv.length - 1) throw fail('"**" may only be the last element of a command pattern');
  });
  return [...argv];
}

function nodeName(n: string, fail: Fail = usage): string {
  if (!isValidName(n) || isGroupName(n)) throw fail(`"${n}" is not a node name`);
  return n;
}

function groupName(g: string, fail: Fail = usage): string {
  if (!isGroupName(g)) throw fail(`"${g}" is not a group name: groups are named grp_<letters, digits, - and _>`);
  return g;
}

function target(n: string, what: string, fail: Fail = usage): string {
  if (n === '*' || isGroupName(n) || isValidName(n)) return n;
  throw fail(`"${n}" is not a ${what}: a node name, a grp_ group or *`);
}
