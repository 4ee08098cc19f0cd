import { join } from 'node:path';
import { LevelStore } from './LevelStore.ts';
import { MemoryStore } from './MemoryStore.ts';
import type { GroupCommitStore } from './types.ts';

export type {
  CommitStats,
  GroupCommitStore,
  RangeOptions,
  Store,
  StoreOp,
  StoreOptions,
  StoreStatus,
  WriteOptions,
} from './types.ts';
export { GroupCommit, type CommitBatch } from './groupCommit.ts';
export { LevelStore } from './LevelStore.ts';
export { MemoryStore } from './MemoryStore.ts';
export * from './keys.ts';

export interface OpenStoreOptions {
  /** The node's data directory; the database lives in `<dataDir>/db`. Omit for an in-memory store. */
  dataDir?: string;
  /** fsync each group-committed batch (default true). */
  sync?: boolean;
}

/**
 * Opens the node's store: LevelDB under `dataDir` when one is given, else in memory.
 *
 * @throws BosunError `BOSUN_STORE_LOCKED` when another process holds `<dataDir>/db`.
 */
export async function openStore(options: OpenStoreOptions = {}): Promise<GroupCommitStore> {
  const storeOptions = options.sync === undefined ? {} : { sync: options.sync };
  const store =
    options.dataDir === undefined
      ? new MemoryStore(storeOptions)
      : new LevelStore(join(options.dataDir, 'db'), storeOptions);
  await store.open();
  return store;
}
