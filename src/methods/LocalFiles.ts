import { AppendFiles } from './appendFiles.ts';
import { FileLocks } from './fileLocks.ts';

/** Most files kept open for appending by one node. */
const OPEN_FILES = 64;

/**
 * The files a node's methods change, as the node holds them: which batch may change a
 * file now, and the files kept open for appending. One per node, closed when it stops:
 * what a process holds dies with it, and a restarted node starts with none.
 */
export class LocalFiles {
  readonly locks = new FileLocks();
  readonly appends = new AppendFiles(OPEN_FILES, (file) => this.locks.isHeld(file));

  /** Closes every file held open. */
  close(): Promise<void> {
    return this.appends.closeAll();
  }
}

/** For a method run outside a node (a context without `localFiles`). */
export const PROCESS_LOCAL_FILES = new LocalFiles();
