import { execFile } from 'node:child_process';
import { wallNow } from '../harness/time.ts';

/**
 * `count` runs of `command` spawned straight from Node (`execFile`), `concurrency` at a
 * time: the physical limit for command methods, which spawn the same way.
 */
export async function spawnMany(command: string, args: string[], count: number, concurrency: number): Promise<{ count: number; failed: number; startedAt: number; endedAt: number }> {
  let next = 0;
  let failed = 0;
  const startedAt = wallNow();
  const lane = async () => {
    while (next < count) {
      next++;
      await new Promise<void>((resolve) => execFile(command, args, (error) => {
        if (error) failed++;
        resolve();
      }));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, lane));
  return { count, failed, startedAt, endedAt: wallNow() };
}

/** Appends `count` numbered lines to `file` as fast as it can (`chunk` lines per write). */
export async function writeLines(file: string, count: number, chunk: number): Promise<{ count: number; startedAt: number; endedAt: number }> {
  const { open } = await import('node:fs/promises');
  const out = await open(file, 'a');
  const startedAt = wallNow();
  try {
    for (let from = 0; from < count; from += chunk) {
      let text = '';
      for (let i = from; i < Math.min(count, from + chunk); i++) text += `${i}\n`;
      await out.write(text);
    }
  } finally {
    await out.close();
  }
  return { count, startedAt, endedAt: wallNow() };
}
