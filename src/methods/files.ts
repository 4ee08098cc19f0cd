import { open, rename, unlink } from 'node:fs/promises';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { BosunError } from '../errors.ts';
import type { Message } from '../message.ts';
import { planAppends, reconcileAppends, type AppendPart } from './appendBatch.ts';
import { PROCESS_LOCAL_FILES, type LocalFiles } from './LocalFiles.ts';
import { resolveInsideOnce } from './confinedPaths.ts';
import { runAlone } from './runAlone.ts';
import type { BatchSpec, MethodContext, MethodSpec, PlannedBatch } from './types.ts';

/** Messages appended, or written, in one batch. */
const BATCH_MAX = 1024;

/**
 * Where a file method writes: `<filesDir>/<directory>/<fromNode>/<fileName>`.
 *
 * `fromNode` is the node that produced the data; for a reply that is the node that ran
 * the request, so each node's results land in a folder of their own.
 *
 * Defaults, chosen so results of different methods never share a file:
 * - `directory`: the answered request's method for a reply (`REQCliCommand/…`), else
 *   `default`;
 * - `fileName`: `<method>.result`, with the answered request's method for a reply and
 *   the message's own otherwise.
 *
 * Every part is confined by `resolveInside`: no part may climb out of the folder
 * before it, directly or through a symlink.
 */
export async function resultFilePath(filesDir: string, message: Message): Promise<string> {
  const originalMethod = message.inReplyTo?.method ?? message.method;
  const directory = message.directory ?? (message.inReplyTo ? message.inReplyTo.method : 'default');
  const fileName = message.fileName ?? `${originalMethod}.result`;
  return resolveInsideOnce(
    filesDir,
    { name: 'directory', value: directory },
    { name: 'node', value: message.fromNode },
    { name: 'fileName', value: fileName },
  );
}

/** What an append adds for one message: its data as one entry, ending with a newline. */
function appendedText(message: Message): string {
  const data = message.data ?? '';
  return data.endsWith('\n') ? data : data + '\n';
}

async function appendPart(ctx: MethodContext): Promise<AppendPart> {
  try {
    return { file: await resultFilePath(ctx.filesDir, ctx.message), text: appendedText(ctx.message) };
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

const appendBatch: BatchSpec = {
  max: BATCH_MAX,
  async plan(contexts, options) {
    const parts = await Promise.all(contexts.map(appendPart));
    return planAppends(contexts[0]!.localFiles ?? PROCESS_LOCAL_FILES, contexts[0]!.filesDir, parts, options);
  },
  reconcile: reconcileAppends,
};

/** Appends `data` as one entry (newline-terminated; empty data adds an empty line). */
export const REQToFileAppend: MethodSpec = {
  name: 'REQToFileAppend',
  summary: 'Append data to <files>/<directory>/<fromNode>/<fileName>, ending it with a newline.',
  // A re-run after a crash could append the same entry twice: the batch's started
  // record keeps each file's length, so a cut-short batch is cut back and run again.
  idempotent: false,
  replies: false,
  batch: appendBatch,
  handler: (ctx) => runAlone(appendBatch, ctx),
};

/**
 * Writes `data` as the whole content of `file`, atomically: a temporary file beside it
 * is written and made durable, then renamed over it, so a reader sees the old content or
 * the new, never a part.
 */
async function replaceFile(localFiles: LocalFiles, filesDir: string, file: string, data: string): Promise<void> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${++temporaries}.tmp`);
  try {
    await mkdir(path.dirname(file), { recursive: true });
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(data);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await localFiles.appends.forget(file);
    await rename(temporary, file);
  } catch (err) {
    await unlink(temporary).catch(() => {});
    throw new BosunError('BOSUN_METHOD_FAILED', `could not write "${path.relative(filesDir, file)}": ${(err as Error).message}`, { cause: err });
  }
}
let temporaries = 0;

const replaceBatch: BatchSpec = {
  max: BATCH_MAX,
  async plan(contexts): Promise<PlannedBatch> {
    const parts = await Promise.all(contexts.map((ctx) => resultFilePath(ctx.filesDir, ctx.message).catch((e: Error) => e)));
    return {
      apply: async () => {
        // Only the last content of each file stays, so only that one is written.
        const last = new Map<string, number>();
        parts.forEach((p, i) => typeof p === 'string' && last.set(p, i));
        const failed = new Map<string, Error>();
        for (const [file, i] of last) {
          await replaceFile(contexts[i]!.localFiles ?? PROCESS_LOCAL_FILES, contexts[i]!.filesDir, file, contexts[i]!.message.data ?? '').catch((e: Error) => failed.set(file, e));
        }
        return parts.map((p) => (p instanceof Error ? p : (failed.get(p) ?? {})));
      },
      release: () => {},
    };
  },
};

/** Replaces the file's content with `data`, exactly as given. */
export const REQToFile: MethodSpec = {
  name: 'REQToFile',
  summary: 'Write data to <files>/<directory>/<fromNode>/<fileName>, replacing what was there (atomically).',
  idempotent: true,
  replies: false,
  batch: replaceBatch,
  handler: (ctx) => runAlone(replaceBatch, ctx),
};
