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
 * before it, directly or through a symlink.
 */
export async function resultFilePath(filesDir: string, message: Message): Promise<string> {
  const originalMethod = message.inReplyTo?.method ?? message.method;
  const directory = message.directory ?? (message.inReplyTo ? message.inReplyTo.method : 'default');
  const fileName = message.fileName ?? `${originalMethod}.result`;
  return resolveInside(
    filesDir,
    { name: 'directory', value: directory },
    { name: 'node', value: message.fromNode },
    { name: 'fileName', value: fileName },
  );
}

type WriteMode = 'append' | 'truncate';

async function writeResult(ctx: MethodContext, mode: WriteMode): Promise<MethodResult> {
  const target = await resultFilePath(ctx.filesDir, ctx.message);
  const data = ctx.message.data ?? '';
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
