import { stat } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, removeTempDirs, waitForFile } from './helpers/daemon.ts';

/**
 * The HTTP input against what a web page or another local user can send it: only a JSON
 * request that names this host, comes from no foreign page and carries the token runs.
 */
let daemon: Daemon;
let port: number;
let marker: string;

beforeAll(async () => {
  daemon = await Daemon.start({ node: 'safe1', args: ['--http-listen', '127.0.0.1:0', '--http-allowed-hosts', 'bosun.internal'] });
  port = Number(String(daemon.started.http).split(':').pop());
  marker = path.join(daemon.dataDir, 'pwned.txt');
});
afterAll(async () => {
  await daemon.kill();
  removeTempDirs();
});

/** A raw request, so `Host` can be anything (fetch sets it from the URL). */
function send(headers: Record<string, string>, body: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/api/v1/messages', headers: { 'Content-Length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (t: string) => (text += t));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function attack(): string {
  return JSON.stringify({ toNode: 'safe1', method: 'REQCliCommand', methodArgs: ['sh', '-c', `echo x > ${marker}`] });
}

async function acceptedCount(): Promise<number> {
  return ((await daemon.debug('stats')) as { counters: { accepted: number } }).counters.accepted;
}

describe('the HTTP input refuses what a web page or another user sends, and runs none of it', () => {
  const host = (): string => `127.0.0.1:${port}`;
  const auth = (): string => `Bearer ${daemon.inputToken}`;

  it.each([
    ['a text/plain body (a "simple" request a page sends without preflight)', () => ({ Host: host(), Authorization: auth(), 'Content-Type': 'text/plain' }), 415, 'BOSUN_UNSUPPORTED_MEDIA_TYPE'],
    ['a foreign Origin', () => ({ Host: host(), Authorization: auth(), 'Content-Type': 'application/json', Origin: 'http://evil.example' }), 403, 'BOSUN_FORBIDDEN_ORIGIN'],
    ['a rebinding Host', () => ({ Host: 'evil.example', Authorization: auth(), 'Content-Type': 'application/json' }), 403, 'BOSUN_FORBIDDEN_HOST'],
    ['no token', () => ({ Host: host(), 'Content-Type': 'application/json' }), 401, 'BOSUN_UNAUTHENTICATED'],
    ['a wrong token', () => ({ Host: host(), Authorization: 'Bearer guessed-guessed-guessed', 'Content-Type': 'application/json' }), 401, 'BOSUN_UNAUTHENTICATED'],
    ['the whole attack at once', () => ({ Host: 'evil.example', Origin: 'http://evil.example', 'Content-Type': 'text/plain' }), 403, 'BOSUN_FORBIDDEN_HOST'],
  ])('refuses %s', async (_what, headers, status, code) => {
    const before = await acceptedCount();
    expect(await send(headers(), attack())).toEqual({ status, body: { error: { code, message: expect.any(String) } } });
    expect(await acceptedCount()).toBe(before);
  });

  it('ran none of the refused commands, and runs one sent properly', async () => {
    const good = path.join(daemon.dataDir, 'good.txt');
    const message = JSON.stringify({ toNode: 'safe1', method: 'REQCliCommand', methodArgs: ['sh', '-c', `echo ok > ${good}`] });
    const answer = await send({ Host: 'bosun.internal', Authorization: auth(), 'Content-Type': 'application/json; charset=utf-8' }, message);
    expect(answer.status).toBe(200);
    expect(await waitForFile(good, 15_000)).toBe('ok\n');
    await expect(stat(marker)).rejects.toThrow(/ENOENT/);
  });

  it('keeps the token file 0600 in the data dir, and health checks need no token', async () => {
    expect((await stat(path.join(daemon.dataDir, 'input.token'))).mode & 0o777).toBe(0o600);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    const page = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { Origin: 'http://evil.example' } });
    expect(page.status).toBe(403);
  });
});
