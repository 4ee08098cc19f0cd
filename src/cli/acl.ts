import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BosunError } from '../errors.ts';
import { isValidName } from '../message.ts';
import { nodeAclOf, parseAclEdit, validateAclConfig } from '../security/acl.ts';
import { answerTimeoutMs, parseCommandArgs, UsageError } from './args.ts';
import { formatAclConfig, formatNodeAcl } from './aclView.ts';
import { askDaemon, daemonAddress, printRefusal } from './daemonClient.ts';
import type { CliIo } from './io.ts';

/**
 * `bosun acl …`: the operator's side of the ACL. Every verb is one request central sends
 * to itself (`REQAcl*`, the route `bosun keys` takes), so a change is signed, persisted and
 * pushed to the nodes it concerns by central, as any other ACL change.
 */

/** One verb's usage lines and its explanation; the command's help is all of them. */
const VERBS = {
  ls: {
    lines: ['ls [--on NODE] [--json]'],
    text: `The ACL: node and command groups; for each method, who may send it
to which hosts; for the command methods, which commands each sender may run.
With --on NODE: the rules NODE holds, groups expanded, as it checks them.
--json prints the export (with --on, the node's rules) instead.`,
  },
  add: {
    lines: [
      'add method HOST METHOD SENDER…',
      'add command HOST SENDER ARG…|grp_COMMANDS',
      'add node-group grp_NAME NODE…',
      'add command-group grp_NAME ARG…',
      'add copy DESTINATION SENDER…',
    ],
    text: `method: SENDERs may send METHOD to HOST.
command: SENDER may run this command on HOST (with REQCliCommand, REQnCliCommand
  and REQnCliCommandCont), and only the commands its rules give it. ARG is matched
  literally, * matches any one argument, a last ** any number of further arguments.
  Or name a command group.
node-group, command-group: add nodes, or a command, to a group (made when new).
copy: SENDERs may copy files to DESTINATION (REQCopyFile run on a SENDER, to
  DESTINATION): the method rules for REQCopyChunk and REQCopyDone on DESTINATION,
  which a copy's source sends. Who may start a copy is the REQCopyFile rule of the
  source node.
A group must exist before a rule names it.`,
  },
  rm: {
    lines: [
      'rm method HOST METHOD [SENDER…]',
      'rm command HOST SENDER [ARG…|grp_COMMANDS]',
      'rm node-group grp_NAME [NODE…]',
      'rm command-group grp_NAME [ARG…]',
      'rm copy DESTINATION [SENDER…]',
    ],
    text: `Removes what "add" added; without the last part, all of it (the whole method
rule, every command of SENDER on HOST, the whole group). Removing what is not there,
or a group a rule still names, is refused and changes nothing.`,
  },
  export: { lines: ['export'], text: 'The ACL with its groups as JSON, for "import".' },
  import: { lines: ['import FILE|-'], text: 'Replaces the whole ACL with an exported one (from FILE, or stdin for -).' },
  push: {
    lines: ['push [NODE…]'],
    text: `Sends the current rules now to these nodes (every allowed node without).
Changes are sent at once anyway, and nodes ask central every 60 s; push is for a
node that should not wait.`,
  },
} as const;

type Verb = keyof typeof VERBS;

const OPTIONS = `Options:
  --node NAME       central, started with --node NAME (data dir ./.bosun/NAME)
  --data-dir DIR    central's data dir
  --on NODE         ls: the rules of this node
  --json            ls: JSON
  --timeout SECS    how long to wait for central's answer (default 10)
  -h, --help        this help`;

export const ACL_USAGE = `Usage: bosun acl COMMAND [options]

Access control lists, kept on central (started with --secure true) and sent, signed,
to every node they concern. Run on central.

Commands:
${Object.values(VERBS)
  .flatMap((v) => v.lines)
  .map((l) => `  ${l}`)
  .join('\n')}

HOST and SENDER are a node, a grp_ node group, or * (every node with an allowed key).
Central and each node itself may send every method and run every command, unless a
command rule names them; nobody else may until a rule says so.
A command argument that starts with "-" goes after "--", options before it:
  bosun acl add command --node central ship1 grp_ops -- df -h

"bosun acl COMMAND --help" explains one command.

${OPTIONS}
`;

