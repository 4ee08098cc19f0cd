import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBosun, tempDir, waitFor, waitForFile } from './helpers/daemon.ts';
import { daemonsPerTest } from './helpers/daemonsPerTest.ts';

/** `bosun start` as an operator runs it: a real process, driven by `bosun send` and `bosun tree`. */
const startDaemon = daemonsPerTest();

const echoHello = (node: string) => JSON.stringify([{ toNode: node, method: 'REQCliCommand', methodArgs: ['echo', 'hello'] }]);

describe('bosun start', () => {
  it('runs a command sent with bosun send and writes its reply file', async () => {
    const daemon = await startDaemon({ node: 'ship1' });
    const sent = await runBosun(['send', '--data-dir', daemon.dataDir, '-'], { input: echoHello('ship1') });
    expect(sent.stderr).toBe('');
    expect(sent.code).toBe(0);
    const [answer] = sent.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(answer).toMatchObject({ toNode: 'ship1', status: 'accepted' });
    expect(typeof answer!.id).toBe('string');

    const result = path.join(daemon.dataDir, 'files', 'REQCliCommand', 'ship1', 'REQCliCommand.result');
    expect(await waitForFile(result, 15_000)).toBe('hello\n');
  });

  it('logs one "node started" line naming node, data dir, sockets and transport', async () => {
    const daemon = await startDaemon({ node: 'logger-1' });
    const started = daemon.logs.find((l) => l.msg === 'node started' && 'socket' in l)!;
    expect(started).toMatchObject({
      node: 'logger-1',
      dataDir: daemon.dataDir,
      socket: daemon.socketPath,
      debugSocket: daemon.debugSocketPath,
      transport: 'embedded',
    });
    expect((await stat(daemon.socketPath)).mode & 0o777).toBe(0o600);
    expect((await stat(daemon.debugSocketPath)).mode & 0o777).toBe(0o600);
  });

  it('finds the daemon by --node in its default data dir ./.bosun/NODE', async () => {
    const cwd = await tempDir();
    const daemon = await startDaemon({ node: 'ship2', dataDir: path.join(cwd, '.bosun', 'ship2') });
    const sent = await runBosun(['send', '--node', 'ship2', '-'], { input: echoHello('ship2'), cwd });
    expect(sent.code).toBe(0);
    await waitForFile(path.join(daemon.dataDir, 'files', 'REQCliCommand', 'ship2', 'REQCliCommand.result'), 15_000);
  });

  it('stops cleanly on SIGTERM: exit 0, sockets removed', async () => {
    const daemon = await startDaemon();
    const exit = await daemon.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(daemon.logs.map((l) => l.msg)).toContain('stopped');
    await expect(stat(daemon.socketPath)).rejects.toThrow(/ENOENT/);
    await expect(stat(daemon.debugSocketPath)).rejects.toThrow(/ENOENT/);
  });

  it('stops cleanly on SIGINT too', async () => {
    const daemon = await startDaemon();
    expect(await daemon.signal('SIGINT')).toEqual({ code: 0, signal: null });
  });

  it('exits at once on a second signal while a stop waits for a running command', async () => {
    const daemon = await startDaemon({ node: 'slow' });
    const marker = path.join(daemon.dataDir, 'running');
    const sleeper = { toNode: 'slow', method: 'REQCliCommand', methodArgs: ['sh', '-c', `touch ${marker}; sleep 4`], methodTimeout: -1 };
    await runBosun(['send', '--data-dir', daemon.dataDir, '-'], { input: JSON.stringify(sleeper) });
    await waitFor(() => stat(marker).then(() => true, () => false), 10_000, 'the command to run');
    process.kill(daemon.pid, 'SIGTERM');
    await daemon.waitForLog((l) => l.msg === 'stopping');
    const started = Date.now();
    const exit = await daemon.signal('SIGTERM');
    expect(exit.code).toBe(143);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(daemon.logs.map((l) => l.msg)).toContain('second signal: exiting at once, without a clean stop');
  });

  it('starts again on the same data dir after a SIGKILL left a stale socket behind', async () => {
    const first = await startDaemon({ node: 'ship3' });
    await first.kill();
    await stat(first.socketPath); // the dead daemon's socket file is still there
    const second = await startDaemon({ node: 'ship3', dataDir: first.dataDir });
    const sent = await runBosun(['send', '--data-dir', second.dataDir, '-'], { input: echoHello('ship3') });
    expect(sent.code).toBe(0);
  });

  it('refuses a second daemon on a data dir that one already serves', async () => {
    const daemon = await startDaemon({ node: 'ship4' });
    const second = await runBosun(['start', '--node', 'ship4', '--data-dir', daemon.dataDir, '--hello-interval', '0']);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('already listening');
    expect(daemon.running).toBe(true);
  });
});

