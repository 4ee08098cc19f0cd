import { rm } from 'node:fs/promises';
import { Level } from 'level';
import { wallNow } from '../harness/time.ts';

/**
 * LevelDB on its own: `count` puts of `valueBytes` in batches of `batch`, `lanes` batches
 * in flight, each batch synced. The ceiling for anything bosun does with `sync: true`.
 */
export async function levelBatches(dir: string, count: number, batch: number, lanes: number, valueBytes: number): Promise<{ count: number; startedAt: number; endedAt: number }> {
  const db = new Level<string, string>(dir, { valueEncoding: 'utf8' });
  await db.open();
  const value = 'x'.repeat(valueBytes);
  let next = 0;
  const startedAt = wallNow();
  const lane = async () => {
    while (next < count) {
      const from = next;
      const to = Math.min(count, from + batch);
      next = to;
      const ops = [];
      for (let i = from; i < to; i++) ops.push({ type: 'put' as const, key: `out!central~ship1~REQNone!${String(i).padStart(16, '0')}`, value });
      await db.batch(ops, { sync: true });
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  const endedAt = wallNow();
  await db.close();
  await rm(dir, { recursive: true, force: true });
  return { count, startedAt, endedAt };
}

/**
 * One synced put at a time, `count` of them: each one's latency in ms. What one synced
 * write on a message's path costs at least.
 */
export async function levelPutLatency(dir: string, count: number, valueBytes: number): Promise<number[]> {
  const db = new Level<string, string>(dir, { valueEncoding: 'utf8' });
  await db.open();
  const value = 'x'.repeat(valueBytes);
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await db.put(`in!central~ship1~REQPing!${String(i).padStart(16, '0')}`, value, { sync: true });
    samples.push(performance.now() - t);
  }
  await db.close();
  await rm(dir, { recursive: true, force: true });
  return samples;
}
