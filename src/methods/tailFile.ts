import path from 'node:path';
import { BosunError } from '../errors.ts';
import { ownDeadline } from './deadline.ts';
import { followFile } from './fileFollower.ts';
import type { MethodContext, MethodResult, MethodSpec } from './types.ts';

/**
 * `REQTailFile`: follows the file at `methodArgs[0]` from its current end and sends each
 * line appended to it as a reply of its own, in order, until `methodTimeout` (-1: until
 * the node stops). It survives rotation and truncation, and waits for a file that does
 * not exist yet (see `followFile`).
 *
 * The path may be any path on the node, as in steward: tailing logs outside the files
 * folder is the point of the method. A relative path (steward's `"data": ["./test.log"]`)
 * is taken from the daemon's working directory, as steward took it. Whoever may send
 * `REQTailFile` to a node can read every file the daemon can; limit who may send it.
 *
 * Reaching `methodTimeout` is the normal end: no further reply is sent. A node that stops
 * ends the tail with a `BOSUN_INTERRUPTED` error reply.
 */
export const REQTailFile: MethodSpec = {
  name: 'REQTailFile',
  summary: 'Follow the file at methodArgs[0] (relative: to the daemon\'s working directory) like tail -F; reply with each new line until methodTimeout.',
  // A re-run after a crash would start again from the end and skip what was written meanwhile.
  idempotent: false,
  endsAtTimeout: true,
  handler: tailFile,
};

async function tailFile(ctx: MethodContext): Promise<MethodResult> {
  const file = fileArgument(ctx.message.methodArgs[0]);
  const deadline = ownDeadline(ctx.signal, ctx.message.methodTimeout);
  const replies = new PipelinedEmits(ctx);
  try {
    await followFile(file, (line) => replies.emit(line), { signal: deadline.signal });
    await replies.settled();
  } catch (e) {
    if (e instanceof BosunError) throw e;
    throw new BosunError('BOSUN_METHOD_FAILED', `could not tail "${file}": ${(e as Error).message}`, { cause: e });
  } finally {
    deadline.clear();
  }
  if (ctx.signal.aborted) {
    const reason = ctx.signal.reason;
    const code = reason instanceof BosunError ? reason.code : 'BOSUN_INTERRUPTED';
    throw new BosunError(code, `the tail of "${file}" was stopped${reason instanceof Error ? `: ${reason.message}` : ''}`, { cause: reason });
  }
  return {};
}

function fileArgument(value: string | undefined): string {
  if (value === undefined || value === '') {
    throw new BosunError('BOSUN_BAD_MESSAGE', 'REQTailFile needs the file to follow in methodArgs[0]');
  }
  if (value.includes('\0')) throw new BosunError('BOSUN_BAD_MESSAGE', 'methodArgs[0] (the file to follow) must not contain NUL bytes');
  return path.resolve(value);
}

/** Replies not yet durable, at most: enough for a busy log's lines to share the store's writes. */
const MAX_PENDING_REPLIES = 1024;

/**
 * Sends each line as a reply without waiting for it to be durable before reading the
 * next: replies are put in the outbox in the order they are emitted, so lines that come
 * together share one synced write instead of paying one each (a busy log shipped a few
 * hundred lines a second that way). A failed write ends the tail at the next line.
 */
class PipelinedEmits {
  #pending: Array<Promise<void>> = [];
  #failed: unknown;
  #first = true;

  constructor(private readonly ctx: MethodContext) {}

  async emit(line: string): Promise<void> {
    if (this.#failed !== undefined) throw this.#failed;
    const sent = this.ctx.emit(line);
    // The first reply opens the reply stream; the rest need it open to keep their order.
    if (this.#first) {
      this.#first = false;
      return sent;
    }
    this.#pending.push(sent.catch((e: unknown) => void (this.#failed ??= e)));
    if (this.#pending.length >= MAX_PENDING_REPLIES) await this.settled();
  }

  async settled(): Promise<void> {
    await Promise.all(this.#pending.splice(0));
    if (this.#failed !== undefined) throw this.#failed;
  }
}
