import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Daemon, removeTempDirs, SocketClient, waitFor } from './helpers/daemon.ts';

/**
 * Many clients, each sending one huge JSON string that never ends: each stays under a
 * value's own cap, together they would hold gigabytes. The inputs' shared budget (256 MiB
 * by default) refuses the clients past it, and the memory comes back once they go.
 */
const MIB = 1024 * 1024;
const CLIENTS = 40;
const PER_CLIENT = 24 * MIB;
const CHUNK = Buffer.alloc(256 * 1024, 'x');

let daemon: Daemon | undefined;
let limited: Daemon | undefined;
let web: Daemon | undefined;
afterAll(async () => {
  await daemon?.kill();
  await limited?.kill();
  await web?.kill();
  removeTempDirs();
});

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
}

interface Flood {
  socket: Socket;
  answer: string;
  closed: Promise<void>;
}

/** One client: the token line, then the start of a value and a string that never ends, as fast as the daemon takes it. */
function flood(port: number, token: string): Flood {
  const socket = connect({ host: '127.0.0.1', port });
  const client: Flood = { socket, answer: '', closed: new Promise((resolve) => socket.once('close', () => resolve())) };
  socket.setEncoding('utf8').on('data', (t: string) => (client.answer += t));
  socket.on('error', () => {});
  socket.once('connect', async () => {
    socket.write(`${token}\n{"toNode":"mem1","method":"REQNone","data":"`);
    for (let sent = 0; sent < PER_CLIENT && !socket.destroyed; sent += CHUNK.length) {
      if (!socket.write(CHUNK)) {
        await new Promise<void>((resolve) => {
          const go = (): void => {
            socket.off('drain', go).off('close', go);
            resolve();
          };
          socket.on('drain', go).on('close', go);
        });
      }
    }
  });
  return client;
}

describe('the inputs’ memory budget', () => {
  it('keeps a flood of unfinished huge values within 256 MiB, refuses the clients past it, and gives the memory back', { timeout: 180_000 }, async () => {
    daemon = await Daemon.start({ node: 'mem1', args: ['--tcp-listen', '127.0.0.1:0'] });
    const port = Number(String(daemon.started.tcp).split(':').pop());
    const before = await rssBytes(daemon.pid);

    let peak = before;
    const sampler = setInterval(() => void rssBytes(daemon!.pid).then((r) => (peak = Math.max(peak, r)), () => {}), 100);
    const clients = Array.from({ length: CLIENTS }, () => flood(port, daemon!.inputToken));
    // Every client either was refused (and closed) or has sent its whole string.
    await waitFor(async () => {
      const stats = (await daemon!.debug('stats')) as unknown;
      return clients.every((c) => c.socket.destroyed || c.answer !== '' || c.socket.bytesWritten >= PER_CLIENT) && stats;
    }, 150_000, 'every client to be refused or done sending');
    const refused = clients.filter((c) => c.answer.includes('BOSUN_INPUT_BUDGET'));
    expect(refused.length).toBeGreaterThan(0);
    expect(JSON.parse(refused[0]!.answer.split('\n')[0]!)).toEqual({ error: { code: 'BOSUN_INPUT_BUDGET', message: expect.stringMatching(/256 MiB of unfinished messages/) } });
    // The held values (at most the budget) and the reading buffers, never the 960 MiB sent.
    expect(peak - before).toBeLessThan(256 * MIB + 128 * MIB);

    for (const c of clients) c.socket.destroy();
    await Promise.all(clients.map((c) => c.closed));
    clearInterval(sampler);
    const settled = await waitFor(async () => {
      const now = await rssBytes(daemon!.pid);
      return now - before < 50 * MIB ? now : undefined;
    }, 60_000, `the daemon's RSS to come back within 50 MB of ${Math.round(before / MIB)} MiB`).catch(async (e: Error) => {
      throw new Error(`${e.message}; it is ${Math.round((await rssBytes(daemon!.pid)) / MIB)} MiB, peak ${Math.round(peak / MIB)} MiB`);
    });
    console.log(`RSS before ${Math.round(before / MIB)} MiB, peak ${Math.round(peak / MIB)} MiB, after ${Math.round(settled / MIB)} MiB; ${refused.length} of ${CLIENTS} clients refused`);
    expect(daemon.running).toBe(true);
  });
});

