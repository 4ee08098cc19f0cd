import { createServer, type Socket } from 'node:net';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { BosunError, describeError } from '../errors.ts';
import type { BosunNode } from '../runtime/Node.ts';
import { closeUnix, listenUnix } from './unixSocket.ts';

export const DEBUG_SOCKET_FILE = 'debug.sock';

/** The part of a node the debug socket shows and the operator commands it offers. */
export type InspectableNode = Pick<
  BosunNode,
  'name' | 'status' | 'counters' | 'live' | 'tree' | 'nodes' | 'queue' | 'removeQueued' | 'deadLetters' | 'resendDead' | 'purgeDead' | 'audit' | 'copies' | 'messageStatus'
>;

type Args = Record<string, unknown>;

export interface DebugSocketOptions {
  /** The socket is `<dataDir>/debug.sock`. */
  dataDir: string;
  log?: Logger;
}

export interface DebugSocket {
  readonly socketPath: string;
  close(): Promise<void>;
}

/** Commands are short words; a longer line is not a command. */
const MAX_LINE_BYTES = 4096;

const ids = (a: Args) => (Array.isArray(a.ids) ? a.ids.map(String) : undefined);

const COMMANDS: Record<string, { summary: string; run(node: InspectableNode, args: Args): unknown }> = {
  tree: { summary: "the node's live tree of actors: id, kind, state, restarts, info", run: (node) => node.tree() },
  stats: {
    summary: "the node's status, message counters, and how many senders, receivers, subscribers and runs it holds in memory",
    run: (node) => ({ node: node.name, status: node.status, counters: node.counters, live: node.live }),
  },
  nodes: { summary: 'central: the nodes that said hello, when, and their capabilities', run: (node) => node.nodes() },
  queue: {
    summary: 'queued and in-flight messages; args {"node","id","olderThanSeconds","limit"}',
    run: (node, a) => node.queue(a as never),
  },
  'queue-rm': {
    summary: 'withdraw queued messages; args {"node"|"id"|"olderThanSeconds"}',
    run: (node, a) => node.removeQueued(a as never),
  },
  dead: { summary: 'dead letters; args {"limit"}', run: (node, a) => node.deadLetters(typeof a.limit === 'number' ? a.limit : undefined) },
  'dead-resend': { summary: 'send dead letters again; args {"ids"} (all without)', run: (node, a) => node.resendDead(ids(a)) },
  'dead-purge': { summary: 'delete dead letters; args {"ids"} (all without)', run: (node, a) => node.purgeDead(ids(a)) },
  copies: { summary: 'the copies this node sends that have not ended, with the bytes the destination confirmed', run: (node) => node.copies() },
  audit: { summary: 'what this node ran; args {"id","sinceMs","method","fromNode","limit"}', run: (node, a) => node.audit(a as never) },
  status: {
    summary: 'what became of one message: queued, in flight, delivered, run (how it ended), dead; args {"id"}',
    run: (node, a) => {
      if (typeof a.id !== 'string' || a.id === '') throw new BosunError('BOSUN_USAGE', 'status needs {"id":"…"}');
      return node.messageStatus(a.id);
    },
  },
  help: {
    summary: 'this list',
    run: () => ({ commands: Object.fromEntries(Object.entries(COMMANDS).map(([name, c]) => [name, c.summary])) }),
  },
};

/**
 * A read-only window into a running daemon at `<dataDir>/debug.sock`: a client writes a
 * command per line (`tree`, `stats`, `help`) and reads one JSON line back for each.
 * `bosun tree` is its client; `echo tree | nc -U debug.sock` works too.
 */
export async function startDebugSocket(node: InspectableNode, options: DebugSocketOptions): Promise<DebugSocket> {
  const socketPath = path.join(options.dataDir, DEBUG_SOCKET_FILE);
  const log = (options.log ?? pino({ level: 'silent' })).child({ input: 'debug' });
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serve(socket, node, log);
  });
  server.on('error', (err) => log.error({ err }, 'debug socket error'));
  await listenUnix(server, socketPath);
  return {
    socketPath,
    async close() {
      const closed = closeUnix(server, socketPath);
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/**
 * The answer to one command line, as one JSON line. A line is a command word, optionally
 * followed by a JSON object of arguments: `queue {"node":"ship1"}`.
 */
export async function debugCommand(node: InspectableNode, line: string): Promise<string> {
  const trimmed = line.trim();
  const space = trimmed.search(/\s/);
  const command = space < 0 ? trimmed : trimmed.slice(0, space);
  let args: Args = {};
  if (space >= 0) {
    try {
      const parsed: unknown = JSON.parse(trimmed.slice(space + 1));
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      args = parsed as Args;
    } catch {
      const error = new BosunError('BOSUN_BAD_JSON', `the arguments of "${command.slice(0, 40)}" must be one JSON object`);
      return JSON.stringify({ error: error.toJSON() });
    }
  }
  const known = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!known) {
    const shown = command.length > 40 ? `${command.slice(0, 40)}…` : command;
    const error = new BosunError('BOSUN_UNKNOWN_COMMAND', `unknown debug command "${shown}"; the commands are: ${Object.keys(COMMANDS).join(', ')}`);
    return JSON.stringify({ error: error.toJSON() });
  }
  try {
    return JSON.stringify(await known.run(node, args));
  } catch (e) {
    return JSON.stringify({ error: describeError(e) });
  }
}

function serve(socket: Socket, node: InspectableNode, log: Logger): void {
  let pending = '';
  // Answers go out in the order the commands came, though some take a store read.
  let answered: Promise<void> = Promise.resolve();
  const answer = (line: string) => {
    answered = answered.then(async () => {
      const text = await debugCommand(node, line);
      if (!socket.destroyed && !socket.writableEnded) socket.write(text + '\n');
    });
  };
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => {
    if (socket.writableEnded) return;
    pending += text;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.trim() !== '') answer(line);
    }
    if (Buffer.byteLength(pending) > MAX_LINE_BYTES) {
      const error = new BosunError('BOSUN_UNKNOWN_COMMAND', `a debug command is one short line; got over ${MAX_LINE_BYTES} bytes without a newline`);
      pending = '';
      answered = answered.then(() => {
        socket.end(JSON.stringify({ error: error.toJSON() }) + '\n');
      });
    }
  });
  // A last command without a newline still gets its answer.
  socket.on('end', () => {
    if (pending.trim() !== '') answer(pending);
    pending = '';
    void answered.then(() => {
      if (!socket.writableEnded) socket.end();
    });
  });
  socket.on('error', (err: NodeJS.ErrnoException) => log.debug({ code: err.code }, `debug client error: ${err.message}`));
}
