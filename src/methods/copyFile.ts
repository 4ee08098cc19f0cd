import { createHash, randomUUID } from 'node:crypto';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { BosunError } from '../errors.ts';
import { isValidName } from '../message.ts';
import { CopyProgress, type CopyRecord } from './copyProgress.ts';
import { sourceFiles, type SourceFile } from './copySource.ts';
import { ownDeadlineMs } from './deadline.ts';
import { REQCopyChunk, REQCopyDone, sha256Of } from './copyReceive.ts';
import { CopyTracker } from './copyTracker.ts';
import type { MethodContext, MethodResult, MethodSpec } from './types.ts';

export const DEFAULT_CHUNK_BYTES = 256 * 1024;
/** Keeps a chunk message (base64, about 4/3 of the chunk) under NATS's default 1 MiB payload. */
export const MAX_CHUNK_BYTES = 512 * 1024;
const MIN_CHUNK_BYTES = 1024;
/** Chunks sent and not yet confirmed by the destination, per copy. */
export const DEFAULT_WINDOW_CHUNKS = 16;
/** methodTimeout of one chunk's write on the destination, in seconds. */
const CHUNK_METHOD_TIMEOUT = 60;

export interface CopyFileOptions {
  /** Default chunk size when the request gives none (256 KiB). */
  chunkBytes?: number;
  /** Chunks in flight per copy (16): bounds what a copy puts in the outbox at once. */
  windowChunks?: number;
}


/**
 * The copy methods of one node: `REQCopyFile` and the internal `REQCopyReceipt` on the
 * source, `REQCopyChunk` and `REQCopyDone` on the destination. The source's two share
 * the node's running copies, so each node gets its own set.
 *
 * `REQCopyFile` is sent to the SOURCE node:
 * `methodArgs: [srcPath, dstNode, dstPath, chunkBytes?]`.
 *
 * - `srcPath`: any absolute path on the source, a file or a folder. A folder is copied
 *   with every regular file under it (`dstPath/<path under srcPath>`); symbolic links and
 *   special files in it are skipped and counted, empty folders are not recreated.
 * - `dstPath`: where the copy lands on the destination, in this (the sending) node's
 *   folder there, as a result file from this node would: `from-ship1/hostname` sent by
 *   ship1 lands in `files/from-ship1/ship1/hostname` (a `dstPath` without a folder in
 *   `files/default/ship1/…`). So a node copies only into its own folders: never onto the
 *   destination's error log, hello logs or another node's files. Absolute paths and paths
 *   that climb out (`..`, symbolic links) are refused.
 * - `chunkBytes`: 1 KiB to 512 KiB, 256 KiB by default.
 *
 * Each chunk is a message of its own on the ordered `REQCopyChunk` stream, with its
 * sha256; the destination writes it to the landing path's `.bosun-part` and confirms it. The
 * source keeps at most `windowChunks` unconfirmed, reports progress every 10% of the
 * bytes the destination confirmed (`sent 30% (3 MiB of 10 MiB)`), and once a file's
 * chunks are all confirmed sends `REQCopyDone`, which checks size and sha256 and moves
 * the file into place. The last reply is `copied <n> bytes to <dstNode>:<dstPath>`; any
 * refusal by the destination ends the copy with its error. `methodTimeout` bounds the
 * whole copy.
 *
 * Restarts. Chunks are durable messages: once accepted, the delivery layer brings them
 * to the destination exactly once and in order, whichever side restarts, and the
 * destination's part file keeps what it wrote. The source keeps the copy's progress
 * durably (`CopyProgress`: each chunk the destination confirmed, by offset and sha256).
 * A source that a crash stopped runs the copy again when it restarts (the method is
 * idempotent), reads its progress back and sends only what the destination has not
 * confirmed; a confirmed chunk whose bytes changed since is sent again. If a source file
 * changed size or modification time meanwhile, the copy starts again from the first byte
 * and says so. A graceful stop that outlasts its grace period leaves the run to the next
 * start in the same way. The part file is renamed into place when the copy completes, so
 * none is left behind.
 *
 * One copy per destination path at a time: two copies into the same `dstPath` share the
 * part file, and the size and checksum check fails one of them.
 */