describe('connection limits and the idle timeout', () => {
  it('refuses a connection past the limit, and closes one whose unfinished value goes quiet', { timeout: 60_000 }, async () => {
    limited = await Daemon.start({ node: 'mem2', args: ['--input-max-connections', '3', '--input-idle-timeout', '1'] });
    const open = await Promise.all([1, 2, 3].map(() => SocketClient.connect(limited!.socketPath)));
    const extra = await SocketClient.connect(limited.socketPath);
    expect(await extra.lines(1)).toEqual([{ error: { code: 'BOSUN_TOO_MANY_CONNECTIONS', message: expect.stringMatching(/at most 3 connections/) } }]);
    await extra.closed;

    // A connection idle between messages stays; one stuck inside a value is closed.
    open[0]!.write('{"toNode":"mem2","method":"REQNone","data":"never fini');
    expect(await open[0]!.lines(1, 10_000)).toEqual([{ error: { code: 'BOSUN_INPUT_IDLE', message: expect.stringMatching(/for 1 s/) } }]);
    await open[0]!.closed;
    open[1]!.write(JSON.stringify({ toNode: 'mem2', method: 'REQNone', id: 'still-open' }));
    expect(await open[1]!.lines(1)).toEqual([{ id: 'still-open', toNode: 'mem2', status: 'accepted' }]);
    for (const c of open) c.destroy();
  });
});

describe('the HTTP input’s limits', () => {
  it('counts request bodies against the budget (503), times out a stalled body (408), and refuses a connection past the limit (503)', { timeout: 60_000 }, async () => {
    web = await Daemon.start({ node: 'mem3', args: ['--http-listen', '127.0.0.1:0', '--input-memory-budget', '1', '--input-max-connections', '2', '--input-idle-timeout', '1'] });
    const base = `http://${String(web.started.http)}`;
    const big = JSON.stringify({ toNode: 'mem3', method: 'REQNone', data: 'x'.repeat(2 * MIB) });
    const over = await fetch(`${base}/api/v1/messages`, { method: 'POST', headers: web.httpHeaders, body: big });
    expect(over.status).toBe(503);
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe('BOSUN_INPUT_BUDGET');
    const small = await fetch(`${base}/api/v1/messages`, { method: 'POST', headers: web.httpHeaders, body: JSON.stringify({ toNode: 'mem3', method: 'REQNone', id: 'small' }) });
    expect(await small.json()).toEqual({ results: [{ id: 'small', toNode: 'mem3', status: 'accepted' }] });

    const stalled = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${base}/api/v1/messages`, { method: 'POST', headers: { ...web!.httpHeaders, 'Content-Length': '1000' } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (t: string) => (text += t));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on('error', reject);
      req.write('[{"toNode":"mem3","method":"REQNone"},');
    });
    expect(stalled.status).toBe(408);
    expect(JSON.parse(stalled.body)).toEqual({ error: { code: 'BOSUN_INPUT_IDLE', message: expect.stringMatching(/for 1 s/) } });

    // Connections are held open up to the limit; one past it is told so at once.
    const port = Number(String(web.started.http).split(':').pop());
    const held = await Promise.all([1, 2].map(() => new Promise<Socket>((resolve) => { const s = connect({ host: '127.0.0.1', port }, () => resolve(s)); })));
    await new Promise((r) => setTimeout(r, 200));
    const third = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      let text = '';
      s.setEncoding('utf8').on('data', (t: string) => (text += t));
      s.on('error', () => {});
      s.on('close', () => resolve(text));
    });
    expect(third).toMatch(/^HTTP\/1\.1 503 /);
    expect(third).toMatch(/"code":"BOSUN_TOO_MANY_CONNECTIONS"/);
    for (const s of held) s.destroy();
  });
});
