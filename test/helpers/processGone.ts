import { readFileSync } from 'node:fs';

/** True once the process is gone: no /proc entry, or a zombie waiting for its reaper. */
export function isGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}
