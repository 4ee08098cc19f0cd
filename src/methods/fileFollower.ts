import { watch, type FSWatcher } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { LineSplitter } from './lineSplitter.ts';

export interface FollowOptions {
  /** Stops following; `followFile` then resolves. */
  signal: AbortSignal;
  /** How often the path is checked for new data, rotation and truncation (default 250 ms). */
  pollMs?: number;
  /** Longer lines are passed on in pieces of this many characters (default 64 Ki). */
  maxLineChars?: number;
  /**
   * Opens the file for reading (default: `open(file, 'r')` from `node:fs/promises`); a
   * missing file rejects with `ENOENT`. Tests pass a handle that lands a write at an exact
   * point between two reads.
   */
  openFile?: (file: string) => Promise<FollowedHandle>;
}

/** What `followFile` does with an open file; a `node:fs/promises` `FileHandle` is one. */
export interface FollowedHandle {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  stat(): Promise<{ size: number; dev: number; ino: number }>;
  close(): Promise<void>;
}

/** Bytes before the read position kept to notice a file truncated and refilled in between two polls. */
const FINGERPRINT_BYTES = 64;
const READ_BYTES = 64 * 1024;
/** Closest two checks may follow each other when the directory watcher is busy. */
const MIN_GAP_MS = 20;

interface OpenFile {
  handle: FollowedHandle;
  dev: number;
  ino: number;
  /** Where the next read starts. */
  position: number;
  /**
   * The bytes just before `position` (at most FINGERPRINT_BYTES), exactly as read: every
   * read starts with them and compares, so they must be kept in step with `position` on
   * every path.
   */
  fingerprint: Buffer;
  lines: LineSplitter;
}

/**
 * Follows `file` like `tail -F`, handing each line that is appended to it to `onLine`, in
 * order, one at a time (the next line waits for the returned promise).
 *
 * - It starts at the current end: lines already in the file are not passed on. A file
 *   that does not exist yet is waited for and then read from its start.
 * - Rotation (the file renamed or removed and a new one created under the name) is
 *   noticed by a changed inode: what was still appended to the old file is read first,
 *   then the new file from its start.
 * - Truncation (`copytruncate`) is noticed by the size dropping below the read position,
 *   or by the bytes just before it changing (the file was truncated and refilled between
 *   two checks); reading starts over at 0. A file truncated and refilled with the very
 *   same bytes there is not noticed.
 *
 * The path is checked every `pollMs`; a watcher on the folder only wakes the check
 * early, since watchers miss events on some file systems. A last line without a newline
 * is passed on when the file rotates or following stops.
 */
export async function followFile(file: string, onLine: (line: string) => Promise<void>, options: FollowOptions): Promise<void> {
  const { signal, pollMs = 250, maxLineChars, openFile = (f: string) => open(f, 'r') } = options;
  const waker = new Waker(path.dirname(file), signal);
  const opened = (where: 'start' | 'end') => openAt(openFile, file, where, () => new LineSplitter(maxLineChars));
  let current = await opened('end');
  try {
    while (!signal.aborted) {
      if (current) await readNew(current);
      const now = await statOrUndefined(file);
      if (now && (!current || now.ino !== current.ino || now.dev !== current.dev)) {
        const next = await opened('start');
        if (next) {
          if (current) {
            // Whatever the writer still put in the old file comes before the new file.
            await readNew(current);
            await flush(current);
            await current.handle.close();
          }
          current = next;
          await readNew(current);
        }
      }
      await waker.sleep(pollMs);
    }
    if (current) await flush(current);
  } finally {
    waker.close();
    await current?.handle.close();
  }

  async function readNew(f: OpenFile): Promise<void> {
    const buffer = Buffer.allocUnsafe(FINGERPRINT_BYTES + READ_BYTES);
    while (!signal.aborted) {
      const chunk = await readAfter(f, buffer);
      if (chunk === 'replaced') {
        await restart(f);
        continue;
      }
      if (chunk.length === 0) return;
      for (const line of f.lines.push(chunk)) await onLine(line);
    }
  }

  async function flush(f: OpenFile): Promise<void> {
    for (const line of f.lines.end()) await onLine(line);
  }

  async function restart(f: OpenFile): Promise<void> {
    await flush(f);
    f.position = 0;
    f.fingerprint = Buffer.alloc(0);
  }
}

async function openAt(
  openFile: (file: string) => Promise<FollowedHandle>,
  file: string,
  where: 'start' | 'end',
  lines: () => LineSplitter,
): Promise<OpenFile | undefined> {
  let handle: FollowedHandle;
  try {
    handle = await openFile(file);
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
  try {
    const st = await handle.stat();
    const end = where === 'end' ? st.size : 0;
    const fingerprint = Buffer.alloc(Math.min(FINGERPRINT_BYTES, end));
    const { bytesRead } = fingerprint.length > 0 ? await handle.read(fingerprint, 0, fingerprint.length, end - fingerprint.length) : { bytesRead: 0 };
    // A file that shrank since the stat: start where its bytes ran out, so that the
    // fingerprint is still exactly the bytes before the position.
    const position = end - fingerprint.length + bytesRead;
    return { handle, dev: st.dev, ino: st.ino, position, fingerprint: fingerprint.subarray(0, bytesRead), lines: lines() };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/**
 * Reads the bytes after `f.position` into `buffer` and moves past them, or says that the
 * file was replaced under the position: truncated below it, or truncated and refilled so
 * that the bytes before it changed. The fingerprint bytes come in the same read as the new
 * bytes, so a file rewritten between a separate check and the read cannot pass the check
 * and then hand over the tail of its new content as new lines.
 */
async function readAfter(f: OpenFile, buffer: Buffer): Promise<Buffer | 'replaced'> {
  const kept = f.fingerprint.length;
  const { bytesRead } = await f.handle.read(buffer, 0, buffer.length, f.position - kept);
  if (bytesRead < kept || !buffer.subarray(0, kept).equals(f.fingerprint)) return 'replaced';
  f.position += bytesRead - kept;
  // A copy: `buffer` is filled again by the next read.
  f.fingerprint = Buffer.from(buffer.subarray(Math.max(0, bytesRead - FINGERPRINT_BYTES), bytesRead));
  return buffer.subarray(kept, bytesRead);
}

async function statOrUndefined(file: string): Promise<{ dev: number; ino: number } | undefined> {
  try {
    return await stat(file);
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Sleeps until the poll interval passes, the folder watcher sees a change, or the signal fires. */
class Waker {
  #watcher: FSWatcher | undefined;
  #wake: (() => void) | undefined;
  #changed = false;
  readonly #onAbort = (): void => this.#wake?.();

  constructor(
    folder: string,
    private readonly signal: AbortSignal,
  ) {
    try {
      this.#watcher = watch(folder, { persistent: false }, () => {
        this.#changed = true;
        this.#wake?.();
      });
      this.#watcher.on('error', () => this.#watcher?.close());
    } catch {
      // No watcher (the folder does not exist yet, or the platform has none): polling alone.
    }
    signal.addEventListener('abort', this.#onAbort);
  }

  async sleep(ms: number): Promise<void> {
    if (this.signal.aborted) return;
    if (this.#changed) {
      this.#changed = false;
      await new Promise((resolve) => setTimeout(resolve, MIN_GAP_MS));
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
    this.#wake = undefined;
    this.#changed = false;
  }

  close(): void {
    this.#watcher?.close();
    this.signal.removeEventListener('abort', this.#onAbort);
  }
}
