import { lstat, stat, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDebugSocket, type DebugSocket } from '../src/inputs/debugSocket.ts';
import { startSocketInput, type SocketInput } from '../src/inputs/socketInput.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { removeTempDirs, SocketClient, talk, tempDir } from './helpers/daemon.ts';

/** The message socket and the debug socket, in process, over a real node. */
let node: BosunNode;
let dataDir: string;
let open: Array<SocketInput | DebugSocket> = [];

beforeAll(async () => {
  dataDir = await tempDir();
  node = await startNode({ node: 'ship1', bus: new EmbeddedBus(), store: new MemoryStore(), dataDir, helloIntervalSeconds: 0 });
});
afterEach(async () => {
  await Promise.all(open.map((s) => s.close()));
  open = [];
});
afterAll(async () => {
  await node.stop();
  removeTempDirs();
});

async function socketInput(options: { dataDir?: string; maxValueBytes?: number } = {}): Promise<SocketInput> {
  const input = await startSocketInput(node, { dataDir: options.dataDir ?? dataDir, ...(options.maxValueBytes ? { maxValueBytes: options.maxValueBytes } : {}) });
  open.push(input);
  return input;
}

const message = (id: string) => ({ id, toNode: 'ship1', method: 'REQNone' });

describe('the message socket', () => {
  it('is <dataDir>/bosun.sock, for this user alone', async () => {
    const input = await socketInput();
    expect(input.socketPath).toBe(path.join(dataDir, 'bosun.sock'));
    expect((await stat(input.socketPath)).mode & 0o777).toBe(0o600);
  });

  it('answers a large batch one line per message, in order', async () => {
    const input = await socketInput();
    const ids = Array.from({ length: 3000 }, (_, i) => `batch-${i}`);
    const answers = await talk(input.socketPath, JSON.stringify(ids.map(message)));
    expect(answers.map((a) => a.id)).toEqual(ids);
  });

  it('answers values in the order they came, errors included', async () => {
    const input = await socketInput();
    const answers = await talk(input.socketPath, `${JSON.stringify(message('one'))}\nnot json\n[${JSON.stringify(message('two'))}, {"toNode":"x"}]`);
    expect(answers.map((a) => (a.error ? (a.error as { code: string }).code : a.id))).toEqual(['one', 'BOSUN_BAD_JSON', 'two', 'BOSUN_MISSING_FIELD']);
  });

  it('refuses one value over its cap, and goes on', async () => {
    const input = await socketInput({ maxValueBytes: 1000 });
    const big = JSON.stringify(Array.from({ length: 50 }, (_, i) => message(`big-${i}`)));
    const answers = await talk(input.socketPath, big + JSON.stringify(message('after')));
    expect(answers).toEqual([
      { error: { code: 'BOSUN_MESSAGE_TOO_LARGE', message: expect.stringContaining('larger than 1000 bytes') } },
      { id: 'after', toNode: 'ship1', status: 'accepted' },
    ]);
  });

  it('reports a value the client left unfinished when it half-closes', async () => {
    const input = await socketInput();
    const answers = await talk(input.socketPath, '[{"toNode":"ship1"');
    expect(answers).toEqual([{ error: { code: 'BOSUN_BAD_JSON', message: expect.stringContaining('ended inside a value') } }]);
  });

  it('replaces a stale socket file left by a dead daemon', async () => {
    const dir = await tempDir();
    // A socket file nobody listens on: what a SIGKILLed daemon leaves.
    const listener = spawn(process.execPath, ['-e', "require('net').createServer().listen(process.argv[1], () => console.log('up'))", path.join(dir, 'bosun.sock')]);
    await new Promise((resolve) => listener.stdout.once('data', resolve));
    listener.kill('SIGKILL');
    await new Promise((resolve) => listener.once('exit', resolve));
    expect((await lstat(path.join(dir, 'bosun.sock'))).isSocket()).toBe(true);
    const input = await socketInput({ dataDir: dir });
    expect(await talk(input.socketPath, JSON.stringify(message('fresh')))).toHaveLength(1);
  });

  it('refuses to start where a daemon already listens', async () => {
    await socketInput();
    await expect(startSocketInput(node, { dataDir })).rejects.toMatchObject({ code: 'BOSUN_BAD_CONFIG', message: expect.stringContaining('already listening') });
  });

  it('never deletes a file that is not a socket', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'bosun.sock'), 'precious');
    await expect(startSocketInput(node, { dataDir: dir })).rejects.toMatchObject({ code: 'BOSUN_BAD_CONFIG', message: expect.stringContaining('is not a socket') });
  });

  it('refuses a data dir whose socket path is too long for a unix socket', async () => {
    await expect(startSocketInput(node, { dataDir: '/tmp/' + 'd'.repeat(120) })).rejects.toMatchObject({ code: 'BOSUN_BAD_CONFIG', message: expect.stringContaining('shorter data dir') });
  });

  it('closes: open connections end, the socket file goes', async () => {
    const input = await startSocketInput(node, { dataDir });
    const client = await SocketClient.connect(input.socketPath);
    client.write(JSON.stringify(message('before-close')));
    await client.lines(1);
    await input.close();
    await client.closed;
    await expect(stat(input.socketPath)).rejects.toThrow(/ENOENT/);
  });
});

describe('the debug socket', () => {
  async function debugSocket(): Promise<DebugSocket> {
    const debug = await startDebugSocket(node, { dataDir });
    open.push(debug);
    return debug;
  }

  it('answers tree with the node tree, stats with the counters, help with the commands', async () => {
    const debug = await debugSocket();
    expect((await stat(debug.socketPath)).mode & 0o777).toBe(0o600);
    const [tree, stats, help] = await talk(debug.socketPath, 'tree\nstats\nhelp\n');
    expect(tree).toEqual(JSON.parse(JSON.stringify(node.tree())));
    expect(stats).toMatchObject({ node: 'ship1', status: 'running', counters: expect.objectContaining({ accepted: expect.any(Number) }) });
    expect(Object.keys((help as { commands: object }).commands)).toEqual(['tree', 'stats', 'nodes', 'queue', 'queue-rm', 'dead', 'dead-resend', 'dead-purge', 'copies', 'audit', 'status', 'help']);
  });

  it('answers an unknown command with a clear error line, and goes on', async () => {
    const debug = await debugSocket();
    const answers = await talk(debug.socketPath, 'frobnicate\nstats');
    expect(answers[0]).toEqual({ error: { code: 'BOSUN_UNKNOWN_COMMAND', message: 'unknown debug command "frobnicate"; the commands are: tree, stats, nodes, queue, queue-rm, dead, dead-resend, dead-purge, copies, audit, status, help' } });
    expect(answers[1]).toMatchObject({ node: 'ship1' });
  });

  it('hangs up on a line too long to be a command', async () => {
    const debug = await debugSocket();
    const client = await SocketClient.connect(debug.socketPath);
    client.write('x'.repeat(10_000));
    await client.closed;
    expect(JSON.parse(client.received[0]!)).toMatchObject({ error: { code: 'BOSUN_UNKNOWN_COMMAND' } });
  });
});
