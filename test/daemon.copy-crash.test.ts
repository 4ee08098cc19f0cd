import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Daemon, runBosun, talk, tempDir, waitFor } from './helpers/daemon.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';

/**
 * A copy is a durable transfer: real daemons over a real nats-server copy 24 MiB from
 * ship1 into central, and one side is SIGKILLed (by its own PID) mid-copy and started
 * again on the same data folder. The copy must complete byte for byte, without a
 * `BOSUN_INTERRUPTED`, and leave no part file behind.
 */
const SIZE = 24 * 1024 * 1024;
const CHUNK = 64 * 1024;
let nats: NatsServer;
let daemons: Daemon[] = [];
let root: string;

beforeEach(async () => {
  root = await tempDir('bosun-copycrash-');
  nats = await startNatsServer();
});

afterEach(async () => {
  await Promise.all(daemons.map((d) => d.kill()));
  daemons = [];
  await nats.stop();
});

async function start(node: string): Promise<Daemon> {
  const daemon = await Daemon.start({ node, dataDir: path.join(root, node), args: ['--nats', nats.url], startTimeoutMs: 60_000 });
  daemons.push(daemon);
  return daemon;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Every file under `folder` whose name ends with `.bosun-part`. */
async function partFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((e) => e.endsWith('.bosun-part'));
}

async function sizeOf(file: string): Promise<number> {
  return stat(file).then(
    (s) => s.size,
    () => 0,
  );
}

interface Copy {
  bytes: Buffer;
  /** Where the copy lands on central: in ship1's folder. */
  landed: string;
  /** central's file of the copy's replies. */
  replies: string;
}

/** Writes a random source file on ship1's side and asks ship1, through central's socket, to copy it to central. */
async function startCopy(central: Daemon): Promise<Copy> {
  const bytes = randomBytes(SIZE);
  const src = path.join(root, 'source.bin');
  await writeFile(src, bytes);
  const [answer] = await talk(
    central.socketPath,
    JSON.stringify([
      {
        toNode: 'ship1',
        method: 'REQCopyFile',
        methodArgs: [src, 'central', 'backups/source.bin', String(CHUNK)],
        fileName: 'copy.log',
        methodTimeout: 300,
        ACKTimeout: 1,
        retryWait: 0.2,
      },
    ]),
  );
  expect(answer).toMatchObject({ status: 'accepted' });
  return {
    bytes,
    landed: path.join(central.dataDir, 'files', 'backups', 'ship1', 'source.bin'),
    replies: path.join(central.dataDir, 'files', 'REQCopyFile', 'ship1', 'copy.log'),
  };
}

/** Waits until central's part file holds at least `fraction` of the copy, and returns its size. */
async function partHolds(copy: Copy, fraction: number): Promise<number> {
  return waitFor(async () => {
    const size = await sizeOf(copy.landed + '.bosun-part');
    return size >= SIZE * fraction ? size : undefined;
  }, 120_000, `${fraction * 100}% of the copy on central`);
}

async function copied(copy: Copy): Promise<string> {
  return waitFor(async () => {
    const text = await readFile(copy.replies, 'utf8').catch(() => '');
    return /^copied /m.test(text) || /error BOSUN_/.test(text) ? text : undefined;
  }, 240_000, 'the copy to end');
}

async function expectCompleteCopy(central: Daemon, copy: Copy, replies: string): Promise<void> {
  expect(replies).not.toMatch(/BOSUN_/);
  expect(replies).toMatch(new RegExp(`^copied ${SIZE} bytes to central:backups/source.bin$`, 'm'));
  expect(sha256(await readFile(copy.landed))).toBe(sha256(copy.bytes));
  expect(existsSync(copy.landed + '.bosun-part')).toBe(false);
  expect(await partFiles(path.join(central.dataDir, 'files'))).toEqual([]);
}

