import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { syncFolder } from './syncFolder.ts';

/**
 * Opened for appending without waiting: a FIFO with no reader would otherwise hold the
 * open (and with it the message's stream and one of the file system's worker threads)
 * until a reader came. With O_NONBLOCK such an open fails at once (ENXIO); a regular file
 * opens as it would without it.
 */
const APPEND_NO_WAIT = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK;

/** One file kept open for appending. */
interface OpenFile {
  handle: FileHandle;
  /** The inode it was opened at: a file replaced or removed since is opened again. */
  ino: number;
}

/**
 * Files appended to, kept open between batches: opening, writing and closing a file per
 * message cost more than the write itself. Bounded: the least recently used one is
 * closed when a new one would exceed `max`, unless a batch is using it.
 *
 * Each use checks (one `stat`) that the path still names the file held open, so a file
 * an operator moved away or deleted is created again, as a plain append would.
 */
export class AppendFiles {
  readonly #open = new Map<string, OpenFile>();
  readonly #opening = new Map<string, Promise<OpenFile>>();

  constructor(
    readonly max: number,
    private readonly inUse: (file: string) => boolean,
  ) {}

  /**
   * The file's length now; 0 for a file that does not exist yet. A missing file is not
   * created here: it appears with its first lines (`append`), so a reader waiting for a
   * result file never finds it empty between a batch's start and its write.
   */
  async lengthOf(file: string): Promise<number> {
    const known = this.#open.get(file);
    const now = await stat(file).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (known && now && now.ino === known.ino) {
      this.#touch(file, known);
      return now.size;
    }
    if (known) await this.forget(file);
    if (!now) return 0;
    const opened = await this.#openFile(file);
    return (await opened.handle.stat()).size;
  }

  /**
   * Appends `data` and makes it durable, creating the file (and its folders) if it is
   * missing. The file must have been measured (`lengthOf`) first.
   */
  async append(file: string, data: Buffer): Promise<void> {
    const f = this.#open.get(file) ?? (await this.#openFile(file));
    for (let written = 0; written < data.length; ) {
      written += (await f.handle.write(data, written, data.length - written)).bytesWritten;
    }
    await f.handle.datasync();
  }

  /** Cuts the file back to `length` (when it is longer), durably. A missing file is left missing. */
  async cutBack(file: string, length: number): Promise<void> {
    await this.forget(file);
    let handle: FileHandle;
    try {
      handle = await open(file, 'r+');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    try {
      if ((await handle.stat()).size > length) {
        await handle.truncate(length);
        await handle.sync();
      }
    } finally {
      await handle.close();
    }
  }

  /** Closes every file held open. */
  async closeAll(): Promise<void> {
    for (const file of [...this.#open.keys()]) await this.forget(file);
  }

  /** Closes the file if it is held open (it is about to be replaced, say). */
  async forget(file: string): Promise<void> {
    const known = this.#open.get(file);
    this.#open.delete(file);
    await known?.handle.close().catch(() => {});
  }

  #openFile(file: string): Promise<OpenFile> {
    let opening = this.#opening.get(file);
    if (!opening) {
      opening = this.#create(file).finally(() => this.#opening.delete(file));
      this.#opening.set(file, opening);
    }
    return opening;
  }

  async #create(file: string): Promise<OpenFile> {
    const folder = path.dirname(file);
    await mkdir(folder, { recursive: true });
    const handle = await open(file, APPEND_NO_WAIT, 0o666).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENXIO') throw new Error('it is a pipe (or a device) with no reader; appends go to regular files only', { cause: e });
      throw e;
    });
    const found = await handle.stat().catch(async (e: unknown) => {
      await handle.close();
      throw e;
    });
    if (!found.isFile()) {
      await handle.close();
      throw new Error('it is not a regular file (a pipe or a device, say); appends go to regular files only');
    }
    const { ino } = found;
    // A new file's name must outlive a power loss as its content does.
    await syncFolder(folder);
    const opened = { handle, ino };
    this.#touch(file, opened);
    await this.#evict();
    return opened;
  }

  #touch(file: string, f: OpenFile): void {
    this.#open.delete(file);
    this.#open.set(file, f);
  }

  async #evict(): Promise<void> {
    for (const [file] of this.#open) {
      if (this.#open.size <= this.max) return;
      if (!this.inUse(file)) await this.forget(file);
    }
  }
}