export function copyFileMethods(options: CopyFileOptions = {}): MethodSpec[] {
  const running = new Map<string, CopyTracker>();
  const REQCopyFile: MethodSpec = {
    name: 'REQCopyFile',
    summary: 'Copy methodArgs [srcPath, dstNode, dstPath, chunkBytes?] (file or folder) from this node into dstNode\'s files folder.',
    // A run a crash cut short is run again and goes on from its durable progress.
    idempotent: true,
    handler: (ctx) => copy(ctx, running, options),
  };
  const REQCopyReceipt: MethodSpec = {
    name: 'REQCopyReceipt',
    summary: 'Internal (REQCopyFile, source): the destination confirms or refuses a chunk or a file.',
    idempotent: true,
    inline: true,
    replies: false,
    async handler(ctx) {
      const tracker = running.get(ctx.message.methodArgs[0] ?? '');
      if (tracker) tracker.receipt(ctx.message);
      else ctx.log.debug({ copy: ctx.message.methodArgs[0], data: ctx.message.data }, 'receipt for a copy that is no longer running');
      return {};
    },
  };
  return [REQCopyFile, REQCopyReceipt, REQCopyChunk, REQCopyDone];
}

async function copy(ctx: MethodContext, running: Map<string, CopyTracker>, options: CopyFileOptions): Promise<MethodResult> {
  const request = copyRequest(ctx.message.methodArgs, options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const { files, skipped } = await sourceFiles(request.srcPath);
  const total = files.reduce((sum, f) => sum + f.size, 0);
  const progress = await progressOf(ctx, request, files);
  const { copyId } = progress.record;
  const tracker = new CopyTracker(request.dstNode);
  const report = progressReporter(total, (line) => ctx.emit(line));
  const onChange = async (): Promise<void> => {
    // What the destination confirmed is made durable before the copy goes on.
    for (const chunk of tracker.takeConfirmed()) await progress.chunkConfirmed(chunk.file, chunk.offset, chunk.sha256);
    for (const end of tracker.takeEnded()) await progress.fileEnded(end.file, end.bytes);
    await report(tracker.confirmedBytes);
  };
  const session: CopySession = { ctx, request, copyId, tracker, onChange, windowChunks: options.windowChunks ?? DEFAULT_WINDOW_CHUNKS };
  const held = await progress.confirmedChunks();
  const ended = await progress.endedFiles();
  running.set(copyId, tracker);
  const startedAt = Date.now();
  let stoppedWithNode = false;
  let bytes = 0;
  try {
    for (const [index, file] of files.entries()) {
      bytes += ended.has(index) ? file.size : await sendFile(session, file, index, held.get(index) ?? new Map());
    }
    await tracker.waitFor(() => tracker.allEnded, ctx.signal, onChange);
  } catch (e) {
    if (!ctx.signal.aborted) throw e;
    stoppedWithNode = !reachedMethodTimeout(ctx.message.methodTimeout, startedAt);
    const reason = ctx.signal.reason;
    throw new BosunError(
      reason instanceof BosunError ? reason.code : 'BOSUN_INTERRUPTED',
      `the copy to ${request.dstNode}:${request.dstPath} was stopped after the destination confirmed ${tracker.confirmedBytes} of ${total} bytes; send it again to finish it`,
      { cause: reason },
    );
  } finally {
    running.delete(copyId);
    // A copy stopped before its methodTimeout was stopped with its node (a graceful stop):
    // its run stays in the inbox and runs again at the next start, going on from this
    // progress. Otherwise it finished or failed, and nothing is left to resume.
    if (!stoppedWithNode) await progress.forget();
  }
  const where = `${request.dstNode}:${request.dstPath}`;
  if (files.length === 1 && files[0]!.relative === '') return { output: `copied ${bytes} bytes to ${where}` };
  const note = skipped > 0 ? `; skipped ${skipped} ${skipped === 1 ? 'entry that is' : 'entries that are'} neither a regular file nor a folder` : '';
  return { output: `copied ${files.length} ${files.length === 1 ? 'file' : 'files'} (${bytes} bytes) to ${where}${note}` };
}

/** Whether a run that began at `startedAt` has reached its `methodTimeout` (with the runtime's head start). */
function reachedMethodTimeout(methodTimeout: number, startedAt: number): boolean {
  const deadlineMs = ownDeadlineMs(methodTimeout);
  return deadlineMs !== undefined && Date.now() - startedAt >= deadlineMs;
}

/**
 * The copy's durable progress: the one an earlier run of this same request began (after a
 * crash), or a new one. An earlier one whose source files changed is dropped, and said so.
 */
async function progressOf(ctx: MethodContext, request: CopyRequest, files: SourceFile[]): Promise<CopyProgress> {
  const key = `${ctx.message.fromNode}!${ctx.message.id}`;
  const record: CopyRecord = {
    copyId: randomUUID(),
    ...request,
    files: files.map(({ relative, size, mtimeMs }) => ({ relative, size, mtimeMs })),
  };
  const earlier = await CopyProgress.find(ctx.registry, key);
  if (earlier !== undefined) {
    const total = formatBytes(files.reduce((sum, f) => sum + f.size, 0));
    if (sameFiles(earlier.record, record)) {
      await ctx.emit(`resuming the copy to ${request.dstNode}:${request.dstPath} (${total}) after a restart, from the chunks the destination confirmed`);
      return earlier;
    }
    await ctx.emit(`the source changed (size or modification time) since the copy to ${request.dstNode}:${request.dstPath} began; copying it again from the first byte`);
    await earlier.forget();
  }
  return CopyProgress.begin(ctx.registry, key, record);
}

function sameFiles(a: CopyRecord, b: CopyRecord): boolean {
  return (
    a.chunkBytes === b.chunkBytes &&
    a.files.length === b.files.length &&
    a.files.every((f, i) => f.relative === b.files[i]!.relative && f.size === b.files[i]!.size && f.mtimeMs === b.files[i]!.mtimeMs)
  );
}

interface CopyRequest {
  srcPath: string;
  dstNode: string;
  dstPath: string;
  chunkBytes: number;
}

interface CopySession {
  ctx: MethodContext;
  request: CopyRequest;
  copyId: string;
  tracker: CopyTracker;
  onChange(): Promise<void>;
  windowChunks: number;
}

/**
 * Sends one file's chunks, waits until the destination has them all, then sends its end.
 * `held` are the chunks the destination confirmed before a restart (offset → sha256): they
 * are read again for the whole-file sha256 but not sent, while their bytes are unchanged.
 */
async function sendFile(session: CopySession, file: SourceFile, index: number, held: ReadonlyMap<number, string>): Promise<number> {
  const { ctx, request, copyId, tracker, onChange } = session;
  const chunkBytes = request.chunkBytes;
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(chunkBytes);
  let offset = 0;
  // After a chunk that must be sent again, the destination rewrites what follows it.
  let trustHeld = true;
  const handle = await open(file.path, 'r').catch((e: Error) => {
    throw new BosunError('BOSUN_METHOD_FAILED', `could not read "${file.path}": ${e.message}`, { cause: e });
  });
  try {
    for (let n = 0; ; n++) {
      await tracker.waitFor(() => tracker.inFlight < session.windowChunks, ctx.signal, onChange);
      const { bytesRead } = await handle.read(buffer, 0, chunkBytes, offset);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      const sha256 = sha256Of(chunk);
      if (trustHeld && held.get(offset) === sha256) {
        tracker.alreadyHeld(bytesRead);
      } else {
        trustHeld = false;
        const id = `${copyId}.${index}.${n}`;
        tracker.expectChunk(id, { file: index, offset, bytes: bytesRead, sha256 });
        await queue(session, {
          id,
          method: REQCopyChunk.name,
          methodArgs: [copyId, request.dstPath, String(offset), sha256, file.relative],
          data: chunk.toString('base64'),
          methodTimeout: CHUNK_METHOD_TIMEOUT,
        });
      }
      offset += bytesRead;
    }
  } finally {
    await handle.close();
  }
  // Chunks and ends travel on different streams: the end may only leave once every chunk is written.
  await tracker.waitFor(() => tracker.inFlight === 0, ctx.signal, onChange);
  const id = `${copyId}.${index}.end`;
  tracker.expectEnd(id, index, offset);
  await queue(session, {
    id,
    method: REQCopyDone.name,
    methodArgs: [copyId, request.dstPath, String(offset), hash.digest('hex'), file.relative],
    // Hashing a large file takes a while: allow 20 MiB/s, at least a minute.
    methodTimeout: Math.max(CHUNK_METHOD_TIMEOUT, Math.ceil(offset / (20 * 1024 * 1024))),
  });
  return offset;
}

/** Accepts one message to the destination, with the request's delivery settings. */
async function queue(session: CopySession, fields: { id: string; method: string; methodArgs: string[]; data?: string; methodTimeout: number }): Promise<void> {
  const { ctx, request, copyId } = session;
  const m = ctx.message;
  const [result] = await ctx.send({
    ...fields,
    toNode: request.dstNode,
    replyMethod: 'REQCopyReceipt',
    replyMethodArgs: [copyId],
    ACKTimeout: m.ACKTimeout,
    retries: m.retries,
    retryWait: m.retryWait,
  });
  if (result && 'error' in result && result.error.code === 'BOSUN_NODE_STOPPING') {
    // The node is stopping: the copy waits to be stopped with it, and goes on at its next start.
    await new Promise<void>((resolve) => (ctx.signal.aborted ? resolve() : ctx.signal.addEventListener('abort', () => resolve(), { once: true })));
    ctx.signal.throwIfAborted();
  }
  if (!result || 'error' in result) {
    const why = result && 'error' in result ? result.error.message : 'nothing was accepted';
    throw new BosunError('BOSUN_METHOD_FAILED', `could not queue ${fields.method} for ${request.dstNode}: ${why}`);
  }
}

function copyRequest(args: string[], defaultChunkBytes: number): CopyRequest {
  const [srcPath, dstNode, dstPath, chunkArg] = args;
  const bad = (what: string): BosunError => new BosunError('BOSUN_BAD_MESSAGE', `REQCopyFile: ${what}`);
  if (!srcPath) throw bad('methodArgs[0] (srcPath) is missing; methodArgs are [srcPath, dstNode, dstPath, chunkBytes?]');
  if (srcPath.includes('\0')) throw bad('methodArgs[0] (srcPath) must not contain NUL bytes');
  if (!path.isAbsolute(srcPath)) throw bad(`methodArgs[0] (srcPath) must be an absolute path, not "${srcPath}"`);
  if (!dstNode) throw bad('methodArgs[1] (dstNode) is missing');
  if (!isValidName(dstNode)) throw bad(`methodArgs[1] (dstNode) "${dstNode}" is not a valid node name`);
  if (!dstPath) throw bad('methodArgs[2] (dstPath) is missing');
  if (dstPath.includes('\0')) throw bad('methodArgs[2] (dstPath) must not contain NUL bytes');
  // The destination checks again against its own folder (symbolic links included); this
  // catches the obvious cases before anything is sent.
  const normal = path.posix.normalize(dstPath);
  if (path.posix.isAbsolute(dstPath) || normal === '..' || normal.startsWith('../')) {
    throw new BosunError('BOSUN_PATH_OUTSIDE_ROOT', `REQCopyFile: methodArgs[2] (dstPath) "${dstPath}" would leave the destination's files folder`);
  }
  if (normal === '.') throw bad('methodArgs[2] (dstPath) must name a file or folder inside the files folder');
  let chunkBytes = defaultChunkBytes;
  if (chunkArg !== undefined && chunkArg !== '') {
    chunkBytes = Number(chunkArg);
    if (!/^\d+$/.test(chunkArg) || chunkBytes < MIN_CHUNK_BYTES || chunkBytes > MAX_CHUNK_BYTES) {
      throw bad(`methodArgs[3] (chunkBytes) must be a whole number from ${MIN_CHUNK_BYTES} to ${MAX_CHUNK_BYTES}`);
    }
  }
  return { srcPath: path.normalize(srcPath), dstNode, dstPath: normal.replace(/\/$/, ''), chunkBytes };
}

/** Emits `sent 30% (3 MiB of 10 MiB)` each time the confirmed bytes pass another tenth (up to 90%). */
function progressReporter(total: number, emit: (line: string) => Promise<void>): (confirmed: number) => Promise<void> {
  let reported = 0;
  return async (confirmed) => {
    if (total === 0) return;
    const tenth = Math.floor((confirmed * 10) / total);
    if (tenth <= reported || tenth >= 10) return;
    reported = tenth;
    await emit(`sent ${tenth * 10}% (${formatBytes(confirmed)} of ${formatBytes(total)})`);
  };
}

/** `512 B`, `3 MiB`, `1.5 GiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = unit === 0 || value >= 10 || Number.isInteger(value) ? String(Math.round(value)) : value.toFixed(1);
  return `${shown} ${units[unit]}`;
}
