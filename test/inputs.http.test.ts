import { request } from 'node:http';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, removeTempDirs, waitFor, waitForFile } from './helpers/daemon.ts';

/** `--http-listen`: POST /api/v1/messages, /healthz, /readyz, on a real daemon. */
let shared: Daemon;
let base: string;
let extra: Daemon[] = [];

beforeAll(async () => {
  shared = await Daemon.start({ node: 'web1', args: ['--http-listen', '127.0.0.1:0'] });
  base = `http://${String(shared.started.http)}`;
});
afterEach(async () => {
  await Promise.all(extra.map((d) => d.kill()));
  extra = [];
});
afterAll(async () => {
  await shared.kill();
  removeTempDirs();
});

async function post(body: string | Uint8Array, url = `${base}/api/v1/messages`, daemon = shared): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', body, headers: daemon.httpHeaders });
  expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function acceptedCount(daemon: Daemon): Promise<number> {
  return ((await daemon.debug('stats')) as { counters: { accepted: number } }).counters.accepted;
}

describe('POST /api/v1/messages', () => {
  it('accepts one message object: 200 with one result, and runs it', async () => {
    const message = { toNode: 'web1', method: 'REQCliCommand', methodArgs: ['echo', 'over http'], fileName: 'http.out', id: 'http-1' };
    expect(await post(JSON.stringify(message))).toEqual({ status: 200, body: { results: [{ id: 'http-1', toNode: 'web1', status: 'accepted' }] } });
    const result = path.join(shared.dataDir, 'files', 'REQCliCommand', 'web1', 'http.out');
    expect(await waitForFile(result, 15_000)).toBe('over http\n');
  });

  it('answers an array with one result per message, in order; a bad message costs only itself', async () => {
    const body = JSON.stringify([
      { toNode: 'web1', method: 'REQNone', id: 'a' },
      { toNode: 'web1' },
      { toNode: 'web1', method: 'REQNone', id: 'c' },
      { toNodes: ['x1', 'x2'], method: 'REQNone' },
    ]);
    const { status, body: answer } = await post(body);
    expect(status).toBe(200);
    expect(answer.results).toEqual([
      { id: 'a', toNode: 'web1', status: 'accepted' },
      { error: { code: 'BOSUN_MISSING_FIELD', message: 'field "method" is required' } },
      { id: 'c', toNode: 'web1', status: 'accepted' },
      { id: expect.any(String), toNode: 'x1', status: 'accepted' },
      { id: expect.any(String), toNode: 'x2', status: 'accepted' },
    ]);
  });

  it('refuses a message over 1 MiB in its place, and takes the others', async () => {
    const big = { toNode: 'web1', method: 'REQNone', id: 'big', data: 'x'.repeat(1024 * 1024) };
    const { status, body } = await post(JSON.stringify([{ toNode: 'web1', method: 'REQNone', id: 'small' }, big]));
    expect(status).toBe(200);
    expect(body.results).toEqual([
      { id: 'small', toNode: 'web1', status: 'accepted' },
      { error: { code: 'BOSUN_MESSAGE_TOO_LARGE', message: expect.stringMatching(/^message 2 of 2 \(id "big"\) is .* a message may be at most 1 MiB$/) } },
    ]);
  });

  it.each([
    ['not JSON', 'hello', 'BOSUN_BAD_JSON'],
    ['JSON cut short', '[{"toNode":"web1","method":"REQNone"}, {"toNode":', 'BOSUN_BAD_JSON'],
    ['not UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), 'BOSUN_BAD_ENCODING'],
    ['a bare number', '42', 'BOSUN_BAD_JSON'],
  ])('answers a body that is %s with an error result in its place, nothing accepted', async (_what, body, code) => {
    const before = await acceptedCount(shared);
    const { status, body: answer } = await post(body);
    expect(status).toBe(200);
    expect(answer).toEqual({ results: [{ error: { code, message: expect.any(String) } }] });
    expect(await acceptedCount(shared)).toBe(before);
  });

  it('refuses an empty body: 400', async () => {
    expect(await post('')).toEqual({ status: 400, body: { error: { code: 'BOSUN_BAD_JSON', message: expect.stringMatching(/the body is empty/) } } });
  });

  it('reads a body as the socket reads a stream: two values, two answers', async () => {
    const { status, body } = await post('{"toNode":"web1","method":"REQNone","id":"v1"} {"toNode":"web1","method":"REQNone","id":"v2"}');
    expect(status).toBe(200);
    expect(body.results).toEqual([
      { id: 'v1', toNode: 'web1', status: 'accepted' },
      { id: 'v2', toNode: 'web1', status: 'accepted' },
    ]);
  });

  it('a 10 MB junk line costs itself only: the message after it is accepted', async () => {
    const junk = 'j'.repeat(10 * 1024 * 1024);
    const { status, body } = await post(`${junk}\n{"toNode":"web1","method":"REQNone","id":"after-junk"}\n`);
    expect(status).toBe(200);
    expect(body.results).toEqual([
      { error: { code: 'BOSUN_BAD_JSON', message: expect.stringMatching(/^malformed JSON at line 1, column 1/) } },
      { id: 'after-junk', toNode: 'web1', status: 'accepted' },
    ]);
  });

  it('refuses a body over 64 MiB with 413, whether its length is declared or not', async () => {
    const declared = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${base}/api/v1/messages`, { method: 'POST', headers: { ...shared.httpHeaders, 'Content-Length': String(65 * 1024 * 1024) } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (t: string) => (text += t));
        res.on('end', () => {
          resolve({ status: res.statusCode!, body: text });
          req.destroy();
        });
      });
      req.on('error', reject);
      req.write('[');
    });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toEqual({ error: { code: 'BOSUN_MESSAGE_TOO_LARGE', message: expect.stringMatching(/over 64 MiB/) } });

    // Streamed without a length: 65 one-MiB chunks of a message array that never closes.
    const chunk = Buffer.from(`{"toNode":"web1","method":"REQNone","data":"${'y'.repeat(1024 * 1024 - 60)}"},`);
    async function* body() {
      yield Buffer.from('[');
      for (let i = 0; i < 65; i++) yield chunk;
    }
    const res = await fetch(`${base}/api/v1/messages`, { method: 'POST', headers: shared.httpHeaders, body: ReadableStream.from(body()), duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('BOSUN_MESSAGE_TOO_LARGE');
  });
});

describe('health and other paths', () => {
  it('says /healthz and /readyz are fine while running', async () => {
    for (const endpoint of ['/healthz', '/readyz']) {
      const res = await fetch(base + endpoint);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'running' });
    }
  });

  it('answers 404 as JSON for an unknown path, 405 for a known one with the wrong method', async () => {
    const missing = await fetch(`${base}/api/v2/messages`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: 'BOSUN_NOT_FOUND', message: 'no such endpoint: GET /api/v2/messages' } });
    const wrong = await fetch(`${base}/api/v1/messages`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('BOSUN_METHOD_NOT_ALLOWED');
    const postHealth = await fetch(`${base}/healthz`, { method: 'POST', body: '{}' });
    expect(postHealth.status).toBe(405);
  });

  it('says /readyz 503 while draining, /healthz still 200, and refuses new messages with 503', async () => {
    const daemon = await Daemon.start({ node: 'web2', args: ['--http-listen', '127.0.0.1:0'] });
    extra.push(daemon);
    const url = `http://${String(daemon.started.http)}`;
    const marker = path.join(daemon.dataDir, 'running');
    const sleeper = { toNode: 'web2', method: 'REQCliCommand', methodArgs: ['sh', '-c', `touch ${marker}; sleep 3`], methodTimeout: -1 };
    expect((await post(JSON.stringify(sleeper), `${url}/api/v1/messages`, daemon)).status).toBe(200);
    await waitFor(() => stat(marker).then(() => true, () => false), 10_000, 'the command to run');

    process.kill(daemon.pid, 'SIGTERM');
    await daemon.waitForLog((l) => l.msg === 'stopping');
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'draining' });
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'draining' });
    const refused = await post(JSON.stringify({ toNode: 'web2', method: 'REQNone' }), `${url}/api/v1/messages`, daemon);
    expect(refused).toEqual({ status: 503, body: { error: { code: 'BOSUN_NODE_STOPPING', message: expect.any(String) } } });

    expect(await daemon.exited).toEqual({ code: 0, signal: null });
  });

  it('is off unless configured', async () => {
    expect(shared.started.http).toMatch(/^127\.0\.0\.1:\d+$/);
    const daemon = await Daemon.start({ node: 'web3' });
    extra.push(daemon);
    expect(daemon.started.http).toBeUndefined();
  });
});
