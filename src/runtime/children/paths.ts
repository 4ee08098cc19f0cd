import { Supervisor } from '../../../supervisors/Supervisor.ts';
import type { ChildHandle } from '../../../supervisors/types.ts';
import { BosunError } from '../../errors.ts';

/** A child found by its path in the tree, with the supervisor it runs under. */
export interface LocatedChild {
  parent: Supervisor;
  id: string;
  handle: ChildHandle;
}

/**
 * Finds a running child by its path as `bosun tree` shows it: ids from the root down,
 * joined by `/` (`ship1/inputs/tcp`; the root's own id may be left out: `inputs/tcp`).
 * Stream ids hold no `/`, so a path is never ambiguous.
 *
 * @throws BosunError `BOSUN_NOT_FOUND` naming the first part that is not there.
 */
export async function locateChild(root: Supervisor, path: string): Promise<LocatedChild> {
  const parts = path.split('/').filter((p) => p !== '');
  if (parts[0] === root.id) parts.shift();
  if (parts.length === 0) throw new BosunError('BOSUN_NOT_FOUND', `"${path}" names the root; name a child below it, e.g. ${root.id}/inputs`);
  let parent = root;
  for (let i = 0; ; i++) {
    const id = parts[i]!;
    const child = (await parent.whichChildren()).find((c) => c.id === id);
    if (!child || !child.handle) {
      const where = [root.id, ...parts.slice(0, i)].join('/');
      throw new BosunError('BOSUN_NOT_FOUND', `no running child "${id}" under ${where}`);
    }
    if (i === parts.length - 1) return { parent, id, handle: child.handle };
    if (!(child.handle instanceof Supervisor)) throw new BosunError('BOSUN_NOT_FOUND', `"${parts.slice(0, i + 1).join('/')}" is a worker; it has no children`);
    parent = child.handle;
  }
}

/** A clean restart of one child: stopped by its shutdown policy, started again; not counted as a crash. */
export async function restartChild(root: Supervisor, path: string): Promise<{ restarted: string }> {
  const { parent, id } = await locateChild(root, path);
  await parent.terminateChild(id);
  await parent.restartChild(id);
  return { restarted: `${parent.path}/${id}` };
}

/** Makes one child fail from inside (fault injection): its supervisor applies its strategy. */
export async function crashChild(root: Supervisor, path: string): Promise<{ crashed: string }> {
  const { parent, id, handle } = await locateChild(root, path);
  if (!handle.fault) throw new BosunError('BOSUN_NOT_FOUND', `${parent.path}/${id} cannot be made to fail from outside`);
  const where = `${parent.path}/${id}`;
  // Later, so that the answer goes out before the child (the debug socket itself, say) goes.
  setTimeout(() => handle.fault!(new Error(`fault injected by "crash ${where}"`)), 20);
  return { crashed: where };
}
