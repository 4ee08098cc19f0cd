import { describe, expect, it } from 'vitest';
import { BosunError } from '../src/errors.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import type { StoreOp } from '../src/store/types.ts';

const put = (key: string, value: unknown): StoreOp => ({ type: 'put', key, value });
const del = (key: string): StoreOp => ({ type: 'del', key });

async function opened(options: { sync?: boolean } = {}): Promise<MemoryStore> {
  const store = new MemoryStore(options);
  await store.open();
  return store;
}

async function restart(store: MemoryStore, powerLoss: boolean): Promise<MemoryStore> {
  const survivor = store.crash({ powerLoss });
  expect(survivor.status).toBe('closed');
  await survivor.open();
  return survivor;
}

async function contents(store: MemoryStore): Promise<Record<string, unknown>> {
  return Object.fromEntries(await store.range({}));
}

describe('MemoryStore crash simulation', () => {
  describe('a process crash', () => {
    it('keeps every committed batch, synced or not', async () => {
      const store = await opened({ sync: false });
      await store.write([put('a', 1), put('b', 2)]);
      await store.write([del('b'), put('c', 3)]);
      const survivor = await restart(store, false);
      expect(await contents(survivor)).toEqual({ a: 1, c: 3 });
    });

    it('loses writes that had not committed yet, and rejects their callers', async () => {
      const store = await opened();
      await store.write([put('committed', 1)]);
      const pending = store.write([put('pending', 2)]);
      const survivor = await restart(store, false);
      await expect(pending).rejects.toMatchObject({ code: 'BOSUN_STORE_CLOSED' });
      expect(await contents(survivor)).toEqual({ committed: 1 });
    });

    it('leaves unsynced batches unsynced: a power loss after the restart still loses them', async () => {
      const store = await opened({ sync: false });
      await store.write([put('a', 1)]);
      const afterCrash = await restart(store, false);
      expect(await afterCrash.get('a')).toBe(1);
      const afterPowerLoss = await restart(afterCrash, true);
      expect(await afterPowerLoss.get('a')).toBeUndefined();
    });

    it('makes the unsynced batches from before the crash durable with the first synced batch after it', async () => {
      const store = await opened({ sync: false });
      await store.write([put('before', 1)]);
      const restarted = await restart(store, false);
      await restarted.write([put('after', 2)], { sync: true });
      const afterPowerLoss = await restart(restarted, true);
      expect(await contents(afterPowerLoss)).toEqual({ after: 2, before: 1 });
    });

    it('closes the crashed store for good', async () => {
      const store = await opened();
      await store.write([put('a', 1)]);
      store.crash({ powerLoss: false });
      expect(store.status).toBe('closed');
      await expect(store.get('a')).rejects.toMatchObject({ code: 'BOSUN_STORE_CLOSED' });
      await expect(store.write([put('b', 2)])).rejects.toMatchObject({ code: 'BOSUN_STORE_CLOSED' });
      await expect(store.open()).rejects.toMatchObject({ code: 'BOSUN_STORE_CLOSED' });
    });

    it('gives the survivor its own state: writes to it do not reach the crashed store', async () => {
      const store = await opened();
      await store.write([put('a', 1)]);
      const first = store.crash({ powerLoss: false });
      const second = store.crash({ powerLoss: false });
      await first.open();
      await second.open();
      await first.write([put('a', 'changed')]);
      expect(await second.get('a')).toBe(1);
    });
  });

  describe('a power loss', () => {
    it('keeps every batch of a store that syncs (the default)', async () => {
      const store = await opened();
      await store.write([put('a', 1)]);
      await store.write([put('b', 2), del('a')]);
      const survivor = await restart(store, true);
      expect(await contents(survivor)).toEqual({ b: 2 });
    });

    it('loses the unsynced batches of a store that does not sync', async () => {
      const store = await opened({ sync: false });
      await store.write([put('a', 1)]);
      const survivor = await restart(store, true);
      expect(await contents(survivor)).toEqual({});
    });

    it('keeps what flushToDisk() made durable, and loses what came after', async () => {
      const store = await opened({ sync: false });
      await store.write([put('a', 1), put('b', 1)]);
      store.flushToDisk();
      await store.write([put('a', 2), del('b'), put('c', 3)]);
      const survivor = await restart(store, true);
      expect(await contents(survivor)).toEqual({ a: 1, b: 1 });
    });

    it('keeps unsynced batches once a later synced batch commits', async () => {
      const store = await opened({ sync: false });
      await store.write([put('early', 1), put('gone', 1)]);
      await store.write([del('gone')]);
      await store.write([put('synced', 2)], { sync: true });
      await store.write([put('late', 3)]);
      const survivor = await restart(store, true);
      expect(await contents(survivor)).toEqual({ early: 1, synced: 2 });
    });

    it('brings back a key whose delete was not synced', async () => {
      const store = await opened({ sync: false });
      await store.write([put('k', 'v')], { sync: true });
      await store.write([del('k')]);
      expect(await store.get('k')).toBeUndefined();
      const survivor = await restart(store, true);
      expect(await survivor.get('k')).toBe('v');
    });

    it('lets a write opt out of sync on a store that syncs', async () => {
      const store = await opened();
      await store.write([put('synced', 1)]);
      await store.write([put('unsynced', 2)], { sync: false });
      const survivor = await restart(store, true);
      expect(await contents(survivor)).toEqual({ synced: 1 });
    });

    it('syncs a merged batch when any write in it asked for sync', async () => {
      const store = await opened({ sync: false });
      await Promise.all([store.write([put('a', 1)]), store.write([put('b', 2)], { sync: true })]);
      expect(store.commitStats.batchesWritten).toBe(1);
      const survivor = await restart(store, true);
      expect(await contents(survivor)).toEqual({ a: 1, b: 2 });
    });
  });

  describe('storage faults', () => {
    it('fails every batch while failWrites is set, applying nothing, durable or not', async () => {
      const store = await opened();
      await store.write([put('a', 1)]);
      const fault = new Error('ENOSPC: no space left on device');
      store.failWrites(fault);
      const first = store.write([put('a', 2), put('b', 2)]);
      const second = store.write([del('a')]);
      for (const write of [first, second]) {
        const error = await write.catch((e: unknown) => e);
        expect(error).toBeInstanceOf(BosunError);
        expect(error).toMatchObject({ code: 'BOSUN_STORE_WRITE_FAILED', cause: fault });
      }
      await expect(store.write([put('c', 3)])).rejects.toMatchObject({ code: 'BOSUN_STORE_WRITE_FAILED' });
      expect(await contents(store)).toEqual({ a: 1 });
      expect(store.commitStats.batchesFailed).toBe(2);

      const survivor = await restart(store, false);
      expect(await contents(survivor)).toEqual({ a: 1 });
    });

    it('recovers when failWrites is cleared', async () => {
      const store = await opened();
      store.failWrites(new Error('EIO'));
      await expect(store.write([put('a', 1)])).rejects.toMatchObject({ code: 'BOSUN_STORE_WRITE_FAILED' });
      store.failWrites(null);
      await store.write([put('a', 2)]);
      expect(await store.get('a')).toBe(2);
      expect(await (await restart(store, true)).get('a')).toBe(2);
    });

    it('lets close() finish while writes fail', async () => {
      const store = await opened();
      store.failWrites(new Error('EIO'));
      const write = store.write([put('a', 1)]).catch((e: unknown) => e);
      await store.close();
      expect(store.status).toBe('closed');
      expect(await write).toMatchObject({ code: 'BOSUN_STORE_WRITE_FAILED' });
    });

    it('keeps a corrupt record across a crash, and reports it by key', async () => {
      const store = await opened();
      await store.write([put('good', 1)]);
      store.corrupt('bad', 'not json');
      const survivor = await restart(store, true);
      const seen: Array<{ key: string; error: unknown }> = [];
      survivor.onCorrupt = (key, error) => seen.push({ key, error });
      expect(await survivor.get('bad')).toBeUndefined();
      expect(seen).toMatchObject([{ key: 'bad', error: { code: 'BOSUN_STORE_CORRUPT', message: expect.stringContaining('"bad"') } }]);
      expect(await survivor.get('good')).toBe(1);
    });

    it('overwriting a corrupt record repairs it', async () => {
      const store = await opened();
      store.corrupt('k', '{');
      await store.write([put('k', { fixed: true })]);
      expect(await store.get('k')).toEqual({ fixed: true });
    });
  });
});
