import { execFileSync, spawn } from 'node:child_process';
import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Message } from '../src/message.ts';
import type { AppendCheckpoint } from '../src/methods/appendBatch.ts';
import { AppendFiles } from '../src/methods/appendFiles.ts';
import { FileLocks } from '../src/methods/fileLocks.ts';
import { REQToFile, REQToFileAppend } from '../src/methods/files.ts';
import { LocalFiles } from '../src/methods/LocalFiles.ts';
import { testContext, testMessage } from './support/methods.ts';

let filesDir: string;
let localFiles: LocalFiles;

beforeEach(async () => {
  filesDir = await mkdtemp(path.join(tmpdir(), 'bosun-batches-'));
  localFiles = new LocalFiles();
});

afterEach(async () => {
  await localFiles.close();
  await rm(filesDir, { recursive: true, force: true });
});

const message = (fileName: string, data: string): Message => testMessage({ fromNode: 'node1', method: 'REQToFileAppend', directory: 'd', fileName, data });
const contexts = (messages: Message[]) => messages.map((m) => ({ ...testContext({ filesDir, message: m }), localFiles }));
const read = (name: string) => readFile(path.join(filesDir, 'd', 'node1', name), 'utf8');

describe('a batch of file appends', () => {
  it('appends each message as a line, in order, to each file it names, and checkpoints every file\'s length before it', async () => {
    await appendFile(path.join(await mkdirs('d', 'node1'), 'a.log'), 'old\n');
    const planned = (await REQToFileAppend.batch!.plan(contexts([message('a.log', '1'), message('b.log', '2'), message('a.log', '3\n')]), { holder: {}, wait: true }))!;
    expect((planned.checkpoint as AppendCheckpoint).files).toEqual([
      { path: path.join('d', 'node1', 'a.log'), length: 4 },
      { path: path.join('d', 'node1', 'b.log'), length: 0 },
    ]);
    expect(await planned.apply()).toEqual([{}, {}, {}]);
    planned.release();
    expect(await read('a.log')).toBe('old\n1\n3\n');
    expect(await read('b.log')).toBe('2\n');
  });

  it('is cut back to its checkpoint after a crash, so running it again appends each line once', async () => {
    const batch = contexts([message('a.log', 'x'), message('a.log', 'y')]);
    const planned = (await REQToFileAppend.batch!.plan(batch, { holder: {}, wait: true }))!;
    await planned.apply();
    await appendFile(path.join(filesDir, 'd', 'node1', 'a.log'), 'torn li');
    // The node died here: a new node reconciles from the started record, then runs the batch again.
    const restarted = new LocalFiles();
    await REQToFileAppend.batch!.reconcile!(planned.checkpoint, { filesDir, localFiles: restarted });
    const again = (await REQToFileAppend.batch!.plan(batch.map((c) => ({ ...c, localFiles: restarted })), { holder: {}, wait: true }))!;
    await again.apply();
    again.release();
    await restarted.close();
    expect(await read('a.log')).toBe('x\ny\n');
  });

  it('refuses a checkpoint that names a file outside the files folder', async () => {
    await expect(REQToFileAppend.batch!.reconcile!({ files: [{ path: '../elsewhere', length: 0 }] }, { filesDir, localFiles })).rejects.toMatchObject({ code: 'BOSUN_STORE_CORRUPT' });
  });

  it('fails only the messages whose path is refused', async () => {
    const planned = (await REQToFileAppend.batch!.plan(contexts([message('ok.log', '1'), message('../../../x', '2')]), { holder: {}, wait: true }))!;
    const [ok, refused] = await planned.apply();
    planned.release();
    expect(ok).toEqual({});
    expect(refused).toMatchObject({ code: 'BOSUN_PATH_OUTSIDE_ROOT' });
    expect(await read('ok.log')).toBe('1\n');
  });

  it('fails an append to a pipe at once, with a clear error, instead of waiting for a reader; the rest of the batch is written', async () => {
    const fifo = path.join(await mkdirs('d', 'node1'), 'pipe.log');
    execFileSync('mkfifo', [fifo]);
    const planned = (await REQToFileAppend.batch!.plan(contexts([message('pipe.log', '1'), message('ok.log', '2')]), { holder: {}, wait: true }))!;
    const [piped, ok] = await planned.apply();
    planned.release();
    expect(piped).toMatchObject({ code: 'BOSUN_METHOD_FAILED' });
    expect((piped as Error).message).toContain('pipe.log');
    expect(ok).toEqual({});
    expect(await read('ok.log')).toBe('2\n');
    // With a reader the open would succeed; the append is refused all the same.
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise((r) => setTimeout(r, 100));
      const again = (await REQToFileAppend.batch!.plan(contexts([message('pipe.log', '3')]), { holder: {}, wait: true }))!;
      const [refused] = await again.apply();
      again.release();
      expect((refused as Error).message).toContain('not a regular file');
    } finally {
      reader.kill();
    }
  });

  it('waits for a file another stream\'s batch holds, or says it would have to (wait: false)', async () => {
    const first = (await REQToFileAppend.batch!.plan(contexts([message('a.log', '1')]), { holder: {}, wait: true }))!;
    expect(await REQToFileAppend.batch!.plan(contexts([message('a.log', '2')]), { holder: {}, wait: false })).toBeUndefined();
    let secondPlanned = false;
    const second = REQToFileAppend.batch!.plan(contexts([message('a.log', '2')]), { holder: {}, wait: true }).then((p) => {
      secondPlanned = true;
      return p!;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(secondPlanned).toBe(false);
    await first.apply();
    first.release();
    const planned = await second;
    await planned.apply();
    planned.release();
    expect(await read('a.log')).toBe('1\n2\n');
  });
});

describe('REQToFile', () => {
  it('replaces a file atomically: a reader sees the old content or the new, never a part, and no temporary file stays', async () => {
    const big = (c: string) => c.repeat(4 * 1024 * 1024);
    const write = (data: string) => REQToFile.handler({ ...testContext({ filesDir, message: testMessage({ fromNode: 'node1', method: 'REQToFile', directory: 'd', fileName: 's', data }) }), localFiles });
    await write(big('a'));
    let writing = true;
    const writes = (async () => {
      for (const c of ['b', 'c', 'd']) await write(big(c));
      writing = false;
    })();
    const seen = new Set<string>();
    while (writing) {
      const text = await read('s');
      expect(text.length).toBe(4 * 1024 * 1024);
      seen.add(text[0]! + text.at(-1)!);
    }
    await writes;
    for (const ends of seen) expect(ends[0]).toBe(ends[1]);
    expect(await readdir(path.join(filesDir, 'd', 'node1'))).toEqual(['s']);
  });
});

describe('file locks', () => {
  it('let a holder take a file again, others only after it let go, in turn; a holder going on cannot starve a waiter', async () => {
    const locks = new FileLocks();
    const a = {};
    const b = {};
    await locks.acquire(['f'], a);
    expect(locks.tryAcquire(['f'], a)).toBe(true);
    expect(locks.tryAcquire(['f'], b)).toBe(false);
    let bHas = false;
    const waiting = locks.acquire(['f'], b).then(() => (bHas = true));
    // With b waiting, a may not take it again without waiting its turn.
    expect(locks.tryAcquire(['f'], a)).toBe(false);
    locks.release(['f'], a);
    expect(bHas).toBe(false);
    locks.release(['f'], a);
    await waiting;
    expect(bHas).toBe(true);
    locks.release(['f'], b);
    expect(locks.isHeld('f')).toBe(false);
  });
});

async function mkdirs(...parts: string[]): Promise<string> {
  const { mkdir } = await import('node:fs/promises');
  const dir = path.join(filesDir, ...parts);
  await mkdir(dir, { recursive: true });
  return dir;
}

describe('files kept open for appending', () => {
  it('measure a missing file as empty without creating it, so a reader never finds a result file before its lines', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bosun-append-files-'));
    try {
      const files = new AppendFiles(4, () => false);
      const file = path.join(dir, 'REQCliCommand', 'ship1', 'out.result');
      expect(await files.lengthOf(file)).toBe(0);
      await expect(readFile(file)).rejects.toMatchObject({ code: 'ENOENT' });
      await files.append(file, Buffer.from('line one\n'));
      expect(await readFile(file, 'utf8')).toBe('line one\n');
      expect(await files.lengthOf(file)).toBe(9);
      await files.closeAll();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
