import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir, waitForFile } from './helpers/daemon.ts';
import { daemonsPerTest } from './helpers/daemonsPerTest.ts';

/** The startup folder: `<config-dir>/startup/*.json`, accepted at every start once the node is up. */
const startDaemon = daemonsPerTest();

const appendLine = (line: string, toNode = 'local') => ({ toNode, method: 'REQToFileAppend', data: line, fileName: 'boot.txt', replyMethod: 'none' });
const lines = (text: string) => text.split('\n').filter((l) => l !== '');

/** A data dir whose startup folder holds `files` (name → content). */
async function dataDirWith(node: string, files: Record<string, string>): Promise<string> {
  const dataDir = path.join(await tempDir(), node);
  const startup = path.join(dataDir, 'config', 'startup');
  await mkdir(startup, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(startup, name), text);
  return dataDir;
}

describe('the startup folder', () => {
  it('accepts every *.json file in name order at each start; "local" is this node', async () => {
    const dataDir = await dataDirWith('boot1', {
      '20-second.json': JSON.stringify(appendLine('second')),
      '10-first.json': JSON.stringify([appendLine('first-a'), appendLine('first-b', 'boot1')]),
      'notes.txt': JSON.stringify(appendLine('not a json file name')),
    });
    const first = await startDaemon({ node: 'boot1', dataDir });
    expect(first.started.startup).toEqual({ files: 2, accepted: 3, skipped: [] });
    const boot = path.join(dataDir, 'files', 'default', 'boot1', 'boot.txt');
    expect(lines(await waitForFile(boot, 15_000, (t) => lines(t).length >= 3))).toEqual(['first-a', 'first-b', 'second']);
    await first.stop();

    await startDaemon({ node: 'boot1', dataDir });
    expect(lines(await waitForFile(boot, 15_000, (t) => lines(t).length >= 6))).toEqual(['first-a', 'first-b', 'second', 'first-a', 'first-b', 'second']);
  });

  it('reports a bad file by name and skips all of it; the other files still count', async () => {
    const dataDir = await dataDirWith('boot2', {
      'a-good.json': JSON.stringify(appendLine('good')),
      'b-broken.json': '[{"toNode": "local", "method": ',
      'c-half-bad.json': JSON.stringify([appendLine('never'), { toNode: 'local' }]),
      'd-empty.json': '',
      'e-good.json': JSON.stringify(appendLine('also good')),
    });
    const daemon = await startDaemon({ node: 'boot2', dataDir });
    expect(daemon.started.startup).toEqual({ files: 5, accepted: 2, skipped: ['b-broken.json', 'c-half-bad.json', 'd-empty.json'] });
    const skipped = daemon.logs.filter((l) => / skipped: /.test(l.msg));
    expect(skipped.map((l) => [l.file, l.code])).toEqual([
      ['b-broken.json', 'BOSUN_BAD_JSON'],
      ['c-half-bad.json', 'BOSUN_MISSING_FIELD'],
      ['d-empty.json', 'BOSUN_BAD_MESSAGE'],
    ]);
    expect(skipped[1]!.msg).toBe('startup file c-half-bad.json skipped: message 2 of 2: field "method" is required');
    const boot = path.join(dataDir, 'files', 'default', 'boot2', 'boot.txt');
    expect(lines(await waitForFile(boot, 15_000, (t) => lines(t).length >= 2))).toEqual(['good', 'also good']);
  });

  it('is found in --config-dir when one is given', async () => {
    const configDir = path.join(await tempDir(), 'etc-bosun');
    await mkdir(path.join(configDir, 'startup'), { recursive: true });
    await writeFile(path.join(configDir, 'startup', 'hello.json'), JSON.stringify(appendLine('from config dir')));
    const daemon = await startDaemon({ node: 'boot3', args: ['--config-dir', configDir] });
    expect(daemon.started).toMatchObject({ configFile: path.join(configDir, 'config.json'), startup: { files: 1, accepted: 1, skipped: [] } });
    expect(lines(await waitForFile(path.join(daemon.dataDir, 'files', 'default', 'boot3', 'boot.txt'), 15_000))).toEqual(['from config dir']);
  });

  it('is no files when the folder is missing', async () => {
    const daemon = await startDaemon({ node: 'boot4' });
    expect(daemon.started.startup).toEqual({ files: 0, accepted: 0, skipped: [] });
  });
});
