import { createReadStream } from 'node:fs';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { describeError } from '../errors.ts';
import { inputProgressKey } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';
import { JsonStreamParser, type StreamItem } from './jsonStream.ts';
import { messageRefusal, type AcceptingNode } from './messageInput.ts';

export interface ConsumeOptions {
  log: Logger;
  /** Asked before each batch: true stops, leaving the file and its progress for later. */
  shouldStop(): boolean;
  maxMessageBytes: number;
  /** Messages per `accept` (default 1000). */
  batchMessages?: number;
  /** Bytes of the file read per `accept`, at most (default 4 MiB). */
  batchBytes?: number;
}

/**
 * The node a file's messages go to. With its store, the progress is recorded in the same
 * write as the accepted messages; the `.progress` file beside it is then a hint for people.
 */
export type FileConsumingNode = AcceptingNode & { readonly name: string; readonly store?: Pick<Store, 'get' | 'write'> };

/** `done`: every value taken and the file deleted; `interrupted`: to be finished later. */
export type ConsumeOutcome = 'done' | 'interrupted';

export const PROGRESS_SUFFIX = '.progress';

/**
 * A refusal that says nothing about the message: the node could not take anything
 * (stopping, store failing). The batch is tried again later instead of being dropped.
 */
function isNodeFailure(code: string): boolean {
  return code === 'BOSUN_NODE_STOPPING' || code === 'BOSUN_INTERNAL' || code === 'BOSUN_TRANSPORT' || code.startsWith('BOSUN_STORE_') || !code.startsWith('BOSUN_');
}

/**
 * Accepts the messages of a taken input file, then deletes it. The file's JSON values
 * go to the node in batches; after each batch that the node took, the number of values
 * done so far is recorded in `<file>.progress`, and a later call skips that many. The
 * parse is the same however the file is read, so value N is always the same value.
 *
 * A value that is not JSON, or a message the node refuses, is logged with the file name
 * and the value's number, and counts as done: the file is not retried for it.
 *
 * With the node's store, the count is written in the same batch as the batch's messages,
 * so a crash leaves both or neither. A node without a store (an embedding that passes
 * only `accept`) has the `.progress` file alone: a crash between the two writes makes the
 * next start accept that batch again.
 */
export async function consumeMessageFile(node: FileConsumingNode, file: string, options: ConsumeOptions): Promise<ConsumeOutcome> {
  const { log } = options;
  const name = path.basename(file);
  const progressFile = file + PROGRESS_SUFFIX;
  const progressKey = inputProgressKey(path.resolve(file));
  const alreadyDone = Math.max(await readProgress(progressFile, log), await readStoredProgress(node, progressKey));
  if (alreadyDone > 0) log.info({ file: name, valuesDone: alreadyDone }, 'input file: going on after the values already taken');
  const batchMessages = options.batchMessages ?? 1000;
  const batchBytes = options.batchBytes ?? 4 * 1024 * 1024;

  const parser = new JsonStreamParser();
  let seen = 0;
  let batch: unknown[] = [];
  /** The values the batch's messages came from, for log lines. */
  let batchFirst = 0;
  let batchLast = 0;
  let bytesSinceFlush = 0;
  let accepted = 0;
  let refused = 0;
  const refuse = (value: number | string, error: { code: string; message: string }): void => {
    refused++;
    log.warn({ file: name, value, code: error.code }, `input file: refused: ${error.message}`);
  };

  const flush = async (): Promise<boolean> => {
    if (options.shouldStop()) return false;
    const progress: StoreOp[] = node.store ? [{ type: 'put', key: progressKey, value: { valuesDone: seen } }] : [];
    if (batch.length > 0 || progress.length > 0) {
      let results;
      try {
        results = await node.accept(batch, { alsoWrite: progress });
      } catch (err) {
        log.warn({ file: name, ...describeError(err) }, 'input file: the node took nothing; will try again');
        return false;
      }
      const failure = results.find((r) => 'error' in r && isNodeFailure(r.error.code));
      if (failure && !results.some((r) => 'status' in r)) {
        log.warn({ file: name, ...('error' in failure ? failure.error : {}) }, 'input file: the node took nothing; will try again');
        return false;
      }
      for (const r of results) {
        if ('error' in r) refuse(batchFirst === batchLast ? batchFirst : `${batchFirst}-${batchLast}`, r.error);
        else accepted++;
      }
    }
    batch = [];
    batchFirst = batchLast = 0;
    bytesSinceFlush = 0;
    await writeProgress(progressFile, seen);
    return true;
  };

  const take = async (items: StreamItem[]): Promise<boolean> => {
    for (const item of items) {
      const value = ++seen;
      if (value <= alreadyDone) continue;
      if (item.kind === 'error') refuse(value, item.error.toJSON());
      else {
        const messages = Array.isArray(item.value) ? item.value : [item.value];
        messages.forEach((message, i) => {
          const refusal = messageRefusal(message, i, messages.length, node.name, options.maxMessageBytes);
          if (refusal) refuse(value, refusal.toJSON());
          else batch.push(message);
        });
        if (batchFirst === 0) batchFirst = value;
        batchLast = value;
      }
      if (batch.length >= batchMessages && !(await flush())) return false;
    }
    return true;
  };

  const stream = createReadStream(file, { highWaterMark: 1024 * 1024 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (!(await take(parser.push(chunk)))) return 'interrupted';
      bytesSinceFlush += chunk.length;
      if (bytesSinceFlush >= batchBytes && !(await flush())) return 'interrupted';
    }
  } finally {
    stream.destroy();
  }
  if (!(await take(parser.end())) || !(await flush())) return 'interrupted';
  // The file goes first: a progress record left alone is harmless, a file without one
  // would be taken again from its start.
  await unlink(file);
  await unlink(progressFile).catch(() => {});
  await node.store?.write([{ type: 'del', key: progressKey }]).catch(() => {});
  log.info({ file: name, values: seen, accepted, refused }, 'input file taken');
  return 'done';
}

async function readStoredProgress(node: FileConsumingNode, key: string): Promise<number> {
  const record = (await node.store?.get<{ valuesDone?: unknown }>(key)) ?? undefined;
  const done = record?.valuesDone;
  return typeof done === 'number' && Number.isSafeInteger(done) && done >= 0 ? done : 0;
}

async function readProgress(progressFile: string, log: Logger): Promise<number> {
  let text: string;
  try {
    text = await readFile(progressFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let done: unknown;
  try {
    done = (JSON.parse(text) as { valuesDone?: unknown }).valuesDone;
  } catch {
    done = undefined;
  }
  if (typeof done === 'number' && Number.isSafeInteger(done) && done >= 0) return done;
  // Written by rename only, so this is damage from outside; taking the file again from
  // its start may accept messages twice, which is better than losing them.
  log.error({ file: path.basename(progressFile), text: text.slice(0, 200) }, 'input file: unreadable progress record; taking the file from its start');
  return 0;
}

/** Replaced by rename, so a crash leaves the old record or the new one, never half of one. */
async function writeProgress(progressFile: string, valuesDone: number): Promise<void> {
  const temporary = `${progressFile}.tmp`;
  await writeFile(temporary, JSON.stringify({ valuesDone }) + '\n');
  await rename(temporary, progressFile);
}
