import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Message } from '../src/message.ts';
import { formatBytes } from '../src/methods/copyFile.ts';
import { PART_SUFFIX, REQCopyChunk } from '../src/methods/copyReceive.ts';
import { builtinMethods } from '../src/methods/registry.ts';
import type { MethodContext, MethodSpec } from '../src/methods/types.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { until } from './helpers/until.ts';
import { replyCollector } from './helpers/recorder.ts';

const MiB = 1024 * 1024;
const nodes: BosunNode[] = [];
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-copy-'));
});
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
  await rm(dir, { recursive: true, force: true });
});


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const isError = (m: Message): boolean => m.fileName?.endsWith('.error') === true;
const isProgress = (m: Message): boolean => !isError(m) && /^sent \d+%/.test(m.data ?? '');

/** `REQCopyChunk` that runs `before` first: slows the destination down or tampers with it. */
function wrappedChunk(before: (ctx: MethodContext) => Promise<void>): { enabledMethods: string[]; methods: MethodSpec[] } {
  return {
    enabledMethods: builtinMethods().map((m) => m.name).filter((n) => n !== REQCopyChunk.name),
    methods: [{ ...REQCopyChunk, handler: async (ctx) => (await before(ctx), REQCopyChunk.handler(ctx)) }],
  };
}

interface Fleet {
  bus: EmbeddedBus;
  central: BosunNode;
  ship1: BosunNode;
  ship2: BosunNode;
  replies: Message[];
  /** ship2's files folder. */
  files: string;
}

async function fleet(ship2Options: { enabledMethods?: string[]; methods?: MethodSpec[]; dataDir?: string } = {}): Promise<Fleet> {
  const bus = new EmbeddedBus();
  const { method: collect, replies } = replyCollector();
  const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: [collect] });
  const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0 });
  const ship2 = await startNode({ node: 'ship2', bus, helloIntervalSeconds: 0, dataDir: path.join(dir, 'ship2'), ...ship2Options });
  nodes.push(central, ship1, ship2);
  return { bus, central, ship1, ship2, replies, files: ship2.filesDir };
}

/**
 * Where ship2 puts a copy `from` sends to `dstPath`: in that node's folder, as its result
 * files (`<folder>/<from>/<name>`, `default` without a folder).
 */
function landed(f: Fleet, dstPath: string, from = 'ship1'): string {
  const folder = path.posix.dirname(dstPath);
  return path.join(f.files, folder === '.' ? 'default' : folder, from, path.posix.basename(dstPath));
}

/** Sends REQCopyFile to ship1 and waits for its last reply (the first that is not progress). */
async function copy(f: Fleet, methodArgs: string[], methodTimeout = 30): Promise<{ final: Message; progress: string[] }> {
  const before = f.replies.length;
  await f.central.send({ toNode: 'ship1', method: 'REQCopyFile', methodArgs, methodTimeout, replyMethod: 'REQTestCollect' });
  await until(() => f.replies.slice(before).some((r) => !isProgress(r)), (methodTimeout + 5) * 1000);
  const mine = f.replies.slice(before);
  return { final: mine.find((r) => !isProgress(r))!, progress: mine.filter(isProgress).map((r) => r.data!) };
}

