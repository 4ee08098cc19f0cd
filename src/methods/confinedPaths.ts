import { resolveInside, type NamedPathPart } from './paths.ts';

/** Results kept; the cache starts over when full (a fleet's folders are far fewer). */
const MAX_ENTRIES = 4096;

const confined = new Map<string, string>();

/**
 * `resolveInside`, remembered: a path that was confined once is not checked again. Each
 * check costs a `realpath` and an `lstat` per part, which was a quarter of a busy file
 * append's CPU. It holds because the files folder belongs to the daemon alone (as
 * `resolveInside` already requires): nobody else can turn a checked folder into a
 * symlink meanwhile. Refusals are not remembered, so a fixed folder is taken at once.
 */
export async function resolveInsideOnce(root: string, ...parts: NamedPathPart[]): Promise<string> {
  let key = root;
  // Whether a part is rooted changes what it may be: it is part of the key.
  for (const part of parts) key += `\0${part.rooted ? 'r' : 'p'}${part.value}`;
  const known = confined.get(key);
  if (known !== undefined) return known;
  const resolved = await resolveInside(root, ...parts);
  if (confined.size >= MAX_ENTRIES) confined.clear();
  confined.set(key, resolved);
  return resolved;
}
