import { connect, createServer, type Server } from 'node:net';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Daemon, runBosun, tempDir, waitFor, waitForFile } from './helpers/daemon.ts';
import { daemonsPerTest } from './helpers/daemonsPerTest.ts';

/** `--tcp-listen`: the unix socket's contract (JSON values in, one JSON line per message out) over TCP. */
const startWithOptions = daemonsPerTest();

function startDaemon(node: string, args: string[] = ['--tcp-listen', '127.0.0.1:0']): Promise<Daemon> {
  return startWithOptions({ node, args });
}

function tcpPort(daemon: Daemon): number {
  return Number(String(daemon.started.tcp).split(':').pop());
}

/** Connects, writes `chunks` (each its own write), half-closes, and resolves with the answer lines. */
function tcpTalk(port: number, chunks: Array<string | Buffer>): Promise<Array<Record<string, unknown>>> {
  return rawTalk(port, chunks);
}

/** `tcpTalk` after the token line a client must send first. */
function tcpTalkWithToken(daemon: Daemon, chunks: Array<string | Buffer>): Promise<Array<Record<string, unknown>>> {
  return rawTalk(tcpPort(daemon), [`${daemon.inputToken}\n`, ...chunks]);
}

function rawTalk(port: number, chunks: Array<string | Buffer>): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let text = '';
    socket.setEncoding('utf8').on('data', (t: string) => (text += t));
    socket.once('error', reject);
    socket.once('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
      socket.end();
    });
    socket.once('end', () => {
      socket.end();
      resolve(text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>));
    });
  });
}

describe('TCP input', () => {
  it('answers one JSON line per message, in order, and runs what it accepted', async () => {
    const daemon = await startDaemon('tcp1');
    expect(daemon.started.tcp).toMatch(/^127\.0\.0\.1:\d+$/);
    const echo = (word: string) => ({ toNode: 'tcp1', method: 'REQCliCommand', methodArgs: ['echo', word], fileName: `${word}.out` });
    const answers = await tcpTalkWithToken(daemon, [
      JSON.stringify([echo('one'), { toNode: 'tcp1' }]),
      // a value cut across two writes
      JSON.stringify(echo('two')).slice(0, 20),
      JSON.stringify(echo('two')).slice(20) + '\n',
      'not json\n',
      JSON.stringify({ ...echo('three'), id: 'tcp-three' }),
    ]);
    expect(answers).toEqual([
      { id: expect.any(String), toNode: 'tcp1', status: 'accepted' },
      { error: { code: 'BOSUN_MISSING_FIELD', message: 'field "method" is required' } },
      { id: expect.any(String), toNode: 'tcp1', status: 'accepted' },
      { error: expect.objectContaining({ code: 'BOSUN_BAD_JSON' }) },
      { id: 'tcp-three', toNode: 'tcp1', status: 'accepted' },
    ]);
    const results = path.join(daemon.dataDir, 'files', 'REQCliCommand', 'tcp1');
    for (const word of ['one', 'two', 'three']) expect(await waitForFile(path.join(results, `${word}.out`), 15_000)).toBe(`${word}\n`);
  });

  it('answers each value as soon as it is read, on a connection left open', async () => {
    const daemon = await startDaemon('tcp2');
    const socket = connect({ host: '127.0.0.1', port: tcpPort(daemon) });
    const lines: string[] = [];
    let pending = '';
    socket.setEncoding('utf8').on('data', (t: string) => {
      pending += t;
      const parts = pending.split('\n');
      pending = parts.pop()!;
      lines.push(...parts);
    });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`${daemon.inputToken}\n`);
    socket.write(JSON.stringify({ toNode: 'tcp2', method: 'REQNone', id: 'first' }));
    await waitFor(() => lines.length === 1, 10_000, 'the first answer');
    socket.write(JSON.stringify({ toNode: 'tcp2', method: 'REQNone', id: 'second' }));
    await waitFor(() => lines.length === 2, 10_000, 'the second answer');
    expect(lines.map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(['first', 'second']);
    socket.destroy();
  });

  it('refuses a client whose first line is not the token, or that sends none, and runs nothing', async () => {
    const daemon = await startDaemon('tcp7');
    const marker = path.join(daemon.dataDir, 'pwned.txt');
    const attack = JSON.stringify({ toNode: 'tcp7', method: 'REQCliCommand', methodArgs: ['sh', '-c', `echo x > ${marker}`] });
    const refusal = [{ error: { code: 'BOSUN_UNAUTHENTICATED', message: expect.stringMatching(/input token: send it as the first line/) } }];
    expect(await tcpTalk(tcpPort(daemon), [attack + '\n'])).toEqual(refusal);
    expect(await tcpTalk(tcpPort(daemon), ['not-the-token-but-long-enough\n', attack + '\n'])).toEqual(refusal);
    expect(await tcpTalk(tcpPort(daemon), [])).toEqual(refusal);
    // The right token on another connection still works, and is the only thing that ran.
    expect(await tcpTalkWithToken(daemon, [JSON.stringify({ toNode: 'tcp7', method: 'REQNone', id: 'ok' })])).toEqual([{ id: 'ok', toNode: 'tcp7', status: 'accepted' }]);
    const stats = (await daemon.debug('stats')) as { counters: { accepted: number } };
    expect(stats.counters.accepted).toBe(1);
    await expect(stat(marker)).rejects.toThrow(/ENOENT/);
  });

  it('is off unless configured, and a bare port listens on loopback only', async () => {
    const off = await startDaemon('tcp3', []);
    expect(off.started.tcp).toBeUndefined();
    const bare = await startDaemon('tcp4', ['--tcp-listen', '0']);
    expect(bare.started.tcp).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(bare.logs.some((l) => /unencrypted/.test(l.msg))).toBe(false);
  });

  it('refuses a port in use: one line naming tcp-listen, exit 2', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const result = await runBosun(['start', '--node', 'tcp5', '--data-dir', path.join(await tempDir(), 'tcp5'), '--tcp-listen', `127.0.0.1:${port}`]);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(`bosun: node tcp5 could not start: tcp-listen 127.0.0.1:${port}: the port is in use by another process\n`);
    } finally {
      blocker.close();
    }
  });

  it('refuses a malformed address before starting anything', async () => {
    const result = await runBosun(['start', '--node', 'tcp6', '--tcp-listen', ':4000']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^bosun: tcp-listen \(--tcp-listen\) must be HOST:PORT .*; got ":4000"\n$/);
  });
});
