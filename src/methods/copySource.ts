import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { BosunError } from '../errors.ts';

/** One regular file a copy reads, as it was when the copy began. */
export interface SourceFile {
  path: string;
  /** Path under the copied folder (posix); empty for a single file. */
  relative: string;
  size: number;
  mtimeMs: number;
}

/** The files to copy: `srcPath` itself, or every regular file under it, sorted. */
export async function sourceFiles(srcPath: string): Promise<{ files: SourceFile[]; skipped: number }> {
  let st;
  try {
    st = await stat(srcPath);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new BosunError('BOSUN_METHOD_FAILED', `srcPath "${srcPath}" does not exist`);
    throw new BosunError('BOSUN_METHOD_FAILED', `could not read srcPath "${srcPath}": ${(e as Error).message}`, { cause: e });
  }
  if (st.isFile()) return { files: [{ path: srcPath, relative: '', size: st.size, mtimeMs: st.mtimeMs }], skipped: 0 };
  if (!st.isDirectory()) throw new BosunError('BOSUN_METHOD_FAILED', `srcPath "${srcPath}" is neither a regular file nor a folder`);
  const files: SourceFile[] = [];
  let skipped = 0;
  const walk = async (folder: string, relative: string): Promise<void> => {
    const entries = (await readdir(folder, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const full = path.join(folder, entry.name);
      const rel = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) await walk(full, rel);
      else if (entry.isFile()) {
        const { size, mtimeMs } = await stat(full);
        files.push({ path: full, relative: rel, size, mtimeMs });
      }
      else skipped++;
    }
  };
  await walk(srcPath, '');
  return { files, skipped };
}