describe('REQCopyFile across crashes', () => {
  it('resumes when the SOURCE is SIGKILLed mid-copy and restarted, and ends byte-identical with no part file left', async () => {
    const central = await start('central');
    let ship1 = await start('ship1');
    const copy = await startCopy(central);
    const heldAtKill = await partHolds(copy, 0.3);
    await ship1.kill();
    expect(heldAtKill).toBeLessThan(SIZE);
    const restartedAt = Date.now();
    ship1 = await start('ship1');
    const replies = await copied(copy);
    await expectCompleteCopy(central, copy, replies);
    // The restarted source went on from its durable progress, not from the first byte: it
    // got fewer chunk receipts after its restart than the file has chunks.
    expect(replies).toMatch(/^resuming the copy to central:backups\/source.bin \(24 MiB\) after a restart/m);
    const receipts = (await ship1.debug(`audit ${JSON.stringify({ sinceMs: restartedAt, method: 'REQCopyReceipt', limit: 100_000 })}`)) as unknown[];
    expect(receipts.length).toBeGreaterThan(0);
    expect(receipts.length).toBeLessThan(SIZE / CHUNK);
  }, 300_000);

  it('starts again from the first byte, and says so, when the source file changed while its node was down', async () => {
    const central = await start('central');
    let ship1 = await start('ship1');
    const copy = await startCopy(central);
    await partHolds(copy, 0.3);
    await ship1.kill();
    // Same size, other bytes, a later modification time.
    copy.bytes = randomBytes(SIZE);
    await writeFile(path.join(root, 'source.bin'), copy.bytes);
    ship1 = await start('ship1');
    const replies = await copied(copy);
    await expectCompleteCopy(central, copy, replies);
    expect(replies).toMatch(/^the source changed \(size or modification time\) since the copy to central:backups\/source.bin began; copying it again from the first byte$/m);
    expect(replies).not.toMatch(/^resuming/m);
  }, 300_000);

  it('completes when the DESTINATION is SIGKILLed mid-copy and restarted, and ends byte-identical with no part file left', async () => {
    let central = await start('central');
    const ship1 = await start('ship1');
    const copy = await startCopy(central);
    const heldAtKill = await partHolds(copy, 0.3);
    await central.kill();
    expect(heldAtKill).toBeLessThan(SIZE);
    // While the destination is down, the source lists the copy with what it confirmed.
    const listed = await runBosun(['copy', 'ls', '--data-dir', ship1.dataDir, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const [inProgress, ...others] = JSON.parse(listed.stdout) as Array<{ dstNode: string; dstPath: string; totalBytes: number; confirmedBytes: number }>;
    expect(others).toEqual([]);
    expect(inProgress).toMatchObject({ dstNode: 'central', dstPath: 'backups/source.bin', totalBytes: SIZE });
    expect(inProgress!.confirmedBytes).toBeGreaterThan(0);
    expect(inProgress!.confirmedBytes).toBeLessThanOrEqual(heldAtKill);
    const table = await runBosun(['copy', 'ls', '--data-dir', ship1.dataDir]);
    expect(table.stdout).toMatch(/central:backups\/source.bin\s+\d{1,2}%/);
    central = await start('central');
    const replies = await copied(copy);
    await expectCompleteCopy(central, copy, replies);
    await waitFor(async () => (await runBosun(['copy', 'ls', '--data-dir', ship1.dataDir])).stdout === 'no copy in progress\n', 20_000, 'the copy to leave the list');
  }, 300_000);
});

describe("REQCopyFile lands in the sender's folder", () => {
  it("cannot overwrite central's error log or another node's hello.log, whether through REQCopyFile or hand-made chunks", async () => {
    const central = await start('central');
    const ship1 = await start('ship1');
    const errorLog = path.join(central.dataDir, 'files', 'errorLog', 'error.log');
    const ship2Hello = path.join(central.dataDir, 'files', 'hello-messages', 'ship2', 'hello.log');
    for (const file of [errorLog, ship2Hello]) {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, 'genuine\n');
    }
    const forged = path.join(root, 'forged.log');
    await writeFile(forged, 'evidence erased\n');
    const digest = sha256(Buffer.from('evidence erased\n'));
    const chunk = (dstPath: string, id: string) => [
      { id: `${id}-chunk`, toNode: 'central', method: 'REQCopyChunk', methodArgs: ['forged', dstPath, '0', digest], data: Buffer.from('evidence erased\n').toString('base64') },
      { id: `${id}-done`, toNode: 'central', method: 'REQCopyDone', methodArgs: ['forged', dstPath, '16', digest] },
    ];
    // ship1 asks itself to copy, and also hand-makes the chunks a copy would send.
    const answers = await talk(
      ship1.socketPath,
      JSON.stringify([
        { toNode: 'ship1', method: 'REQCopyFile', methodArgs: [forged, 'central', 'errorLog/error.log'], fileName: 'a.log', ACKTimeout: 1 },
        { toNode: 'ship1', method: 'REQCopyFile', methodArgs: [forged, 'central', 'hello-messages/ship2/hello.log'], fileName: 'b.log', ACKTimeout: 1 },
        ...chunk('../errorLog/error.log', 'climb'),
        ...chunk('hello-messages/../../hello-messages/ship2/hello.log', 'wander'),
      ]),
    );
    expect(answers.every((a) => a.status === 'accepted')).toBe(true);
    const ownReplies = (name: string) => path.join(ship1.dataDir, 'files', 'REQCopyFile', 'ship1', name);
    for (const name of ['a.log', 'b.log']) {
      await waitFor(async () => /^copied 16 bytes/m.test(await readFile(ownReplies(name), 'utf8').catch(() => '')), 60_000, `the copy ${name}`);
    }
    const refusals = path.join(ship1.dataDir, 'files', 'REQCopyChunk', 'central', 'REQCopyChunk.result.error');
    await waitFor(async () => ((await readFile(refusals, 'utf8').catch(() => '')).match(/BOSUN_PATH_OUTSIDE_ROOT/g) ?? []).length >= 2, 60_000, 'both hand-made chunks refused');
    // What ship1 copied is in ship1's own folders on central, and nothing else changed.
    expect(await readFile(path.join(central.dataDir, 'files', 'errorLog', 'ship1', 'error.log'), 'utf8')).toBe('evidence erased\n');
    expect(await readFile(path.join(central.dataDir, 'files', 'hello-messages', 'ship2', 'ship1', 'hello.log'), 'utf8')).toBe('evidence erased\n');
    expect(await readFile(errorLog, 'utf8')).toMatch(/^genuine\n/);
    expect(await readFile(errorLog, 'utf8')).not.toContain('evidence erased');
    expect(await readFile(ship2Hello, 'utf8')).toBe('genuine\n');
  }, 120_000);
});