describe('REQCopyFile', () => {
  it('copies a 3 MiB random file byte for byte and reports progress every 10%', async () => {
    const f = await fleet();
    const src = path.join(dir, 'random.bin');
    const bytes = randomBytes(3 * MiB);
    await writeFile(src, bytes);
    const { final, progress } = await copy(f, [src, 'ship2', 'backup/random.bin']);
    expect(final.data).toBe('copied 3145728 bytes to ship2:backup/random.bin');
    expect(isError(final)).toBe(false);
    expect(sha256(await readFile(landed(f, 'backup/random.bin')))).toBe(sha256(bytes));
    expect(existsSync(landed(f, 'backup/random.bin') + PART_SUFFIX)).toBe(false);
    // 12 chunks of 256 KiB: each tenth passed once, in order, never 100%.
    const tenths = progress.map((p) => Number(/^sent (\d+)% \((.+) of 3 MiB\)$/.exec(p)![1]));
    expect(tenths.length).toBeGreaterThanOrEqual(5);
    expect([...tenths].sort((a, b) => a - b)).toEqual(tenths);
    expect(new Set(tenths).size).toBe(tenths.length);
    expect(Math.max(...tenths)).toBeLessThan(100);
  });

  it('copies a folder with every regular file under it, skipping what is not one', async () => {
    const f = await fleet();
    const src = path.join(dir, 'tree');
    const content: Record<string, Buffer> = {
      'a.txt': Buffer.from('alpha\n'),
      'empty.txt': Buffer.alloc(0),
      'nested/b.txt': Buffer.from('beta\n'),
      'nested/deeper/c.bin': randomBytes(300 * 1024),
    };
    for (const [rel, bytes] of Object.entries(content)) {
      await mkdir(path.dirname(path.join(src, rel)), { recursive: true });
      await writeFile(path.join(src, rel), bytes);
    }
    await symlink('/etc/hostname', path.join(src, 'link'));
    const total = Object.values(content).reduce((n, b) => n + b.length, 0);
    const { final } = await copy(f, [src, 'ship2', 'copies/tree']);
    expect(final.data).toBe(`copied 4 files (${total} bytes) to ship2:copies/tree; skipped 1 entry that is neither a regular file nor a folder`);
    for (const [rel, bytes] of Object.entries(content)) {
      expect((await readFile(path.join(landed(f, 'copies/tree'), rel))).equals(bytes)).toBe(true);
    }
    expect(existsSync(path.join(landed(f, 'copies/tree'), 'link'))).toBe(false);
  });

  it('fails with a checksum error when the part file was tampered with, and removes it', async () => {
    let chunks = 0;
    const f = await fleet(
      wrappedChunk(async (ctx) => {
        // After two chunks are on disk, flip a byte in what was written.
        if (++chunks !== 3) return;
        const part = path.join(ctx.filesDir, 'default', 'ship1', 'tampered.bin' + PART_SUFFIX);
        const held = await readFile(part);
        held[1000] = held[1000]! ^ 0xff;
        await writeFile(part, held);
      }),
    );
    const src = path.join(dir, 'src.bin');
    await writeFile(src, randomBytes(MiB));
    const { final } = await copy(f, [src, 'ship2', 'tampered.bin']);
    expect(isError(final)).toBe(true);
    expect(final.data).toBe(
      'error BOSUN_CHECKSUM_MISMATCH: node ship2: "tampered.bin" does not match the source\'s sha256 (1048576 bytes); the part file was removed; send the copy again',
    );
    expect(existsSync(landed(f, 'tampered.bin'))).toBe(false);
    expect(existsSync(landed(f, 'tampered.bin') + PART_SUFFIX)).toBe(false);
  });

  it('completes with identical bytes when the destination restarts mid-copy', async () => {
    const slow = () => wrappedChunk(async () => void (await sleep(30)));
    const f = await fleet(slow());
    const src = path.join(dir, 'big.bin');
    const bytes = randomBytes(3 * MiB);
    await writeFile(src, bytes);
    await f.central.send({
      toNode: 'ship1',
      method: 'REQCopyFile',
      methodArgs: [src, 'ship2', 'restarted.bin', String(64 * 1024)],
      methodTimeout: 30,
      replyMethod: 'REQTestCollect',
    });
    const part = landed(f, 'restarted.bin') + PART_SUFFIX;
    await until(async () => existsSync(part) && (await stat(part)).size >= 5 * 64 * 1024, 15_000);
    await f.ship2.stop(5000);
    const heldAtStop = (await stat(part)).size;
    expect(heldAtStop).toBeLessThan(bytes.length);
    await sleep(200);
    const again = await startNode({ node: 'ship2', bus: f.bus, helloIntervalSeconds: 0, dataDir: path.join(dir, 'ship2'), ...slow() });
    nodes.push(again);
    await until(() => f.replies.some((r) => !isProgress(r)), 25_000);
    const final = f.replies.find((r) => !isProgress(r))!;
    expect(final.data).toBe('copied 3145728 bytes to ship2:restarted.bin');
    expect(sha256(await readFile(landed(f, 'restarted.bin')))).toBe(sha256(bytes));
  });

  it('goes on after a graceful stop of the source that outlasts its grace period, without BOSUN_INTERRUPTED', async () => {
    const bus = new EmbeddedBus();
    const { method: collect, replies } = replyCollector();
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: [collect] });
    const shipDir = path.join(dir, 'ship1');
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0, dataDir: shipDir });
    const ship2 = await startNode({ node: 'ship2', bus, helloIntervalSeconds: 0, dataDir: path.join(dir, 'ship2'), ...wrappedChunk(async () => void (await sleep(30))) });
    nodes.push(central, ship2);
    const f = { bus, central, ship1, ship2, replies, files: ship2.filesDir };
    const src = path.join(dir, 'graceful.bin');
    const bytes = randomBytes(3 * MiB);
    await writeFile(src, bytes);
    await central.send({ toNode: 'ship1', method: 'REQCopyFile', methodArgs: [src, 'ship2', 'graceful.bin', String(64 * 1024)], methodTimeout: 60, replyMethod: 'REQTestCollect' });
    const part = landed(f, 'graceful.bin') + PART_SUFFIX;
    await until(async () => existsSync(part) && (await stat(part)).size >= 5 * 64 * 1024, 15_000);
    // A grace period far shorter than the copy: the run is stopped, not finished.
    await ship1.stop(50);
    expect((await stat(part)).size).toBeLessThan(bytes.length);
    const again = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0, dataDir: shipDir });
    nodes.push(again);
    await until(() => replies.some((r) => !isProgress(r) && !/^resuming /.test(r.data ?? '')), 30_000);
    const final = replies.find((r) => !isProgress(r) && !/^resuming /.test(r.data ?? ''))!;
    expect(final.data).toBe(`copied ${bytes.length} bytes to ship2:graceful.bin`);
    expect(replies.some((r) => /^resuming the copy to ship2:graceful.bin/.test(r.data ?? ''))).toBe(true);
    expect(sha256(await readFile(landed(f, 'graceful.bin')))).toBe(sha256(bytes));
    expect(existsSync(part)).toBe(false);
  });

  it('finishes a copy sent again over a part file an interrupted run left behind', async () => {
    const f = await fleet();
    const src = path.join(dir, 'again.bin');
    const bytes = randomBytes(MiB + 123);
    await writeFile(src, bytes);
    // What an interrupted earlier run wrote: the first two chunks and a half.
    await mkdir(path.dirname(landed(f, 'again.bin')), { recursive: true });
    await writeFile(landed(f, 'again.bin') + PART_SUFFIX, bytes.subarray(0, 640 * 1024));
    const { final } = await copy(f, [src, 'ship2', 'again.bin']);
    expect(final.data).toBe(`copied ${MiB + 123} bytes to ship2:again.bin`);
    expect(sha256(await readFile(landed(f, 'again.bin')))).toBe(sha256(bytes));
  });

  it('replaces a stale part file left by a different file', async () => {
    const f = await fleet();
    const src = path.join(dir, 'new.bin');
    const bytes = randomBytes(300 * 1024);
    await writeFile(src, bytes);
    await mkdir(path.dirname(landed(f, 'new.bin')), { recursive: true });
    await writeFile(landed(f, 'new.bin') + PART_SUFFIX, randomBytes(700 * 1024));
    const { final } = await copy(f, [src, 'ship2', 'new.bin']);
    expect(final.data).toBe(`copied ${300 * 1024} bytes to ship2:new.bin`);
    expect(sha256(await readFile(landed(f, 'new.bin')))).toBe(sha256(bytes));
  });

  it('refuses destination paths that leave the files folder', async () => {
    const f = await fleet();
    const src = path.join(dir, 'x.bin');
    await writeFile(src, 'x');
    const outside = path.join(dir, 'outside');
    await mkdir(outside);
    await symlink(outside, path.join(f.files, 'link'));

    const climbing = await copy(f, [src, 'ship2', '../escaped.bin']);
    expect(climbing.final.data).toBe(`error BOSUN_PATH_OUTSIDE_ROOT: REQCopyFile: methodArgs[2] (dstPath) "../escaped.bin" would leave the destination's files folder`);
    const absolute = await copy(f, [src, 'ship2', '/tmp/escaped.bin']);
    expect(absolute.final.data).toMatch(/^error BOSUN_PATH_OUTSIDE_ROOT: /);
    // Only the destination can see its symbolic links.
    const linked = await copy(f, [src, 'ship2', 'link/escaped.bin']);
    expect(linked.final.data).toBe('error BOSUN_PATH_OUTSIDE_ROOT: node ship2: dstPath "link" would leave the files folder through a symbolic link');
    expect(existsSync(path.join(dir, 'escaped.bin'))).toBe(false);
    expect(existsSync(path.join(outside, 'escaped.bin'))).toBe(false);
    expect(existsSync(path.join(outside, 'escaped.bin' + PART_SUFFIX))).toBe(false);
  });

  it("lands in the sending node's folder, so it reaches neither the error log nor another node's files", async () => {
    const f = await fleet();
    const src = path.join(dir, 'forged.log');
    await writeFile(src, 'forged\n');
    const errorLog = path.join(f.files, 'errorLog', 'error.log');
    const otherHello = path.join(f.files, 'hello-messages', 'ship3', 'hello.log');
    for (const file of [errorLog, otherHello]) {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, 'genuine\n');
    }
    for (const dstPath of ['errorLog/error.log', 'hello-messages/ship3/hello.log']) {
      const { final } = await copy(f, [src, 'ship2', dstPath]);
      expect(final.data).toBe(`copied 7 bytes to ship2:${dstPath}`);
      expect(await readFile(landed(f, dstPath), 'utf8')).toBe('forged\n');
    }
    expect(landed(f, 'errorLog/error.log')).toBe(path.join(f.files, 'errorLog', 'ship1', 'error.log'));
    expect(await readFile(errorLog, 'utf8')).toBe('genuine\n');
    expect(await readFile(otherHello, 'utf8')).toBe('genuine\n');
  });

  it.each([
    [[], 'error BOSUN_BAD_MESSAGE: REQCopyFile: methodArgs[0] (srcPath) is missing; methodArgs are [srcPath, dstNode, dstPath, chunkBytes?]'],
    [['relative/file', 'ship2', 'x'], 'error BOSUN_BAD_MESSAGE: REQCopyFile: methodArgs[0] (srcPath) must be an absolute path, not "relative/file"'],
    [['/etc/hostname'], 'error BOSUN_BAD_MESSAGE: REQCopyFile: methodArgs[1] (dstNode) is missing'],
    [['/etc/hostname', 'ship 2', 'x'], 'error BOSUN_BAD_MESSAGE: REQCopyFile: methodArgs[1] (dstNode) "ship 2" is not a valid node name'],
    [['/etc/hostname', 'ship2'], 'error BOSUN_BAD_MESSAGE: REQCopyFile: methodArgs[2] (dstPath) is missing'],
    [['/etc/hostname', 'ship2', 'x', '10'], 'error BOSUN_BAD_MESSAGE: REQCopyFile: methodArgs[3] (chunkBytes) must be a whole number from 1024 to 524288'],
    [['/no/such/file', 'ship2', 'x'], 'error BOSUN_METHOD_FAILED: srcPath "/no/such/file" does not exist'],
  ])('refuses methodArgs %j', async (args, expected) => {
    const f = await fleet();
    const { final } = await copy(f, args);
    expect(final.data).toBe(expected);
  });
});

