import { appendFile, mkdir, mkdtemp, open, rename, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Message } from '../src/message.ts';
import { followFile, type FollowedHandle } from '../src/methods/fileFollower.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { until } from './helpers/until.ts';
import { replyCollector } from './helpers/recorder.ts';
import { garbageCollector } from './helpers/garbageCollector.ts';

const nodes: BosunNode[] = [];
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-tail-'));
});
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
  await rm(dir, { recursive: true, force: true });
});


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function fleet(): Promise<{ central: BosunNode; ship1: BosunNode; replies: Message[] }> {
  const bus = new EmbeddedBus();
  const { method: collect, replies } = replyCollector();
  const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: [collect] });
  const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0 });
  nodes.push(central, ship1);
  return { central, ship1, replies };
}

/** Sends the tail and returns once ship1 runs it and has had time to open the file. */
async function tail(central: BosunNode, ship1: BosunNode, file: string, methodTimeout: number): Promise<void> {
  await central.send({ toNode: 'ship1', method: 'REQTailFile', methodArgs: [file], methodTimeout, replyMethod: 'REQTestCollect' });
  await until(() => (ship1.subscribers().get('REQTailFile')?.info as { running?: number } | undefined)?.running === 1);
  await sleep(150);
}

/** Waits for the tails to end at their methodTimeout (on a loaded machine, maybe just past it). */
async function tailsEnded(ship1: BosunNode, count = 1): Promise<void> {
  await until(() => {
    const info = ship1.subscribers().get('REQTailFile')?.info as { done: number; failed: number };
    return info.done + info.failed >= count;
  }, 15_000);
}

const lines = (replies: Message[]) => replies.map((r) => r.data);
const isError = (m: Message): boolean => m.fileName?.endsWith('.error') === true;

describe('REQTailFile', () => {
  it('sends each line appended after it started, once and in order, through rotation and truncation', async () => {
    const { central, ship1, replies } = await fleet();
    const log = path.join(dir, 'app.log');
    await writeFile(log, 'old 1\nold 2\n');
    await tail(central, ship1, log, 6);

    await appendFile(log, 'a1\na2\n');
    await appendFile(log, 'a3\n');
    await until(() => replies.length >= 3);

    // Rotation: the file is renamed, the writer still finishes a line in the old one,
    // then a new file takes the name.
    await rename(log, `${log}.1`);
    await appendFile(`${log}.1`, 'b1 written to the renamed file\n');
    await writeFile(log, 'c1 in the new file\nc2\n');
    await until(() => replies.length >= 6);

    // Truncation in place (copytruncate), then more lines, before and after a check.
    await truncate(log, 0);
    await appendFile(log, 'd1 after truncation\n');
    await until(() => replies.length >= 7);
    await truncate(log, 0);
    await sleep(400);
    await appendFile(log, 'd2\n');
    await until(() => replies.length >= 8);

    await tailsEnded(ship1);
    expect(lines(replies)).toEqual(['a1', 'a2', 'a3', 'b1 written to the renamed file', 'c1 in the new file', 'c2', 'd1 after truncation', 'd2']);
    expect(replies.some(isError)).toBe(false);
  });

  it('waits for a file that does not exist yet and reads it from its start', async () => {
    const { central, ship1, replies } = await fleet();
    const log = path.join(dir, 'later', 'app.log');
    await tail(central, ship1, log, 3);
    await sleep(300);
    await appendFile(path.join(dir, 'not-it.log'), 'noise\n');
    await mkdir(path.dirname(log));
    await writeFile(log, 'first\nsecond\n');
    await until(() => replies.length >= 2);
    await tailsEnded(ship1);
    expect(lines(replies)).toEqual(['first', 'second']);
  });

  it('ends at methodTimeout without an error reply', async () => {
    const { central, ship1, replies } = await fleet();
    const log = path.join(dir, 'app.log');
    await writeFile(log, '');
    await tail(central, ship1, log, 2);
    // The follower reads from the file's end once it has opened it, which a loaded machine
    // may take a while to do: write numbered lines until the first one comes back.
    let written = 0;
    while (lines(replies).length === 0 && written < 60) {
      await appendFile(log, `line ${written++}\n`);
      await sleep(25);
    }
    await tailsEnded(ship1);
    await sleep(300);
    const got = lines(replies);
    expect(got.length).toBeGreaterThan(0);
    const first = Number(String(got[0]).split(' ')[1]);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => `line ${first + i}`));
    expect(first + got.length).toBeLessThanOrEqual(written);
    expect(replies.some(isError)).toBe(false);
  });

  // A tail's deadline once hung on a signal that only garbage collection could take away
  // (the runtime then stopped the tail with BOSUN_METHOD_TIMEOUT, an error reply).
  it('ends at methodTimeout by itself while garbage is collected', async () => {
    const { central, ship1, replies } = await fleet();
    const log = path.join(dir, 'app.log');
    await writeFile(log, '');
    await tail(central, ship1, log, 2);
    const collect = garbageCollector();
    const started = Date.now();
    while (Date.now() - started < 2500) {
      collect();
      await sleep(50);
    }
    await tailsEnded(ship1);
    const info = ship1.subscribers().get('REQTailFile')?.info as { done: number; failed: number };
    expect(info).toMatchObject({ done: 1, failed: 0 });
    expect(replies.some(isError)).toBe(false);
  });

  it('follows a relative path from the working directory, as steward did', async () => {
    const { central, ship1, replies } = await fleet();
    const name = `bosun-tail-relative-${process.pid}-${Date.now()}.log`;
    const log = path.join(process.cwd(), name);
    await writeFile(log, '');
    try {
      await tail(central, ship1, `./${name}`, 1);
      await appendFile(log, 'relative\n');
      await until(() => lines(replies).length >= 1);
      expect(lines(replies)).toEqual(['relative']);
    } finally {
      await rm(log, { force: true });
    }
  });

  it('refuses a message without a path', async () => {
    const { central, replies } = await fleet();
    await central.send({ toNode: 'ship1', method: 'REQTailFile', replyMethod: 'REQTestCollect' });
    await until(() => replies.length >= 1);
    expect(replies[0]!.data).toBe('error BOSUN_BAD_MESSAGE: REQTailFile needs the file to follow in methodArgs[0]');
  });
});