describe('bosun tree', () => {
  it('prints the live tree, one indented actor per line with state, restarts and info', async () => {
    const daemon = await startDaemon({ node: 'ship5' });
    await runBosun(['send', '--data-dir', daemon.dataDir, '-'], { input: echoHello('ship5') });
    await waitForFile(path.join(daemon.dataDir, 'files', 'REQCliCommand', 'ship5', 'REQCliCommand.result'), 15_000);

    const tree = await runBosun(['tree', '--data-dir', daemon.dataDir]);
    expect(tree.code).toBe(0);
    const lines = tree.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ship5 \[supervisor\] running restarts=0\b/);
    expect(lines.find((l) => l.startsWith('  store '))).toMatch(/^  store \[worker\] open restarts=0\b/);
    const subscriber = lines.find((l) => l.startsWith('    REQCliCommand '));
    expect(subscriber).toMatch(/^    REQCliCommand \[worker\] \S+ restarts=0 .*\bdone=1\b/);
  });

  it('prints the tree as JSON with --json', async () => {
    const daemon = await startDaemon({ node: 'ship6' });
    const tree = await runBosun(['tree', '--data-dir', daemon.dataDir, '--json']);
    expect(tree.code).toBe(0);
    const root = JSON.parse(tree.stdout) as { id: string; kind: string; children: Array<{ id: string }> };
    expect(root).toMatchObject({ id: 'ship6', kind: 'supervisor', state: 'running', restarts: 0 });
    expect(root.children.map((c) => c.id)).toEqual(expect.arrayContaining(['store', 'transport', 'outbound', 'inbound']));
  });
});

describe('bosun start: configuration', () => {
  it('takes settings from a config file, the environment over it, and flags over both', async () => {
    const dir = await tempDir();
    const configFile = path.join(dir, 'bosun.json');
    await writeFile(configFile, JSON.stringify({ node: 'from-file', 'data-dir': 'state', 'hello-interval': 0, central: 'file-central' }));
    const daemon = await startDaemon({ rawArgs: ['--config', configFile, '--node', 'from-flag'], env: { BOSUN_DATA_DIR: path.join(dir, 'env-dir') } });
    expect(daemon.node).toBe('from-flag');
    expect(daemon.dataDir).toBe(path.join(dir, 'env-dir'));
    const tree = await runBosun(['tree', '--data-dir', daemon.dataDir, '--json']);
    expect(JSON.parse(tree.stdout)).toMatchObject({ id: 'from-flag' });
  });

  it("takes a relative data-dir in the config file from the file's folder", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'bosun.json'), JSON.stringify({ node: 'filed', 'data-dir': 'state', 'hello-interval': 0 }));
    const daemon = await startDaemon({ rawArgs: ['--config', path.join(dir, 'bosun.json')], cwd: await tempDir() });
    expect(daemon.dataDir).toBe(path.join(dir, 'state'));
  });

  it('refuses bad settings with one line naming the key, exit 2', async () => {
    const result = await runBosun(['start', '--node', 'ship1', '--hello-interval', 'soon']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('bosun: hello-interval (--hello-interval) must be a number of seconds, 0 or more; got "soon"\n');
    expect(result.stdout).toBe('');
  });
});
