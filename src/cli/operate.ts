import path from 'node:path';
import { BosunError } from '../errors.ts';
import { DEBUG_SOCKET_FILE } from '../inputs/debugSocket.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import { connectDaemon, daemonAddress, readLines } from './daemonClient.ts';
import type { CliIo } from './io.ts';
import { formatTable } from './table.ts';

/**
 * The operator's commands on a running daemon: `bosun queue`, `bosun dead`, `bosun audit`,
 * `bosun nodes` and `bosun copy`. Each is one command line on the daemon's debug socket.
 */
const WHICH = {
  'data-dir': { type: 'string' },
  node: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Sends `command {args}` to the daemon and returns its JSON answer. */
async function ask(name: string, values: { 'data-dir'?: string; node?: string }, io: CliIo, command: string, args: object = {}): Promise<unknown> {
  const address = daemonAddress(name, values, io.env, io.cwd);
  const socket = await connectDaemon(path.join(address.dataDir, DEBUG_SOCKET_FILE), address);
  const lines: string[] = [];
  socket.end(`${command} ${JSON.stringify(args)}\n`);
  await readLines(socket, (line) => {
    if (line !== '') lines.push(line);
  });
  let answer: unknown;
  try {
    answer = JSON.parse(lines[0] ?? '');
  } catch {
    throw new BosunError('BOSUN_INTERRUPTED', 'the daemon gave no readable answer on its debug socket');
  }
  if (answer && typeof answer === 'object' && 'error' in answer) {
    const { error } = answer as { error: { code: string; message: string } };
    throw new BosunError(error.code as never, error.message);
  }
  return answer;
}

/** Parses durations like `90`, `90s`, `15m`, `2h`, `7d` into seconds. */
export function parseDuration(text: string, command: string): number {
  const match = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(text.trim());
  if (!match) throw new UsageError(`"${text}" is not a duration: use e.g. 90s, 15m, 2h or 7d`, command);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

/** `--limit N`: a whole number, at least 1. */
function parseLimit(text: string, command: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1) throw new UsageError(`--limit needs a whole number, 1 or more, not "${text}"`, command);
  return n;
}

/** Ids the operator named that the daemon does not hold: an error, exit 1. */
function notFound(io: CliIo, what: string, ids: string[]): number {
  io.stderr.write(`bosun: no ${what} has the id${ids.length === 1 ? '' : 's'} ${ids.join(', ')}\n`);
  return 1;
}

function table(io: CliIo, rows: string[][]): void {
  io.stdout.write(formatTable(rows));
}

const when = (ms: number) => new Date(ms).toISOString();

interface Queued { id: string; toNode: string; method: string; acceptedAt: number; attempts: number; nextAttemptAt?: number; seq: number }

/** `bosun queue ls [--to NODE]` and `bosun queue rm ID | --to NODE | --older-than D`. */
export async function runQueue(args: string[], io: CliIo): Promise<number> {
  const [verb, ...rest] = args;
  const { values, positionals } = parseCommandArgs('queue', rest, { ...WHICH, to: { type: 'string' }, 'older-than': { type: 'string' }, limit: { type: 'string' } }, true);
  if (values.help || verb === '--help' || verb === '-h') return io.help('queue');
  const filter = {
    ...(values.to !== undefined ? { node: values.to } : {}),
    ...(values['older-than'] !== undefined ? { olderThanSeconds: parseDuration(values['older-than'], 'queue') } : {}),
    ...(values.limit !== undefined ? { limit: parseLimit(values.limit, 'queue') } : {}),
  };
  if (verb === 'ls') {
    const queued = (await ask('queue', values, io, 'queue', filter)) as Queued[];
    if (values.json) io.stdout.write(JSON.stringify(queued) + '\n');
    else if (queued.length === 0) io.stdout.write('the queue is empty\n');
    else {
      table(io, [
        ['ID', 'TO', 'METHOD', 'SEQ', 'ATTEMPTS', 'NEXT RETRY', 'ACCEPTED'],
        ...queued.map((q) => [q.id, q.toNode, q.method, String(q.seq), String(q.attempts), q.nextAttemptAt !== undefined ? when(q.nextAttemptAt) : '-', when(q.acceptedAt)]),
      ]);
    }
    return 0;
  }
  if (verb === 'rm') {
    if (positionals.length > 1) throw new UsageError('give one message id at a time', 'queue');
    const withId = positionals[0] !== undefined ? { ...filter, id: positionals[0] } : filter;
    if (Object.keys(withId).filter((k) => k !== 'limit').length === 0) throw new UsageError('say which messages to remove: an ID, --to NODE or --older-than D', 'queue');
    const removed = (await ask('queue', values, io, 'queue-rm', withId)) as Queued[];
    if (positionals[0] !== undefined && removed.length === 0) return notFound(io, 'queued message', [positionals[0]]);
    if (values.json) io.stdout.write(JSON.stringify(removed) + '\n');
    else io.stdout.write(`removed ${removed.length} message${removed.length === 1 ? '' : 's'}${removed.length ? `: ${removed.map((q) => q.id).join(', ')}` : ''}\n`);
    return 0;
  }
  throw new UsageError(verb === undefined ? 'say what to do: ls or rm' : `unknown queue command "${verb}"`, 'queue');
}

interface Dead { message: { id: string; toNode: string; method: string }; attempts: number; at: number }

/** `bosun dead ls | resend [ID…] | purge [ID…]`. */
export async function runDead(args: string[], io: CliIo): Promise<number> {
  const [verb, ...rest] = args;
  const { values, positionals } = parseCommandArgs('dead', rest, WHICH, true);
  if (values.help || verb === '--help' || verb === '-h') return io.help('dead');
  const ids = positionals.length ? { ids: positionals } : {};
  if (verb === 'ls') {
    const dead = (await ask('dead', values, io, 'dead')) as Dead[];
    if (values.json) io.stdout.write(JSON.stringify(dead) + '\n');
    else if (dead.length === 0) io.stdout.write('no dead letters\n');
    else table(io, [['ID', 'TO', 'METHOD', 'ATTEMPTS', 'DIED'], ...dead.map((d) => [d.message.id, d.message.toNode, d.message.method, String(d.attempts), when(d.at)])]);
    return 0;
  }
  if (verb === 'resend') {
    const results = (await ask('dead', values, io, 'dead-resend', ids)) as Array<{ id?: string; error?: { message: string } }>;
    if (values.json) io.stdout.write(JSON.stringify(results) + '\n');
    else io.stdout.write(`sent again: ${results.filter((r) => r.id).length}${results.some((r) => r.error) ? `, refused: ${results.filter((r) => r.error).length}` : ''}\n`);
    const named = [...new Set(positionals)];
    // Every named letter found gives one result, accepted (with its id) or refused.
    if (results.length < named.length) {
      const sent = new Set(results.map((r) => r.id));
      return notFound(io, 'dead letter', named.filter((id) => !sent.has(id)));
    }
    return results.some((r) => r.error) ? 1 : 0;
  }
  if (verb === 'purge') {
    const purged = (await ask('dead', values, io, 'dead-purge', ids)) as Dead[];
    if (values.json) io.stdout.write(JSON.stringify(purged) + '\n');
    else io.stdout.write(`deleted ${purged.length} dead letter${purged.length === 1 ? '' : 's'}\n`);
    const found = new Set(purged.map((d) => d.message.id));
    const missing = positionals.filter((id) => !found.has(id));
    return missing.length > 0 ? notFound(io, 'dead letter', missing) : 0;
  }
  throw new UsageError(verb === undefined ? 'say what to do: ls, resend or purge' : `unknown dead command "${verb}"`, 'dead');
}

interface Audited { at: number; message: { id: string; fromNode: string; method: string; methodArgs: string[] }; outcome: { ok: boolean; code?: string } }

/** `bosun audit [--since D] [--method M] [--from NODE] [--limit N]`; with `--id ID`, as `bosun status ID`. */
export async function runAudit(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('audit', args, {
    ...WHICH,
    id: { type: 'string' },
    since: { type: 'string' },
    method: { type: 'string' },
    from: { type: 'string' },
    limit: { type: 'string' },
  });
  if (values.help) return io.help('audit');
  if (values.id !== undefined) return showStatus(values.id, values, io);
  const filter = {
    ...(values.since !== undefined ? { sinceMs: Date.now() - parseDuration(values.since, 'audit') * 1000 } : {}),
    ...(values.method !== undefined ? { method: values.method } : {}),
    ...(values.from !== undefined ? { fromNode: values.from } : {}),
    ...(values.limit !== undefined ? { limit: parseLimit(values.limit, 'audit') } : {}),
  };
  const records = (await ask('audit', values, io, 'audit', filter)) as Audited[];
  if (values.json) io.stdout.write(JSON.stringify(records) + '\n');
  else if (records.length === 0) io.stdout.write('nothing ran in that window\n');
  else {
    table(io, [
      ['WHEN', 'FROM', 'METHOD', 'ID', 'OUTCOME', 'ARGS'],
      ...records.map((r) => [when(r.at), r.message.fromNode, r.message.method, r.message.id, r.outcome.ok ? 'ok' : (r.outcome.code ?? 'error'), r.message.methodArgs.join(' ')]),
    ]);
  }
  return 0;
}

interface Fate { id: string; toNode?: string; state: string; outcome?: { ok: boolean; code?: string; message?: string }; at?: number; attempts?: number }

/** `bosun status ID`: what became of one message. */
export async function runStatus(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('status', args, WHICH, true);
  if (values.help) return io.help('status');
  const [id, ...rest] = positionals;
  if (id === undefined) throw new UsageError('say which message: bosun status ID', 'status');
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`, 'status');
  return showStatus(id, values, io);
}

async function showStatus(id: string, values: { 'data-dir'?: string; node?: string; json?: boolean }, io: CliIo): Promise<number> {
  const status = (await ask('status', values, io, 'status', { id })) as { id: string; accepted?: { at: number }; messages: Fate[] };
  if (values.json) io.stdout.write(JSON.stringify(status) + '\n');
  else {
    if (status.accepted) io.stdout.write(`accepted ${when(status.accepted.at)} with the id ${status.id}\n`);
    table(io, [
      ['ID', 'TO', 'STATE', 'DETAIL'],
      ...status.messages.map((m) => [m.id, m.toNode ?? '?', m.state, detail(m)]),
    ]);
  }
  return status.messages.every((m) => m.state === 'unknown') ? 1 : 0;
}

function detail(m: Fate): string {
  if (m.state === 'run') return `${m.outcome?.ok ? 'ok' : (m.outcome?.code ?? 'failed')} at ${when(m.at!)}`;
  if (m.state === 'dead') return `since ${when(m.at!)}`;
  if (m.attempts !== undefined) return `${m.attempts} send${m.attempts === 1 ? '' : 's'} so far`;
  return '';
}

interface Seen { node: string; lastSeen: string; capabilities?: { bosun: string; cpus: number; load: number[]; methods: string[]; server?: string } }

/** `bosun nodes`: on central, every node that said hello, when, and what it offers. */
export async function runNodes(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('nodes', args, WHICH);
  if (values.help) return io.help('nodes');
  const nodes = (await ask('nodes', values, io, 'nodes')) as Seen[];
  if (values.json) io.stdout.write(JSON.stringify(nodes) + '\n');
  else if (nodes.length === 0) io.stdout.write('no node has said hello yet\n');
  else {
    table(io, [
      ['NODE', 'LAST SEEN', 'SERVER', 'BOSUN', 'CPUS', 'LOAD', 'METHODS'],
      ...nodes.map((n) => [
        n.node,
        n.lastSeen,
        n.capabilities?.server ?? '-',
        n.capabilities?.bosun ?? '?',
        String(n.capabilities?.cpus ?? '?'),
        n.capabilities?.load.map((l) => l.toFixed(2)).join(' ') ?? '?',
        String(n.capabilities?.methods.length ?? '?'),
      ]),
    ]);
  }
  return 0;
}

interface Copying { request: string; srcPath: string; dstNode: string; dstPath: string; totalBytes: number; confirmedBytes: number }

/** `bosun copy ls`: the copies a node sends that have not ended, with their percentage. */
export async function runCopy(args: string[], io: CliIo): Promise<number> {
  const [verb, ...rest] = args;
  const { values } = parseCommandArgs('copy', rest, WHICH);
  if (values.help || verb === '--help' || verb === '-h') return io.help('copy');
  if (verb !== 'ls') throw new UsageError(verb === undefined ? 'say what to do: ls' : `unknown copy command "${verb}"`, 'copy');
  const copies = (await ask('copy', values, io, 'copies')) as Copying[];
  if (values.json) io.stdout.write(JSON.stringify(copies) + '\n');
  else if (copies.length === 0) io.stdout.write('no copy in progress\n');
  else {
    table(io, [
      ['REQUEST', 'FROM', 'TO', 'DONE', 'BYTES'],
      ...copies.map((c) => {
        const percent = c.totalBytes === 0 ? 100 : Math.floor((c.confirmedBytes * 100) / c.totalBytes);
        return [c.request, c.srcPath, `${c.dstNode}:${c.dstPath}`, `${percent}%`, `${c.confirmedBytes}/${c.totalBytes}`];
      }),
    ]);
  }
  return 0;
}

export const OPERATE_USAGE: Record<string, string> = {
  copy: `Usage: bosun copy ls [--json]

The copies (REQCopyFile) this node sends that have not ended: the request they belong to
(<sender>!<id>), what is copied where, and how much the destination has confirmed. A copy a
crash cut short is listed until its node restarts and finishes it.

Options:
  --node NAME | --data-dir DIR   which daemon
  --json                         JSON instead of a table
`,
  queue: `Usage: bosun queue ls [--to NODE] [--older-than D] [--limit N] [--json]
       bosun queue rm ID | --to NODE | --older-than D

Lists the messages a running daemon still has to deliver (queued or waiting for an ACK),
or withdraws some. ATTEMPTS counts the sends so far, as the running sender counts them;
NEXT RETRY is when the message is sent again unless its ACK comes first ("-" for one that
waits its turn behind the window, or has no retry left). A message withdrawn from an
ordered stream leaves a skip marker in its place, so the receiver moves on. Durations:
90s, 15m, 2h, 7d.

Options:
  --node NAME | --data-dir DIR   which daemon
  --json                         JSON instead of a table
`,
  dead: `Usage: bosun dead ls | resend [ID…] | purge [ID…] [--json]

Dead letters: messages that ran out of retries. "resend" sends them again with fresh
retries (all of them, or the given ids); "purge" deletes them.

Options:
  --node NAME | --data-dir DIR   which daemon
  --json                         JSON instead of text
`,
  audit: `Usage: bosun audit [--since D] [--method M] [--from NODE] [--limit N] [--json]
       bosun audit --id ID [--json]

What the daemon ran: each message with its sender, arguments and outcome, oldest first.
With --id, what became of that one message, as "bosun status ID" says.

Options:
  --node NAME | --data-dir DIR   which daemon
  --json                         JSON instead of a table
`,
  status: `Usage: bosun status ID [--json]

What became of the message with this id, as far as this daemon can tell: queued, in
flight (sent, its ACK not come), delivered (the target holds it; its run is recorded
there), waiting to run, run (ok, or the error it ended with), dead (out of retries), or
unknown. An id a client gave that fanned out to several nodes (toNodes) shows each.
Exit 1 when nothing is known of it.

Options:
  --node NAME | --data-dir DIR   which daemon
  --json                         JSON instead of a table
`,
  nodes: `Usage: bosun nodes [--json]

On central: every node that said hello, when it was last seen, the NATS server (or
gateway) it was connected to then, and its capabilities. In a NATS cluster or with leaf
nodes every node is listed, whichever server it is on.

Options:
  --node NAME | --data-dir DIR   which daemon
  --json                         JSON instead of a table
`,
};
