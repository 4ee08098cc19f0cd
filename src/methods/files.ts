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
 * before it, directly or through a symlink. An absolute `directory` (steward's
 * `/var/steward/…`) is a folder under the files folder.
 */
export async function resultFilePath(filesDir: string, message: Message): Promise<string> {
  return (await resultTarget(filesDir, message)).file;
}

/**
 * `resultFilePath`, for the writer: a reply whose `directory` or `fileName` is refused on
 * this node (it climbs out, or through a symbolic link) still lands where replies land, in
 * the default directory, and `note` says why, so the user sees the reply (often the error
 * that very path caused) instead of only a line in the log. A request's own refused path
 * is refused: its sender gets that as an error reply.
 */
export async function resultTarget(filesDir: string, message: Message): Promise<{ file: string; note?: string }> {
  try {
    return { file: await confinedPath(filesDir, message, message.directory, message.fileName) };
  } catch (e) {
    if (!message.isReply || !(e instanceof BosunError) || e.code !== 'BOSUN_PATH_OUTSIDE_ROOT') throw e;
    const defaultName = `${message.inReplyTo?.method ?? message.method}.result${message.error ? '.error' : ''}`;
    const file = await confinedPath(filesDir, message, undefined, message.fileName).catch(() => confinedPath(filesDir, message, undefined, defaultName));
    return { file, note: `[bosun: ${e.message}; this reply was written to "${path.relative(filesDir, file)}" instead]` };
  }
}

async function confinedPath(filesDir: string, message: Message, directory: string | undefined, fileName: string | undefined): Promise<string> {
  const originalMethod = message.inReplyTo?.method ?? message.method;
  return resolveInsideOnce(
    filesDir,
    { name: 'directory', value: directory ?? (message.inReplyTo ? message.inReplyTo.method : 'default'), rooted: true },
    { name: 'node', value: message.fromNode },
    { name: 'fileName', value: fileName ?? `${originalMethod}.result` },
  );
}

/** What an append adds for one message: its data as one entry, ending with a newline, after the note of a refused path. */
function appendedText(message: Message, note: string | undefined): string {
  const data = note === undefined ? (message.data ?? '') : `${note}\n${message.data ?? ''}`;
  return data.endsWith('\n') ? data : data + '\n';
}

async function appendPart(ctx: MethodContext): Promise<AppendPart> {
  try {
    const { file, note } = await resultTarget(ctx.filesDir, ctx.message);
    return { file, text: appendedText(ctx.message, note) };
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
    const parts = await Promise.all(contexts.map((ctx) => resultTarget(ctx.filesDir, ctx.message).catch((e: Error) => e)));
    const fileOf = (p: { file: string } | Error) => (p instanceof Error ? p : p.file);
    return {
      apply: async () => {
        // Only the last content of each file stays, so only that one is written.
        const last = new Map<string, number>();
        parts.forEach((p, i) => !(p instanceof Error) && last.set(p.file, i));
        const failed = new Map<string, Error>();
        for (const [file, i] of last) {
          const { note } = parts[i] as { note?: string };
          const data = note === undefined ? (contexts[i]!.message.data ?? '') : `${note}\n${contexts[i]!.message.data ?? ''}`;
          await replaceFile(contexts[i]!.localFiles ?? PROCESS_LOCAL_FILES, contexts[i]!.filesDir, file, data).catch((e: Error) => failed.set(file, e));
        }
        return parts.map((p) => {
          const file = fileOf(p);
          return file instanceof Error ? file : (failed.get(file) ?? {});
        });
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
