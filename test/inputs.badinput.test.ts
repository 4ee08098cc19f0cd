import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_MESSAGE_BYTES } from '../src/message.ts';
import { Daemon, removeTempDirs, runBosun, SocketClient, talk, tempDir, waitForFile } from './helpers/daemon.ts';

/**
 * Bad input over a real daemon's bosun.sock: every bad value or message is one clear error
 * line, the good messages beside it are accepted, and the daemon goes on serving.
 */
const NODE = 'ship1';
let daemon: Daemon;

beforeAll(async () => {
  daemon = await Daemon.start({ node: NODE });
});

afterAll(async () => {
  await daemon?.kill();
  removeTempDirs();
});

const good = (id: string) => ({ id, toNode: NODE, method: 'REQCliCommand', methodArgs: ['echo', id] });
const line = (value: unknown) => JSON.stringify(value) + '\n';

function resultFile(method: string, suffix = ''): string {
  return path.join(daemon.dataDir, 'files', method, NODE, `${method}.result${suffix}`);
}

describe('bad input on the message socket', () => {
  it('answers malformed JSON with its position, and reads the next line', async () => {
    const answers = await talk(daemon.socketPath, '{"toNode": oops}\n' + line(good('after-bad-json')));
    expect(answers).toHaveLength(2);
    expect(answers[0]).toEqual({
      error: { code: 'BOSUN_BAD_JSON', message: expect.stringMatching(/^malformed JSON at line 1, column 12: expected a value, found "o"/) },
    });
    expect(answers[1]).toMatchObject({ id: 'after-bad-json', status: 'accepted' });
  });

  it('accepts an unknown method; the receiving node sends back an error reply', async () => {
    const answers = await talk(daemon.socketPath, line([{ id: 'nope-1', toNode: NODE, method: 'REQNoSuchMethod' }]));
    expect(answers).toEqual([{ id: 'nope-1', toNode: NODE, status: 'accepted' }]);
    const error = await waitForFile(resultFile('REQNoSuchMethod', '.error'), 15_000);
    expect(error).toContain('BOSUN_UNKNOWN_METHOD');
    expect(error).toContain('REQNoSuchMethod');
  });

  it('refuses a message without toNode, and accepts the others of its array', async () => {
    const answers = await talk(daemon.socketPath, line([good('before-missing'), { method: 'REQCliCommand', methodArgs: ['true'] }, good('after-missing')]));
    expect(answers).toHaveLength(3);
    expect(answers[0]).toMatchObject({ id: 'before-missing', status: 'accepted' });
    expect(answers[1]).toEqual({ error: { code: 'BOSUN_MISSING_FIELD', message: expect.stringContaining('toNode') } });
    expect(answers[2]).toMatchObject({ id: 'after-missing', status: 'accepted' });
  });

  it('refuses a message over 1 MiB, and accepts the others of its array', async () => {
    const big = { id: 'too-big', toNode: NODE, method: 'REQToFileAppend', data: 'x'.repeat(MAX_MESSAGE_BYTES) };
    const answers = await talk(daemon.socketPath, line([good('before-big'), big, good('after-big')]));
    expect(answers).toHaveLength(3);
    expect(answers[0]).toMatchObject({ id: 'before-big', status: 'accepted' });
    expect(answers[1]).toEqual({
      error: { code: 'BOSUN_MESSAGE_TOO_LARGE', message: expect.stringMatching(/^message 2 of 3 \(id "too-big"\) is 1\.0 MiB as JSON; a message may be at most 1 MiB/) },
    });
    expect(answers[2]).toMatchObject({ id: 'after-big', status: 'accepted' });
  });

  it('refuses bytes that are not UTF-8, and reads the next line', async () => {
    const bad = Buffer.concat([Buffer.from('[{"toNode":"ship1","method":"REQCliCommand","methodArgs":["echo","'), Buffer.from([0xc3, 0x28]), Buffer.from('"]}]\n')]);
    const answers = await talk(daemon.socketPath, Buffer.concat([bad, Buffer.from(line(good('after-utf8')))]));
    expect(answers).toHaveLength(2);
    expect(answers[0]).toEqual({
      error: { code: 'BOSUN_BAD_ENCODING', message: expect.stringMatching(/^invalid UTF-8 at line 1, column 67 \(bytes 0xc3 0x28\)/) },
    });
    expect(answers[1]).toMatchObject({ id: 'after-utf8', status: 'accepted' });
  });

  it('answers each value as it completes, on a connection the client keeps open (nc -U)', async () => {
    const client = await SocketClient.connect(daemon.socketPath);
    client.write(JSON.stringify(good('open-1')));
    expect(await client.lines(1)).toEqual([{ id: 'open-1', toNode: NODE, status: 'accepted' }]);
    // a value split across writes, with no newline at all
    client.write('{"id":"open-2","toNode":"ship1",');
    client.write('"method":"REQCliCommand","methodArgs":["echo","x"]}');
    expect((await client.lines(2))[1]).toMatchObject({ id: 'open-2', status: 'accepted' });
    client.destroy();
  });

  it('survives clients that leave early, mid-value or before reading their answers', async () => {
    const halfValue = await SocketClient.connect(daemon.socketPath);
    halfValue.write('[{"toNode":"ship1","meth');
    halfValue.destroy();
    const noReader = await SocketClient.connect(daemon.socketPath);
    noReader.write(line(Array.from({ length: 200 }, (_, i) => good(`left-${i}`))));
    noReader.destroy();
    const answers = await talk(daemon.socketPath, line(good('still-serving')));
    expect(answers).toEqual([{ id: 'still-serving', toNode: NODE, status: 'accepted' }]);
  });

  it('keeps running and executing messages after all of the above', async () => {
    await talk(daemon.socketPath, line({ id: 'final', toNode: NODE, method: 'REQCliCommand', methodArgs: ['echo', 'still here'], fileName: 'final.txt' }));
    const text = await waitForFile(path.join(daemon.dataDir, 'files', 'REQCliCommand', NODE, 'final.txt'), 15_000);
    expect(text).toBe('still here\n');
    expect(daemon.running).toBe(true);
    // The node logs the unknown method as an error; nothing else went wrong.
    const errors = daemon.logs.filter((l) => l.level >= 50 && l.code !== 'BOSUN_UNKNOWN_METHOD');
    expect(errors).toEqual([]);
  });
});

