import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { BosunError } from '../errors.ts';

/** The data dir's folders that hold what others must not read: the database, run results, keys. */
const PRIVATE_FOLDERS = ['db', 'files', 'keys'];
/** Folders whose files are made 0600 at start, besides being behind 0700 folders. */
const PRIVATE_FILE_FOLDERS = ['db', 'keys'];

/**
 * Makes the data dir the daemon's user's alone before anything is opened in it: the
 * dir and its `db/`, `files/` and `keys/` folders 0700, the files of `db/` and `keys/`
 * 0600, whatever the umask or the mode a dir had (a `mkdir -p` or a systemd
 * StateDirectory leaves 0755). The LevelDB log holds messages and command output; a
 * 0700 dir is what keeps files LevelDB makes later, with the umask's mode, out of reach.
 *
 * A data dir owned by another user is refused: that user could swap its files under
 * the daemon, whatever their modes.
 */
export async function secureDataDir(dataDir: string, extraPrivateDirs: readonly string[] = []): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await assertOwned(dataDir);
  await chmod(dataDir, 0o700);
  for (const folder of [...PRIVATE_FOLDERS.map((f) => path.join(dataDir, f)), ...extraPrivateDirs]) {
    await mkdir(folder, { recursive: true, mode: 0o700 });
    await assertOwned(folder);
    await chmod(folder, 0o700);
  }
  await tightenPrivateFiles(dataDir);
}

/**
 * Makes the files of `db/` and `keys/` 0600. Run again once the store is open: LevelDB
 * makes its first files then, with the umask's mode.
 */
export async function tightenPrivateFiles(dataDir: string): Promise<void> {
  for (const folder of PRIVATE_FILE_FOLDERS) await tightenFiles(path.join(dataDir, folder));
}

async function assertOwned(dir: string): Promise<void> {
  const info = await lstat(dir);
  if (!info.isDirectory()) throw new BosunError('BOSUN_UNSAFE_DATA_DIR', `"${dir}" is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    throw new BosunError('BOSUN_UNSAFE_DATA_DIR', `"${dir}" belongs to user ${info.uid}, not to the daemon's user ${uid}; give the daemon a data dir of its own`);
  }
}

async function tightenFiles(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    throw e;
  });
  for (const entry of entries) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      await chmod(file, 0o700);
      await tightenFiles(file);
    } else if (entry.isFile()) await chmod(file, 0o600);
  }
}
