import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';
import { BosunError } from '../errors.ts';

/** A path part with the name of the field it came from, so a refusal can name it. */
export interface NamedPathPart {
  name: string;
  value: string;
  /**
   * An absolute value names a folder under the folder reached so far instead of being
   * refused: steward joined `"directory": "/var/steward/…"` under its data folder, and
   * bosun joins it under the files folder. `..` out of it is refused all the same.
   */
  rooted?: boolean;
}

export type PathPart = string | NamedPathPart;

/**
 * Resolves `parts` one after another under `root` and returns the absolute result.
 *
 * Each part must stay inside the folder the parts before it reached: an absolute part
 * (unless it is `rooted`), a `..` that climbs out, or a symlink whose target lies outside is refused with
 * `BOSUN_PATH_OUTSIDE_ROOT`. Confining each part (not only the whole) keeps a
 * `fileName` of `../other-node/x` from writing into another node's folder.
 *
 * Symlinks are judged by the real path of the deepest part that exists now; a dangling
 * symlink is refused, since where it leads cannot be checked. The check does not lock
 * the tree: whoever can write inside `root` can still race it, which is why `root`
 * must belong to the daemon alone.
 */
export async function resolveInside(root: string, ...parts: PathPart[]): Promise<string> {
  const absoluteRoot = path.resolve(root);
  const realRoot = await realPathOf(absoluteRoot);
  if (realRoot === undefined) {
    throw new BosunError('BOSUN_PATH_OUTSIDE_ROOT', `the files folder "${absoluteRoot}" is a symbolic link that leads nowhere`);
  }
  let current = absoluteRoot;
  let realCurrent = realRoot;
  for (const part of parts) {
    const { name, value, rooted } = typeof part === 'string' ? { name: 'path', value: part, rooted: false } : part;
    const refuse = (how: string): BosunError => {
      const folder = path.relative(absoluteRoot, current);
      const where = folder === '' ? 'the files folder' : `its folder "${folder}" in the files folder`;
      return new BosunError('BOSUN_PATH_OUTSIDE_ROOT', `${name} "${value}" would leave ${where}${how}`);
    };
    if (path.isAbsolute(value) && !rooted) throw refuse('');
    const next = path.join(current, value);
    if (!isInside(current, next)) throw refuse('');
    const realNext = await realPathOf(next);
    if (realNext === undefined) throw refuse(' through a symbolic link that leads nowhere');
    if (!isInside(realCurrent, realNext)) throw refuse(' through a symbolic link');
    current = next;
    realCurrent = realNext;
  }
  return current;
}

/**
 * True when `value` would leave the folder it is resolved in, whatever that folder holds:
 * an absolute path (unless `rooted`), or a `..` that climbs above it. Symbolic links can
 * only be judged where the folder is (`resolveInside`).
 */
export function climbsOut(value: string, options: { rooted?: boolean } = {}): boolean {
  if (path.isAbsolute(value) && !options.rooted) return true;
  // Only a `..` part can climb: most paths need no resolving (this runs on every accept).
  if (!value.includes('..')) return false;
  const inside = path.normalize(path.join(path.sep, 'root', value));
  return !isInside(path.join(path.sep, 'root'), inside);
}

function isInside(folder: string, candidate: string): boolean {
  const rel = path.relative(folder, candidate);
  return rel === '' || (rel !== '..' && !rel.startsWith('..' + path.sep) && !path.isAbsolute(rel));
}

/**
 * The real path of `p`: the realpath of its deepest existing ancestor, with the parts
 * that do not exist yet appended unchanged. Undefined when that ancestor is a symlink
 * that leads nowhere (or in a loop), since then where `p` ends up cannot be known.
 */
async function realPathOf(p: string): Promise<string | undefined> {
  let existing = p;
  while (!(await exists(existing))) {
    const parent = path.dirname(existing);
    if (parent === existing) return p;
    existing = parent;
  }
  try {
    return path.join(await realpath(existing), path.relative(existing, p));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') return undefined;
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    if (code === 'ENAMETOOLONG') {
      throw new BosunError('BOSUN_BAD_MESSAGE', `the path "${p.length > 80 ? `${p.slice(0, 80)}…` : p}" is longer than the file system allows`, { cause: err });
    }
    throw err;
  }
}
