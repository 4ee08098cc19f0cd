/**
 * `GET /responses`: the responses log read from a position, as a long-poll (JSON) or as
 * server-sent events (`Accept: text/event-stream`). A consumer keeps the last seq it
 * handled and asks for what comes after it, so a consumer that was down misses nothing.
 *
 * A consumer that stayed away longer than the log's retention would silently skip what
 * was pruned; instead it is told: `"pruned": true` and the `first` seq still kept in a
 * JSON page, a `pruned` event (`{"first"}`) on a stream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../clock.ts';
import type { Caller } from './auth.ts';
import { HttpError } from './body.ts';
import type { ResponseLog, ResponsePage } from './responses.ts';

export interface ResponsesContext {
  caller: Caller;
  log: ResponseLog;
  clock: Clock;
  /** Aborted when the gateway closes. */
  closing: AbortSignal;
  reply(res: ServerResponse, status: number, body: unknown): void;
}

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
const DEFAULT_TIMEOUT_S = 20;
const MAX_TIMEOUT_S = 60;
/** An SSE comment this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

function integer(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0 || value > max) throw new HttpError(400, `"${name}" must be an integer from 0 to ${max}`);
  return value;
}

function seconds(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback * 1000;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > max) throw new HttpError(400, `"${name}" must be a number of seconds from 0 to ${max}`);
  return Math.round(value * 1000);
}

function wantsEvents(req: IncomingMessage): boolean {
  return (req.headers.accept ?? '').split(',').some((type) => type.trim().split(';')[0] === 'text/event-stream');
}

/** Whether the client went away or the gateway is closing, and who to tell when it does. */
interface Departure {
  done(): boolean;
  /** Calls `fn` on departure; returns a function that forgets it. */
  onLeave(fn: () => void): () => void;
}

function departure(res: ServerResponse, closing: AbortSignal): Departure {
  let isDone = closing.aborted;
  const listeners = new Set<() => void>();
  const finish = () => {
    closing.removeEventListener('abort', finish);
    if (isDone) return;
    isDone = true;
    for (const fn of [...listeners]) fn();
  };
  // `close` on the response: when it was sent, or when the client hung up before that.
  res.once('close', finish);
  closing.addEventListener('abort', finish, { once: true });
  return {
    done: () => isDone,
    onLeave(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}

export async function serveResponses(req: IncomingMessage, res: ServerResponse, context: ResponsesContext): Promise<void> {
  const query = new URL(req.url ?? '/', 'http://gateway').searchParams;
  const limit = Math.max(1, integer(query, 'limit', DEFAULT_LIMIT, MAX_LIMIT));
  const lastEventId = req.headers['last-event-id'];
  const after = typeof lastEventId === 'string' && lastEventId !== '' ? Number(lastEventId) : integer(query, 'after', 0, Number.MAX_SAFE_INTEGER);
  if (!Number.isSafeInteger(after) || after < 0) throw new HttpError(400, 'Last-Event-ID must be a seq from an earlier event');
  if (wantsEvents(req)) return streamEvents(req, res, context, after, limit);
  return longPoll(req, res, context, after, limit, seconds(query, 'timeout', DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S));
}

/**
 * Waits until the log holds something for this caller after `after`, or until `timeoutMs`
 * passed, or the client left. Entries of other accounts move the position on silently.
 */
async function nextPage(
  context: ResponsesContext,
  after: number,
  limit: number,
  timeoutMs: number,
  left: Departure,
): Promise<ResponsePage> {
  const deadline = context.clock.now() + timeoutMs;
  let position = after;
  let pruned: ResponsePage['pruned'];
  const empty = (): ResponsePage => (pruned ? { entries: [], last: position, pruned } : { entries: [], last: position });
  for (;;) {
    const page = await context.log.read(position, { limit, account: context.caller.account });
    pruned ??= page.pruned;
    if (page.entries.length > 0) return pruned ? { ...page, pruned } : page;
    position = page.last;
    // A reader told of a gap is told at once, not after the long-poll.
    if (pruned) return empty();
    const remaining = deadline - context.clock.now();
    if (remaining <= 0 || left.done()) return empty();
    const wait = context.log.waitBeyond(position, remaining);
    const forget = left.onLeave(wait.cancel);
    const arrived = await wait.arrived;
    forget();
    if (!arrived && context.clock.now() >= deadline) return empty();
  }
}

async function longPoll(req: IncomingMessage, res: ServerResponse, context: ResponsesContext, after: number, limit: number, timeoutMs: number): Promise<void> {
  const left = departure(res, context.closing);
  const page = await nextPage(context, after, limit, timeoutMs, left);
  const gap = page.pruned ? { pruned: true, first: page.pruned.first } : {};
  context.reply(res, 200, { responses: page.entries, last: page.last, ...gap });
}

/** Writes, then waits for the socket to drain if it is full: a slow reader slows the stream, not memory. */
async function write(res: ServerResponse, left: Departure, text: string): Promise<void> {
  if (res.write(text)) return;
  await new Promise<void>((resolve) => {
    const forget = left.onLeave(resolve);
    res.once('drain', () => {
      forget();
      resolve();
    });
  });
}

async function streamEvents(req: IncomingMessage, res: ServerResponse, context: ResponsesContext, after: number, limit: number): Promise<void> {
  const left = departure(res, context.closing);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  res.write(': bosun receptor responses\n\n');
  let position = after;
  while (!left.done()) {
    const page = await nextPage(context, position, limit, KEEPALIVE_MS, left);
    if (left.done()) break;
    if (page.pruned) await write(res, left, `event: pruned\ndata: ${JSON.stringify({ first: page.pruned.first })}\n\n`);
    for (const entry of page.entries) {
      await write(res, left, `id: ${entry.seq}\nevent: response\ndata: ${JSON.stringify({ key: entry.key, value: entry.value })}\n\n`);
    }
    if (page.entries.length === 0) await write(res, left, ': keepalive\n\n');
    position = page.last;
  }
  res.end();
}
