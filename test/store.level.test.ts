import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/index.ts';
import { LevelStore } from '../src/store/LevelStore.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';

let dir: string;
const opened: Array<{ close(): Promise<void> }> = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-level-'));
});

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function openLevel(dbPath: string, options: { sync?: boolean } = {}): Promise<LevelStore> {
  const store = new LevelStore(dbPath, options);
  opened.push(store);
  await store.open();
  return store;
}

/** Runs a separate Node process that holds the database open until its stdin closes. */
async function holdInAnotherProcess(dbPath: string): Promise<{ release(): Promise<void> }> {
  const levelEntry = path.resolve('node_modules/level/index.js');
  const script = `
    const { Level } = require(${JSON.stringify(levelEntry)});
    const db = new Level(${JSON.stringify(dbPath)});
    db.open().then(() => console.log('held'));
    process.stdin.on('end', () => db.close().then(() => process.exit(0)));
    process.stdin.resume();
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolve());
    child.on('exit', (code) => reject(new Error(`holder exited early with ${code}`)));
  });
  return {
    release: () =>
      new Promise<void>((resolve) => {
        child.removeAllListeners('exit');
        child.on('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

describe('LevelStore', () => {
  it('refuses a database another process holds, saying so, and opens once it is released', async () => {
    const dbPath = path.join(dir, 'db');
    const holder = await holdInAnotherProcess(dbPath);
    const store = new LevelStore(dbPath);
    opened.push(store);
    const error = await store.open().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BOSUN_STORE_LOCKED' });
    expect((error as Error).message).toContain(`another bosun process holds the store at ${dbPath}`);
    expect(store.status).toBe('closed');
    await expect(store.write([{ type: 'put', key: 'k', value: 1 }])).rejects.toMatchObject({ code: 'BOSUN_STORE_CLOSED' });

    await holder.release();
    await store.open();
    expect(store.status).toBe('open');
  });

  it('refuses a second store on the same path in this process, leaving the first one working', async () => {
    const dbPath = path.join(dir, 'db');
    const first = await openLevel(dbPath);
    const second = new LevelStore(dbPath);
    await expect(second.open()).rejects.toMatchObject({ code: 'BOSUN_STORE_LOCKED' });
    await first.write([{ type: 'put', key: 'k', value: 1 }]);
    expect(await first.get('k')).toBe(1);
  });

  it('explains a path that cannot hold a database with BOSUN_STORE_CLOSED', async () => {
    const file = path.join(dir, 'not-a-dir');
    await writeFile(file, 'x');
    const store = new LevelStore(path.join(file, 'db'));
    const error = await store.open().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BOSUN_STORE_CLOSED', message: expect.stringContaining(`cannot open the store at ${path.join(file, 'db')}`) });
    expect(store.status).toBe('closed');
  });

  it('creates missing parent directories', async () => {
    const dbPath = path.join(dir, 'deep', 'er', 'db');
    await openLevel(dbPath);
    expect((await stat(dbPath)).isDirectory()).toBe(true);
  });

  it('can be reopened after close on the same instance', async () => {
    const store = await openLevel(path.join(dir, 'db'));
    await store.write([{ type: 'put', key: 'k', value: 'v' }]);
    await store.close();
    await store.open();
    expect(await store.get('k')).toBe('v');
  });

  it('waits for an open in progress when closed concurrently', async () => {
    const store = new LevelStore(path.join(dir, 'db'));
    const opening = store.open();
    expect(store.status).toBe('opening');
    const closing = store.close();
    await Promise.all([opening, closing]);
    expect(store.status).toBe('closed');
  });

  it('writes without sync when asked, and the data is still there after a clean close', async () => {
    const dbPath = path.join(dir, 'db');
    const store = await openLevel(dbPath, { sync: false });
    await Promise.all([store.write([{ type: 'put', key: 'a', value: 1 }]), store.write([{ type: 'put', key: 'b', value: 2 }])]);
    expect(store.commitStats).toMatchObject({ batchesWritten: 1, opsWritten: 2 });
    await store.close();
    expect(await (await openLevel(dbPath)).range({})).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
  });
});

describe('openStore', () => {
  it('opens a LevelStore at <dataDir>/db when given a data directory', async () => {
    const store = await openStore({ dataDir: dir });
    opened.push(store);
    expect(store).toBeInstanceOf(LevelStore);
    expect((store as LevelStore).path).toBe(path.join(dir, 'db'));
    expect(store.status).toBe('open');
    await store.write([{ type: 'put', key: 'k', value: 1 }]);
    await store.close();
    const again = await openStore({ dataDir: dir, sync: false });
    opened.push(again);
    expect(await again.get('k')).toBe(1);
  });

  it('opens a MemoryStore without a data directory', async () => {
    const store = await openStore();
    opened.push(store);
    expect(store).toBeInstanceOf(MemoryStore);
    expect(store.status).toBe('open');
  });

  it('passes sync on to the MemoryStore', async () => {
    const store = (await openStore({ sync: false })) as MemoryStore;
    await store.write([{ type: 'put', key: 'k', value: 1 }]);
    const survivor = store.crash({ powerLoss: true });
    await survivor.open();
    expect(await survivor.get('k')).toBeUndefined();
  });
});
