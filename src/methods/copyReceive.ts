import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { BosunError } from '../errors.ts';
import { resolveInside, type NamedPathPart } from './paths.ts';
import type { MethodContext, MethodResult, MethodSpec } from './types.ts';
import { syncFolder } from './syncFolder.ts';

/** The destination collects a file under `<landing path>.bosun-part` until `REQCopyDone` renames it. */
export const PART_SUFFIX = '.bosun-part';

const SHA256_HEX = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const HASH_READ_BYTES = 1024 * 1024;

/**
 * Internal to `REQCopyFile`, on the destination: one chunk of a file.
 * `methodArgs: [copyId, dstPath, offset, sha256, relative?]`, `data`: the chunk in base64;
 * `relative` is the file's path under a copied folder. The file lands in the sending
 * node's folder (`destination`).
 *
 * The chunk is checked against its sha256 and written at `offset` in the part file,
 * which is fsynced. The stream's order and exactly-once delivery put chunks in order; a
 * chunk the part file already holds (the copy was sent again after an interruption) is
 * compared and skipped, and one that differs replaces the part from its offset on, so a
 * repeat is harmless. Replies with the bytes the part file now holds.
 */
export const REQCopyChunk: MethodSpec = {
  name: 'REQCopyChunk',
  summary: 'Internal (REQCopyFile, destination): check one chunk against its sha256 and write it to <dstPath>.bosun-part.',
  idempotent: true,
  handler: (ctx) => explained(writeChunk(ctx), ctx),
};

/**
 * Internal to `REQCopyFile`, on the destination: the end of one file.
 * `methodArgs: [copyId, dstPath, size, sha256, relative?]`.
 *
 * Checks the part file's size and whole-file sha256, fsyncs it and renames it over
 * `dstPath` (then fsyncs the folder), so the file appears whole or not at all. Replies
 * `copied <n> bytes`. A mismatch removes the part file and fails with
 * `BOSUN_CHECKSUM_MISMATCH`. Repeating it after success replies the same.
 */
export const REQCopyDone: MethodSpec = {
  name: 'REQCopyDone',
  summary: 'Internal (REQCopyFile, destination): check a copied file\'s size and sha256, then move it into place.',
  idempotent: true,
  handler: (ctx) => explained(finishFile(ctx), ctx),
};

