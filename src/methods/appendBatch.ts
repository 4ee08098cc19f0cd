import path from 'node:path';
import { BosunError } from '../errors.ts';
import type { LocalFiles } from './LocalFiles.ts';
import type { MethodResult, PlannedBatch } from './types.ts';

/** One message's share of a batch of appends: a file and the text to add, or why it cannot. */
export type AppendPart = { file: string; text: string } | Error;

/** What a batch of appends keeps in its started record: each file's length before it. */
export interface AppendCheckpoint {
  files: Array<{ path: string; length: number }>;
}

/**
 * Plans a batch of appends as one effect: the files are taken (`FileLocks`) and
 * measured, each file then gets its parts' text in one write and one `fdatasync`.
 * The lengths are the checkpoint: after a crash, `reconcileAppends` cuts each file back
 * to its length, and the batch runs again, so an append is neither lost nor doubled.
 *
 * A file that cannot be opened or written fails its own parts only; a failed write is
 * cut back at once, so no half-written line stays behind.
 */
export async function planAppends(
  { locks, appends: files }: LocalFiles,
  filesDir: string,
  parts: AppendPart[],
  options: { holder: object; wait: boolean },
): Promise<PlannedBatch | undefined> {
  const targets = [...new Set(parts.flatMap((p) => (p instanceof Error ? [] : [p.file])))];
  if (options.wait) await locks.acquire(targets, options.holder);
  else if (!locks.tryAcquire(targets, options.holder)) return undefined;
  const lengths = new Map<string, number>();
  const failed = new Map<string, Error>();
  for (const file of targets) {
    try {
      lengths.set(file, await files.lengthOf(file));
    } catch (e) {
      failed.set(file, writeError(filesDir, file, e));
    }
  }
  return {
    checkpoint: { files: [...lengths].map(([file, length]) => ({ path: path.relative(filesDir, file), length })) } satisfies AppendCheckpoint,
    apply: async () => {
      for (const [file, length] of lengths) {
        const text = parts.flatMap((p) => (!(p instanceof Error) && p.file === file ? [p.text] : [])).join('');
        try {
          await files.append(file, Buffer.from(text));
        } catch (e) {
          failed.set(file, writeError(filesDir, file, e));
          await files.cutBack(file, length).catch(() => {});
        }
      }
      return parts.map((p): MethodResult | Error => (p instanceof Error ? p : (failed.get(p.file) ?? {})));
    },
    release: () => locks.release(targets, options.holder),
  };
}

/**
 * Undoes a batch of appends a crash cut short: every file it names is cut back to the
 * length it had before the batch (a file already shorter, or missing, is left alone).
 * The cut is durable before this resolves.
 */
export async function reconcileAppends(checkpoint: unknown, where: { filesDir: string; localFiles: LocalFiles }): Promise<void> {
  const recorded = (checkpoint as Partial<AppendCheckpoint>).files;
  if (!Array.isArray(recorded)) throw new BosunError('BOSUN_STORE_CORRUPT', 'a started record of file appends names no files');
  for (const { path: relative, length } of recorded) {
    const file = path.resolve(where.filesDir, relative);
    const rel = path.relative(where.filesDir, file);
    if (rel.startsWith('..') || path.isAbsolute(rel) || !Number.isSafeInteger(length) || length < 0) {
      throw new BosunError('BOSUN_STORE_CORRUPT', `a started record of file appends names "${relative}" at ${length}, which is not a file length in the files folder`);
    }
    await where.localFiles.appends.cutBack(file, length);
  }
}

function writeError(filesDir: string, file: string, cause: unknown): BosunError {
  return new BosunError('BOSUN_METHOD_FAILED', `could not write "${path.relative(filesDir, file)}": ${(cause as Error).message}`, { cause });
}