/**
 * Opens files through a handle that rewrites `file` in place with `content` just before the
 * `nth` read that asks for bytes past `oldEnd`: the write lands after whatever check the
 * follower made of the bytes it had read, and before it reads what follows them.
 */
function rewrittenBeforeRead(nth: number, oldEnd: number, content: string): (file: string) => Promise<FollowedHandle> {
  let readsPastOldEnd = 0;
  return async (file) => {
    const handle = await open(file, 'r');
    return {
      stat: () => handle.stat(),
      close: () => handle.close(),
      async read(buffer, offset, length, position) {
        if (position + length > oldEnd && ++readsPastOldEnd === nth) {
          const writer = await open(file, 'r+');
          await writer.write(content, 0);
          await writer.close();
        }
        return handle.read(buffer, offset, length, position);
      },
    };
  };
}

describe('followFile', () => {
  // Rewritten in place and longer than before: the size never drops below the read
  // position, so only the bytes just before it can tell that the content was replaced.
  const before = 'x'.repeat(100) + '\n';
  const fresh = 'fresh content, longer than the hundred and one bytes that the file held before it was rewritten in place\n';

  it.each([1, 2])('reads a file whose content was replaced beyond the read position from its start, the rewrite landing just before read %i past the old end', async (nth) => {
    expect(fresh.length).toBeGreaterThan(before.length);
    const log = path.join(dir, 'app.log');
    await writeFile(log, before);
    const seen: string[] = [];
    const stop = new AbortController();
    const openFile = rewrittenBeforeRead(nth, before.length, fresh);
    const following = followFile(log, async (line) => void seen.push(line), { signal: stop.signal, pollMs: 20, openFile });
    await until(() => seen.length >= 1, 3000);
    await sleep(100);
    stop.abort();
    await following;
    expect(seen).toEqual([fresh.trimEnd()]);
  });

  it('passes on only what is appended after it started to a file shorter than the fingerprint, across polls and a line split between them', async () => {
    const log = path.join(dir, 'app.log');
    await writeFile(log, 'old 1\nold 2\n');
    const seen: string[] = [];
    const stop = new AbortController();
    // The start position comes from the first stat of the opened file: append only after it.
    let started!: () => void;
    const hasStarted = new Promise<void>((resolve) => (started = resolve));
    const openFile = async (file: string): Promise<FollowedHandle> => {
      const handle = await open(file, 'r');
      return {
        read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
        close: () => handle.close(),
        async stat() {
          const st = await handle.stat();
          started();
          return st;
        },
      };
    };
    const following = followFile(log, async (line) => void seen.push(line), { signal: stop.signal, pollMs: 20, openFile });
    await hasStarted;
    await appendFile(log, 'a1\na');
    await until(() => seen.length >= 1, 3000);
    await appendFile(log, '2\na3\n');
    await until(() => seen.length >= 3, 3000);
    await sleep(100);
    stop.abort();
    await following;
    expect(seen).toEqual(['a1', 'a2', 'a3']);
  });

  it('passes on a last line without a newline when following stops', async () => {
    const log = path.join(dir, 'app.log');
    await writeFile(log, '');
    const seen: string[] = [];
    const stop = new AbortController();
    const following = followFile(log, async (line) => void seen.push(line), { signal: stop.signal, pollMs: 50 });
    await sleep(50);
    await appendFile(log, 'done\nhalf a li');
    await until(() => seen.length >= 1, 3000);
    stop.abort();
    await following;
    expect(seen).toEqual(['done', 'half a li']);
  });
});