/** The help of one verb: its usage lines, what it does, the options. */
export function aclVerbUsage(verb: Verb): string {
  const { lines, text } = VERBS[verb];
  return `Usage: ${lines.map((l, i) => `${i === 0 ? '' : '       '}bosun acl ${l}`).join('\n')}\n\n${text}\n\n${OPTIONS}\n`;
}

const isVerb = (v: string | undefined): v is Verb => v !== undefined && Object.hasOwn(VERBS, v);

/** The kinds of rule as typed on the command line, and as `REQAclAdd` names them. */
const KINDS: Record<string, string> = {
  method: 'method',
  command: 'command',
  'node-group': 'nodeGroup',
  nodeGroup: 'nodeGroup',
  'command-group': 'commandGroup',
  commandGroup: 'commandGroup',
};

/** `bosun acl …`: exit 0 done, 1 refused by central, 2 called wrongly or no daemon. */
export async function runAcl(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseAclArgs(args);
  const [verb, ...rest] = positionals;
  if (values.help && (verb === 'add' || verb === 'rm') && rest.length > 1) {
    // "add command ship1 ops df -h" means df's -h, not help: adding the rule without
    // it, or printing help instead, would both surprise.
    throw new UsageError('-h or --help in a rule is taken for help; a command argument that starts with "-" goes after "--"', 'acl');
  }
  if (values.help) {
    io.stdout.write(isVerb(verb) ? aclVerbUsage(verb) : ACL_USAGE);
    return 0;
  }
  if (verb === undefined) throw new UsageError('say what to do: ls, add, rm, export, import or push', 'acl');
  if (!isVerb(verb)) throw new UsageError(`unknown acl command "${verb}"`, 'acl');
  if (values.on !== undefined && verb !== 'ls') throw new UsageError('--on goes with ls only', 'acl');
  if (values.json && verb !== 'ls') throw new UsageError('--json goes with ls only; export prints JSON', 'acl');
  const ask = async (method: string, request: { methodArgs?: string[]; data?: string } = {}) => {
    const address = daemonAddress('acl', values, io.env, io.cwd);
    return askDaemon(address, { method, ...request }, answerTimeoutMs(values.timeout, 'acl'));
  };
  const print = (text: string) => io.stdout.write(text.trimEnd() + '\n');

  switch (verb) {
    case 'ls': {
      noArguments(verb, rest);
      if (values.on !== undefined && !isValidName(values.on)) throw new UsageError(`--on needs a node name, not "${values.on}"`, 'acl');
      const answer = await ask('REQAclExport');
      if (!answer.ok) return printRefusal(io, answer.text, 'ACL management');
      const config = validateAclConfig(JSON.parse(answer.text));
      if (values.on === undefined) {
        io.stdout.write(values.json ? JSON.stringify(config) + '\n' : formatAclConfig(config));
      } else {
        const rules = nodeAclOf(config, values.on);
        io.stdout.write(values.json ? JSON.stringify(rules) + '\n' : formatNodeAcl(values.on, rules, answer.node));
      }
      return 0;
    }
    case 'add':
    case 'rm': {
      for (const methodArgs of editArgs(verb, rest)) {
        const answer = await ask(verb === 'add' ? 'REQAclAdd' : 'REQAclDelete', { methodArgs });
        if (!answer.ok) return printRefusal(io, answer.text, 'ACL management');
        print(answer.text);
      }
      return 0;
    }
    case 'export': {
      noArguments(verb, rest);
      const answer = await ask('REQAclExport');
      if (!answer.ok) return printRefusal(io, answer.text, 'ACL management');
      print(answer.text);
      return 0;
    }
    case 'import': {
      if (rest.length !== 1) throw new UsageError('say where the ACL is: import FILE, or import - for stdin', 'acl');
      const data = await readAclFile(rest[0]!, io);
      const answer = await ask('REQAclImport', { data });
      if (!answer.ok) return printRefusal(io, answer.text, 'ACL management');
      print(answer.text);
      return 0;
    }
    case 'push': {
      for (const node of rest) if (!isValidName(node)) throw new UsageError(`"${node}" is not a node name`, 'acl');
      const answer = await ask('REQAclPush', { methodArgs: rest });
      if (!answer.ok) return printRefusal(io, answer.text, 'ACL management');
      print(answer.text);
      return 0;
    }
  }
}

