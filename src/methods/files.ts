import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BosunError } from '../errors.ts';
import type { Message } from '../message.ts';
import { resolveInside } from './paths.ts';
import type { MethodContext, MethodResult, MethodSpec } from './types.ts';

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
  return resolveInside(
    filesDir,
    { name: 'directory', value: directory ?? (message.inReplyTo ? message.inReplyTo.method : 'default'), rooted: true },
    { name: 'node', value: message.fromNode },
    { name: 'fileName', value: fileName ?? `${originalMethod}.result` },
  );
}

type WriteMode = 'append' | 'truncate';

async function writeResult(ctx: MethodContext, mode: WriteMode): Promise<MethodResult> {
  const { file: target, note } = await resultTarget(ctx.filesDir, ctx.message);
  const data = note === undefined ? (ctx.message.data ?? '') : `${note}\n${ctx.message.data ?? ''}`;
  try {
    await mkdir(path.dirname(target), { recursive: true });
    if (mode === 'append') await appendFile(target, data.endsWith('\n') ? data : data + '\n');
    else await writeFile(target, data);
  } catch (err) {
    const relative = path.relative(ctx.filesDir, target);
    throw new BosunError('BOSUN_METHOD_FAILED', `could not write "${relative}": ${(err as Error).message}`, { cause: err });
  }
  ctx.log.debug({ file: target, mode, bytes: Buffer.byteLength(data) }, 'wrote result file');
  return {};
}

/** Appends `data` as one entry (newline-terminated; empty data adds an empty line). */
export const REQToFileAppend: MethodSpec = {
  name: 'REQToFileAppend',
  summary: 'Append data to <files>/<directory>/<fromNode>/<fileName>, ending it with a newline.',
  // A re-run after a crash could append the same entry twice.
  idempotent: false,
  replies: false,
  handler: (ctx) => writeResult(ctx, 'append'),
};

/** Replaces the file's content with `data`, exactly as given. */
export const REQToFile: MethodSpec = {
  name: 'REQToFile',
  summary: 'Write data to <files>/<directory>/<fromNode>/<fileName>, replacing what was there.',
  idempotent: true,
  replies: false,
  handler: (ctx) => writeResult(ctx, 'truncate'),
};
