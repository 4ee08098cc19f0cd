import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Level } from 'level';
import { LevelStore } from '../src/store/LevelStore.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { storeConformanceSuite } from './store.conformance.ts';

storeConformanceSuite('MemoryStore', () => ({
  async create() {
    const store = new MemoryStore();
    await store.open();
    return store;
  },
  async reopen(store) {
    await store.close();
    const survivor = (store as MemoryStore).crash({ powerLoss: false });
    await survivor.open();
    return survivor;
  },
  failWrites(store, error) {
    (store as MemoryStore).failWrites(error);
  },
  async corrupt(store, key, rawText) {
    (store as MemoryStore).corrupt(key, rawText);
    return store;
  },
}));

storeConformanceSuite('LevelStore', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-store-'));
  const dbPath = path.join(dir, 'db');
  return {
    async create() {
      const store = new LevelStore(dbPath);
      await store.open();
      return store;
    },
    async reopen(store) {
      await store.close();
      const reopened = new LevelStore(dbPath);
      await reopened.open();
      return reopened;
    },
    async corrupt(store, key, rawText) {
      // Behind the store's back, as a damaged file would be: raw text, not JSON.
      await store.close();
      const raw = new Level<string, string>(dbPath, { valueEncoding: 'utf8' });
      await raw.put(key, rawText);
      await raw.close();
      const reopened = new LevelStore(dbPath);
      await reopened.open();
      return reopened;
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}, { failWrites: false });