function parseAclArgs(args: string[]) {
  const options = {
    'data-dir': { type: 'string' },
    node: { type: 'string' },
    on: { type: 'string' },
    json: { type: 'boolean' },
    timeout: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } as const;
  try {
    return parseCommandArgs('acl', args, options, true);
  } catch (err) {
    // Most likely a command's own option, as in "df -h": say how to pass it.
    if (err instanceof UsageError && /^unknown option/.test(err.message)) {
      throw new UsageError(`${err.message}; a command argument that starts with "-" goes after "--"`, 'acl');
    }
    throw err;
  }
}

function noArguments(verb: Verb, rest: string[]): void {
  if (rest.length > 0) throw new UsageError(`acl ${verb} takes no arguments, not "${rest[0]}"`, 'acl');
}

/** The methods a copy's source sends to its destination (`methods/copyFile.ts`); the receipt back is a reply. */
export const COPY_DESTINATION_METHODS = ['REQCopyChunk', 'REQCopyDone'] as const;

/**
 * The `methodArgs` of the `REQAclAdd`/`REQAclDelete` requests an edit takes (a copy rule is
 * two method rules), each checked here with the parser central uses, so that a mistake is
 * a usage error before any daemon is asked.
 */
function editArgs(verb: 'add' | 'rm', rest: string[]): string[][] {
  const [kind, ...parts] = rest;
  if (kind === undefined) throw new UsageError(`say what to ${verb}: method, command, node-group, command-group or copy`, 'acl');
  let edits: string[][];
  if (kind === 'copy') {
    const [destination, ...senders] = parts;
    if (destination === undefined || (verb === 'add' && senders.length === 0)) throw new UsageError(`acl ${verb} copy: say ${verb === 'add' ? 'DESTINATION SENDER…' : 'DESTINATION [SENDER…]'}`, 'acl');
    edits = COPY_DESTINATION_METHODS.map((method) => ['method', destination, method, ...senders]);
  } else {
    const canonical = Object.hasOwn(KINDS, kind) ? KINDS[kind]! : undefined;
    if (canonical === undefined) throw new UsageError(`cannot ${verb} "${kind}": say method, command, node-group, command-group or copy`, 'acl');
    edits = [[canonical, ...parts]];
  }
  for (const methodArgs of edits) {
    try {
      parseAclEdit(verb === 'add' ? 'add' : 'delete', methodArgs);
    } catch (err) {
      if (err instanceof BosunError) throw new UsageError(`acl ${verb} ${kind}: ${err.message}`, 'acl');
      throw err;
    }
  }
  return edits;
}

async function readAclFile(file: string, io: CliIo): Promise<string> {
  let text: string;
  try {
    text = file === '-' ? await readStream(io.stdin) : await readFile(path.resolve(io.cwd, file), 'utf8');
  } catch (err) {
    throw new BosunError('BOSUN_NOT_FOUND', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    validateAclConfig(JSON.parse(text));
  } catch (err) {
    const reason = err instanceof SyntaxError ? `it is not JSON (${err.message})` : (err as Error).message;
    throw new BosunError('BOSUN_BAD_JSON', `${file === '-' ? 'stdin' : file} holds no ACL: ${reason}; nothing changed`);
  }
  return text;
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  return text;
}
