import { appendFile, mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Daemon, tempDir, waitFor, waitForFile } from './helpers/daemon.ts';
import { daemonsPerTest } from './helpers/daemonsPerTest.ts';

/** The watched input file (steward's inmsg.txt): appended messages are taken, crash-safely. */
const startDaemon = daemonsPerTest();

/** A message that appends `line` to files/default/<node>/inbox.txt on `node`. */
const appendLine = (node: string, line: string) => ({ toNode: node, method: 'REQToFileAppend', data: line, fileName: 'inbox.txt', replyMethod: 'none' });
const inbox = (daemon: Daemon) => path.join(daemon.dataDir, 'files', 'default', daemon.node, 'inbox.txt');
const lines = (text: string) => text.split('\n').filter((l) => l !== '');

/** The files next to the input file that bosun made: `.processing-*` and their progress. */
async function leftovers(dataDir: string): Promise<string[]> {
  return (await readdir(dataDir)).filter((n) => n.startsWith('inmsg.txt'));
}

describe('the input file', () => {
  it('takes messages appended to <data-dir>/inmsg.txt and empties it', async () => {
    const daemon = await startDaemon({ node: 'file1' });
    expect(daemon.started.inputFile).toBe(path.join(daemon.dataDir, 'inmsg.txt'));
    const file = path.join(daemon.dataDir, 'inmsg.txt');
    await appendFile(file, JSON.stringify([appendLine('file1', 'one'), appendLine('file1', 'two')]) + '\n');
    await appendFile(file, JSON.stringify(appendLine('local', 'three')) + '\n');
    expect(lines(await waitForFile(inbox(daemon), 15_000, (t) => lines(t).length >= 3))).toEqual(['one', 'two', 'three']);
    await waitFor(async () => (await leftovers(daemon.dataDir)).length === 0, 10_000, 'the input file to be taken');

    // And again: the file comes back with the next append.
    await appendFile(file, JSON.stringify(appendLine('file1', 'four')));
    expect(lines(await waitForFile(inbox(daemon), 15_000, (t) => lines(t).length >= 4))).toEqual(['one', 'two', 'three', 'four']);
  });

  it('takes what was appended while the daemon was down, at its start', async () => {
    const dataDir = path.join(await tempDir(), 'file2');
    await mkdir(dataDir, { recursive: true });
    await writeFile(path.join(dataDir, 'inmsg.txt'), JSON.stringify([appendLine('file2', 'early')]));
    const daemon = await startDaemon({ node: 'file2', dataDir });
    expect(lines(await waitForFile(inbox(daemon), 15_000))).toEqual(['early']);
  });

  it('logs what is not JSON, or not a message, with the file name, and takes the rest', async () => {
    const daemon = await startDaemon({ node: 'file3' });
    const text = [JSON.stringify(appendLine('file3', 'before')), '{"toNode": oops}', JSON.stringify({ toNode: 'file3' }), JSON.stringify(appendLine('file3', 'after'))].join('\n');
    await writeFile(path.join(daemon.dataDir, 'inmsg.txt'), text);
    expect(lines(await waitForFile(inbox(daemon), 15_000, (t) => lines(t).length >= 2))).toEqual(['before', 'after']);
    const refusals = await waitFor(() => {
      const found = daemon.logs.filter((l) => l.msg.startsWith('input file: refused'));
      return found.length >= 2 && found;
    }, 10_000, 'two refusals in the log');
    expect(refusals.map((l) => [l.code, l.value])).toEqual([
      ['BOSUN_BAD_JSON', 2],
      ['BOSUN_MISSING_FIELD', 3],
    ]);
    expect(String(refusals[0]!.file)).toMatch(/^inmsg\.txt\.processing-\d+$/);
  });

  it('finishes a file left mid-way by a dead daemon after its recorded progress, before anything new', async () => {
    const dataDir = path.join(await tempDir(), 'file4');
    await mkdir(dataDir, { recursive: true });
    const taken = path.join(dataDir, 'inmsg.txt.processing-1000');
    await writeFile(taken, [1, 2, 3, 4, 5, 6].map((i) => JSON.stringify(appendLine('file4', `old-${i}`))).join('\n'));
    await writeFile(`${taken}.progress`, JSON.stringify({ valuesDone: 4 }));
    await writeFile(path.join(dataDir, 'inmsg.txt.processing-999.progress'), JSON.stringify({ valuesDone: 9 })); // its file is gone
    await writeFile(path.join(dataDir, 'inmsg.txt'), JSON.stringify(appendLine('file4', 'new')));

    const daemon = await startDaemon({ node: 'file4', dataDir });
    expect(lines(await waitForFile(inbox(daemon), 15_000, (t) => lines(t).length >= 3))).toEqual(['old-5', 'old-6', 'new']);
    await waitFor(async () => (await leftovers(dataDir)).length === 0, 10_000, 'every leftover to be removed');
  });

  it('accepts every message of a big file exactly once when the daemon is killed mid-file and restarted', async () => {
    const count = 20_000;
    const daemon = await startDaemon({ node: 'file5' });
    // To a node that is not there: each message waits in the outbox, where its id can be counted.
    const messages = Array.from({ length: count }, (_, i) => JSON.stringify({ toNode: 'offline', method: 'REQNone', id: `f-${i}`, data: `message ${i}` }));
    const staging = path.join(daemon.dataDir, 'staging.json');
    await writeFile(staging, messages.join('\n'));
    await rename(staging, path.join(daemon.dataDir, 'inmsg.txt'));

    // Kill -9 as soon as the first batch is recorded: the file is then part done.
    let progress: string | undefined;
    const deadline = Date.now() + 20_000;
    while (!(progress = (await readdir(daemon.dataDir)).find((n) => n.endsWith('.progress'))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    if (!progress) throw new Error(`no progress record within 20 s\n${daemon.output()}`);
    await daemon.kill();
    const done = (JSON.parse(await readFile(path.join(daemon.dataDir, progress), 'utf8')) as { valuesDone: number }).valuesDone;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(count);
    expect(await stat(path.join(daemon.dataDir, progress.replace(/\.progress$/, '')))).toBeTruthy();

    const again = await startDaemon({ node: 'file5', dataDir: daemon.dataDir });
    await again.waitForLog((l) => l.msg === 'input file taken', 30_000);
    expect(await leftovers(again.dataDir)).toEqual([]);
    const queued = (await again.debug(`queue {"node":"offline","limit":${count * 2}}`)) as Array<{ id: string }>;
    const ids = queued.map((q) => q.id);
    expect({ total: ids.length, distinct: new Set(ids).size, doneAtKill: done }).toEqual({ total: count, distinct: count, doneAtKill: done });
    expect(ids.every((id) => /^f-\d+$/.test(id) && Number(id.slice(2)) < count)).toBe(true);
  });

  it('watches another file when told, and none with --input-file off', async () => {
    const dir = await tempDir();
    const custom = path.join(dir, 'drop', 'in.json');
    const daemon = await startDaemon({ node: 'file6', args: ['--input-file', custom] });
    expect(daemon.started.inputFile).toBe(custom);
    await appendFile(custom, JSON.stringify(appendLine('file6', 'custom')));
    expect(lines(await waitForFile(inbox(daemon), 15_000))).toEqual(['custom']);

    const off = await startDaemon({ node: 'file7', args: ['--input-file', 'off'] });
    expect(off.started.inputFile).toBeUndefined();
    await writeFile(path.join(off.dataDir, 'inmsg.txt'), JSON.stringify(appendLine('file7', 'ignored')));
    await new Promise((r) => setTimeout(r, 1500));
    expect(await leftovers(off.dataDir)).toEqual(['inmsg.txt']);
  });
});