describe('bosun send', () => {
  it('prints one line per message and exits 1 when any was refused', async () => {
    const input = JSON.stringify([good('send-ok'), { toNode: NODE }]);
    const result = await runBosun(['send', '--data-dir', daemon.dataDir, '-'], { input });
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      { id: 'send-ok', toNode: NODE, status: 'accepted' },
      { error: { code: 'BOSUN_MISSING_FIELD', message: 'field "method" is required' } },
    ]);
  });

  it('exits 1 on malformed JSON in a file', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'messages.json');
    await (await import('node:fs/promises')).writeFile(file, '[{"toNode": "ship1",]\n');
    const result = await runBosun(['send', '--data-dir', daemon.dataDir, file]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: { code: 'BOSUN_BAD_JSON' } });
  });

  it('says clearly when no daemon answers, exit 2', async () => {
    const dir = await tempDir();
    const result = await runBosun(['send', '--node', 'ghost', '-'], { input: line(good('x')), cwd: dir });
    expect(result.code).toBe(2);
    const sock = path.join(dir, '.bosun', 'ghost', 'bosun.sock');
    expect(result.stderr).toBe(`bosun: no bosun daemon at ${sock}: is it running? (bosun start --node ghost)\n`);
  });

  it('says clearly when the file cannot be read, exit 2', async () => {
    const result = await runBosun(['send', '--data-dir', daemon.dataDir, '/nonexistent/messages.json']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^bosun: cannot read "\/nonexistent\/messages.json": no such file\n/);
  });
});