describe('REQCopyChunk and REQCopyDone', () => {
  function chunkMessage(bytes: Buffer, offset: number, dstPath = 'direct.bin', sha = sha256(bytes)): Record<string, unknown> {
    return {
      toNode: 'ship2',
      method: 'REQCopyChunk',
      methodArgs: ['copy-1', dstPath, String(offset), sha],
      data: bytes.toString('base64'),
      replyMethod: 'REQTestCollect',
    };
  }

  it('skips a chunk the part file already holds: writing is idempotent by offset', async () => {
    const f = await fleet();
    const bytes = randomBytes(10_000);
    const first = bytes.subarray(0, 6000);
    const second = bytes.subarray(6000);
    await f.central.accept([
      { ...chunkMessage(first, 0), id: 'first' },
      { ...chunkMessage(first, 0), id: 'first-again' },
      { ...chunkMessage(second, 6000), id: 'second' },
    ]);
    await until(() => f.replies.length >= 3, 15_000);
    // Receipts are matched by the request they answer: the runtime may deliver the first
    // replies on a new reply stream out of order.
    const receipts = Object.fromEntries(f.replies.map((r) => [r.inReplyTo!.id, r.data]));
    expect(receipts).toEqual({ first: '6000', 'first-again': '6000', second: '10000' });
    await f.central.send({ toNode: 'ship2', method: 'REQCopyDone', methodArgs: ['copy-1', 'direct.bin', '10000', sha256(bytes)], replyMethod: 'REQTestCollect' });
    await until(() => f.replies.length >= 4, 15_000);
    expect(f.replies[3]!.data).toBe('copied 10000 bytes');
    // The same end again (a redelivery after a crash) answers the same.
    await f.central.send({ toNode: 'ship2', method: 'REQCopyDone', methodArgs: ['copy-1', 'direct.bin', '10000', sha256(bytes)], replyMethod: 'REQTestCollect' });
    await until(() => f.replies.length >= 5, 15_000);
    expect(f.replies[4]!.data).toBe('copied 10000 bytes');
    expect((await readFile(landed(f, 'direct.bin', 'central'))).equals(bytes)).toBe(true);
  });

  it('refuses a chunk that does not match its sha256 and writes nothing', async () => {
    const f = await fleet();
    const bytes = randomBytes(4000);
    const corrupted = Buffer.from(bytes);
    corrupted[10] = corrupted[10]! ^ 1;
    await f.central.send(chunkMessage(corrupted, 0, 'direct.bin', sha256(bytes)));
    await until(() => f.replies.length >= 1, 15_000);
    expect(f.replies[0]!.data).toBe('error BOSUN_CHECKSUM_MISMATCH: the chunk at offset 0 of "direct.bin" does not match its sha256; it was not written');
    expect(existsSync(landed(f, 'direct.bin', 'central') + PART_SUFFIX)).toBe(false);
  });

  it('refuses a chunk that leaves a gap', async () => {
    const f = await fleet();
    await f.central.send(chunkMessage(randomBytes(100), 500));
    await until(() => f.replies.length >= 1, 15_000);
    expect(f.replies[0]!.data).toMatch(/^error BOSUN_METHOD_FAILED: the chunk at offset 500 of "direct.bin" arrived but the part file holds only 0 bytes/);
  });

  it.each([
    [['copy-1'], 'REQCopyChunk: methodArgs[1] (dstPath) is missing'],
    [['copy-1', 'x', '-1', 'a'.repeat(64)], 'REQCopyChunk: methodArgs[2] (the offset) must be a whole number of bytes'],
    [['copy-1', 'x', '0', 'nothex'], 'REQCopyChunk: methodArgs[3] (the sha256) must be 64 lowercase hex digits'],
  ])('refuses methodArgs %j', async (methodArgs, expected) => {
    const f = await fleet();
    await f.central.send({ toNode: 'ship2', method: 'REQCopyChunk', methodArgs, data: 'AAAA', replyMethod: 'REQTestCollect' });
    await until(() => f.replies.length >= 1, 15_000);
    expect(f.replies[0]!.data).toBe(`error BOSUN_BAD_MESSAGE: ${expected}`);
  });
});

describe('formatBytes', () => {
  it.each([
    [512, '512 B'],
    [3 * MiB, '3 MiB'],
    [1.5 * MiB, '1.5 MiB'],
    [10 * MiB + 1, '10 MiB'],
    [2.25 * 1024 * MiB, '2.3 GiB'],
  ])('%d bytes is %s', (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });
});