async function writeChunk(ctx: MethodContext): Promise<MethodResult> {
  const [, dstPath, offsetArg, sha256, relative] = copyArgs(ctx, 'offset');
  const offset = Number(offsetArg);
  const bytes = base64Data(ctx.message.data);
  if (sha256Of(bytes) !== sha256) {
    throw new BosunError('BOSUN_CHECKSUM_MISMATCH', `the chunk at offset ${offset} of "${dstPath}" does not match its sha256; it was not written`);
  }
  const { part } = await destination(ctx.filesDir, ctx.message.fromNode, dstPath, relative);
  await mkdir(path.dirname(part), { recursive: true });
  const handle = await open(part, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
  try {
    const { size } = await handle.stat();
    if (offset > size) {
      throw new BosunError(
        'BOSUN_METHOD_FAILED',
        `the chunk at offset ${offset} of "${dstPath}" arrived but the part file holds only ${size} bytes: an earlier chunk is missing; send the copy again`,
      );
    }
    if (offset < size) {
      const held = Buffer.alloc(Math.min(bytes.length, size - offset));
      await handle.read(held, 0, held.length, offset);
      if (held.length === bytes.length && held.equals(bytes)) return { output: String(offset + bytes.length) };
      // A different file was copied here before: what follows this offset is stale.
      await handle.truncate(offset);
    }
    await handle.write(bytes, 0, bytes.length, offset);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  return { output: String(offset + bytes.length) };
}

async function finishFile(ctx: MethodContext): Promise<MethodResult> {
  const [, dstPath, sizeArg, sha256, relative] = copyArgs(ctx, 'size');
  const size = Number(sizeArg);
  const { target, part } = await destination(ctx.filesDir, ctx.message.fromNode, dstPath, relative);
  const copied = { output: `copied ${size} bytes` };
  let handle: FileHandle;
  try {
    handle = await open(part, constants.O_RDWR | constants.O_NOFOLLOW | (size === 0 ? constants.O_CREAT : 0), 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    // Already moved into place by an earlier run of this same step.
    if (await holds(target, size, sha256)) return copied;
    throw new BosunError('BOSUN_METHOD_FAILED', `no part file for "${dstPath}": its chunks never arrived; send the copy again`);
  }
  try {
    const held = (await handle.stat()).size;
    if (held < size) {
      throw new BosunError('BOSUN_METHOD_FAILED', `the part file for "${dstPath}" holds ${held} of ${size} bytes; send the copy again`);
    }
    // Longer only when an earlier, longer file was copied here and this one matched its start.
    if (held > size) await handle.truncate(size);
    if ((await sha256OfHandle(handle, size)) !== sha256) {
      await handle.close().catch(() => {});
      await rm(part, { force: true });
      throw new BosunError(
        'BOSUN_CHECKSUM_MISMATCH',
        `"${dstPath}" does not match the source's sha256 (${size} bytes); the part file was removed; send the copy again`,
      );
    }
    await handle.sync();
  } finally {
    await handle.close().catch(() => {});
  }
  try {
    await rename(part, target);
  } catch (e) {
    throw new BosunError('BOSUN_METHOD_FAILED', `could not move the copy into place at "${dstPath}": ${(e as Error).message}`, { cause: e });
  }
  await syncFolder(path.dirname(target));
  return copied;
}

/** File system errors (a full disk, a permission) say which copy they hit. */
async function explained(run: Promise<MethodResult>, ctx: MethodContext): Promise<MethodResult> {
  try {
    return await run;
  } catch (e) {
    if (e instanceof BosunError) throw e;
    const dstPath = ctx.message.methodArgs[1];
    throw new BosunError('BOSUN_METHOD_FAILED', `copying to "${dstPath}" failed: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The checked arguments shared by both steps: `[copyId, dstPath, <offset|size>, sha256, relative]`.
 */
function copyArgs(ctx: MethodContext, third: 'offset' | 'size'): [string, string, string, string, string] {
  const method = ctx.message.method;
  const [copyId, dstPath, number, sha256, relative = ''] = ctx.message.methodArgs;
  const bad = (what: string): BosunError => new BosunError('BOSUN_BAD_MESSAGE', `${method}: ${what}`);
  if (!copyId) throw bad('methodArgs[0] (the copy id) is missing');
  if (!dstPath) throw bad('methodArgs[1] (dstPath) is missing');
  if (dstPath.includes('\0')) throw bad('methodArgs[1] (dstPath) must not contain NUL bytes');
  if (number === undefined || !/^\d{1,16}$/.test(number) || !Number.isSafeInteger(Number(number))) {
    throw bad(`methodArgs[2] (the ${third}) must be a whole number of bytes`);
  }
  if (sha256 === undefined || !SHA256_HEX.test(sha256)) throw bad('methodArgs[3] (the sha256) must be 64 lowercase hex digits');
  if (relative.includes('\0')) throw bad('methodArgs[4] (the path under the copied folder) must not contain NUL bytes');
  return [copyId, dstPath, number, sha256, relative];
}

function base64Data(data: string | undefined): Buffer {
  if (data === undefined || data === '' || data.length % 4 !== 0 || !BASE64.test(data)) {
    throw new BosunError('BOSUN_BAD_MESSAGE', 'REQCopyChunk: data must hold the chunk in base64');
  }
  return Buffer.from(data, 'base64');
}

/**
 * Where a copied file lands: in the sending node's folder, as a result file from that node
 * would, `<folder of dstPath>/<fromNode>/<last part of dstPath>[/<relative>]` in the files
 * folder (`default` when `dstPath` has no folder), and its part file next to it. So a node
 * copies only into folders of its own: the error log, hello logs and other nodes' results
 * are out of its reach. Every part is confined (`resolveInside`: no absolute path, no `..`
 * or symbolic link out).
 */
export async function destination(filesDir: string, fromNode: string, dstPath: string, relative = ''): Promise<{ target: string; part: string }> {
  const normal = path.posix.normalize(dstPath).replace(/\/$/, '');
  const name = path.posix.basename(normal);
  if (normal === '.' || normal === '' || name === '..' || name === '') {
    throw new BosunError('BOSUN_BAD_MESSAGE', `dstPath "${dstPath}" must name a file or folder inside the files folder`);
  }
  const folder = path.posix.dirname(normal);
  const parts: NamedPathPart[] = [
    { name: 'dstPath', value: folder === '.' ? 'default' : folder },
    { name: 'node', value: fromNode },
    { name: 'dstPath', value: name },
  ];
  if (relative !== '') parts.push({ name: 'the path under the copied folder', value: relative });
  const target = await resolveInside(filesDir, ...parts);
  const last = parts.length - 1;
  const part = await resolveInside(filesDir, ...parts.slice(0, last), { ...parts[last]!, value: parts[last]!.value + PART_SUFFIX });
  return { target, part };
}

export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function sha256OfHandle(handle: FileHandle, size: number): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(Math.min(HASH_READ_BYTES, Math.max(1, size)));
  for (let position = 0; position < size; ) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - position), position);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash.digest('hex');
}

async function holds(file: string, size: number, sha256: string): Promise<boolean> {
  try {
    if ((await stat(file)).size !== size) return false;
    const handle = await open(file, 'r');
    try {
      return (await sha256OfHandle(handle, size)) === sha256;
    } finally {
      await handle.close();
    }
  } catch {
    return false;
  }
}
