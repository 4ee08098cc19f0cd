import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Daemon, removeTempDirs, runBosun, SocketClient, talk, tempDir, waitFor } from './helpers/daemon.ts';

/**
 * A client that lost its answers sends the same messages again with the same ids: each
 * effect happens once, across a SIGKILL and a restart.
 */
const COUNT = 1000;
let daemons: Daemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.kill()));
  removeTempDirs();
});

async function start(dataDir: string): Promise<Daemon> {
  const daemon = await Daemon.start({ node: 'once1', dataDir, args: ['--central', 'once1'] });
  daemons.push(daemon);
  return daemon;
}

function batch(): Array<Record<string, unknown>> {
  return Array.from({ length: COUNT }, (_, i) => ({
    id: `effect-${i}`,
    toNode: 'once1',
    method: 'REQToFileAppend',
    data: `effect-${i}\n`,
    directory: 'effects',
    fileName: 'log.txt',
    replyMethod: 'none',
  }));
}

async function effectLines(daemon: Daemon): Promise<string[]> {
  const text = await readFile(path.join(daemon.dataDir, 'files', 'effects', 'once1', 'log.txt'), 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '');
}

describe('resending by id', () => {
  it('runs each effect once when a client resends a batch with the same ids after a SIGKILL', { timeout: 120_000 }, async () => {
    const dataDir = path.join(await tempDir(), 'once1');
    const first = await start(dataDir);
    const client = await SocketClient.connect(first.socketPath);
    // One message a line: the daemon reads and answers them a chunk at a time.
    client.write(batch().map((m) => JSON.stringify(m)).join('\n'));
    await client.lines(1, 30_000);
    // The daemon dies by its own PID as soon as the client hears of the first message.
    await first.kill();
    const heard = client.received.length;
    client.destroy();

    const second = await start(dataDir);
    const answers = await talk(second.socketPath, batch().map((m) => JSON.stringify(m)).join('\n'), 60_000);
    expect(answers).toHaveLength(COUNT);
    const duplicates = answers.filter((a) => a.status === 'duplicate');
    const accepted = answers.filter((a) => a.status === 'accepted');
    expect(duplicates.length + accepted.length).toBe(COUNT);
    // Those it was told of, at least, were accepted before: they are duplicates now, with their first ids.
    expect(duplicates.length).toBeGreaterThanOrEqual(heard);
    for (const d of duplicates) expect(d).toEqual({ id: expect.stringMatching(/^effect-\d+$/), toNode: 'once1', status: 'duplicate' });

    const lines = await waitFor(async () => {
      const l = await effectLines(second);
      return l.length >= COUNT ? l : undefined;
    }, 60_000, `${COUNT} effects`);
    // Settle a little: a second run of any message would land by now.
    await new Promise((r) => setTimeout(r, 1500));
    const final = await effectLines(second);
    expect(final.length).toBe(COUNT);
    expect(new Set(final).size).toBe(COUNT);
    expect(lines.length).toBe(COUNT);
    console.log(`heard ${heard} answers before the SIGKILL; the resend found ${duplicates.length} duplicates and accepted ${accepted.length}`);

    // A third send of the same ids after a clean restart queues nothing either.
    await second.stop();
    const third = await start(dataDir);
    const again = await talk(third.socketPath, JSON.stringify(batch().slice(0, 10)));
    expect(again.every((a) => a.status === 'duplicate')).toBe(true);

    // And what became of one of them can be asked by its id.
    const status = await runBosun(['status', 'effect-7', '--data-dir', dataDir, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ id: 'effect-7', accepted: { at: expect.any(Number) }, messages: [{ id: 'effect-7', toNode: 'once1', state: 'run', outcome: { ok: true } }] });
  });
});
