import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../src/message.ts';
import { DEFAULT_MAX_BODY_BYTES } from '../src/methods/httpGet.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { until } from './helpers/until.ts';
import { replyCollector } from './helpers/recorder.ts';

let server: http.Server;
let base: string;
/** Bytes of the oversized body the server managed to write before the client hung up. */
let oversizedWritten = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    switch (url.pathname) {
      case '/hello':
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('hello from the server: blåbær\n');
        return;
      case '/redirect':
        res.writeHead(302, { location: '/hello' }).end();
        return;
      case '/whoami':
        res.writeHead(200).end(req.headers.authorization ?? 'nobody');
        return;
      case '/missing':
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no such page here');
        return;
      case '/chunked-oversized': {
        // No content-length: the cap has to stop reading mid-stream.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        oversizedWritten = 0;
        const block = Buffer.alloc(64 * 1024, 'x');
        const more = (): void => {
          while (oversizedWritten < 64 * 1024 * 1024) {
            oversizedWritten += block.length;
            if (!res.write(block)) return void res.once('drain', more);
          }
          res.end();
        };
        res.on('close', () => res.removeAllListeners('drain'));
        more();
        return;
      }
      case '/declared-oversized':
        res.writeHead(200, { 'content-length': String(DEFAULT_MAX_BODY_BYTES + 1) });
        res.write('x');
        return;
      case '/hang':
        // Never answers; the client has to give up.
        return;
      default:
        res.writeHead(500).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const nodes: BosunNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
});


/** Sends one REQHttpGet from central to ship1 and gives back its one reply. */
async function get(args: string[], methodTimeout = 10): Promise<Message> {
  const bus = new EmbeddedBus();
  const { method: collect, replies } = replyCollector();
  const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: [collect] });
  const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0 });
  nodes.push(central, ship1);
  await central.send({ toNode: 'ship1', method: 'REQHttpGet', methodArgs: args, methodTimeout, replyMethod: 'REQTestCollect' });
  await until(() => replies.length >= 1, (methodTimeout + 5) * 1000);
  return replies[0]!;
}

const isError = (m: Message): boolean => m.fileName?.endsWith('.error') === true;

describe('REQHttpGet', () => {
  it('replies with the body of a 200', async () => {
    const reply = await get([`${base}/hello`]);
    expect(isError(reply)).toBe(false);
    expect(reply.data).toBe('hello from the server: blåbær\n');
    expect(reply.fileName).toBe('REQHttpGet.result');
  });

  it('follows a redirect', async () => {
    const reply = await get([`${base}/redirect`]);
    expect(reply.data).toBe('hello from the server: blåbær\n');
  });

  it('answers a 404 with an error that quotes the status and the start of the body', async () => {
    const reply = await get([`${base}/missing`]);
    expect(isError(reply)).toBe(true);
    expect(reply.data).toBe(`error BOSUN_METHOD_FAILED: GET ${base}/missing answered 404 Not Found: no such page here`);
  });

  it('stops reading a body that grows past the size cap and says so', async () => {
    const reply = await get([`${base}/chunked-oversized`]);
    expect(isError(reply)).toBe(true);
    expect(reply.data).toBe(
      `error BOSUN_TOO_LARGE: GET ${base}/chunked-oversized: the body is larger than the ${DEFAULT_MAX_BODY_BYTES} byte limit; it was not read further`,
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(oversizedWritten).toBeLessThan(32 * 1024 * 1024);
  });

  it('refuses a body whose declared length is past the cap without reading it', async () => {
    const reply = await get([`${base}/declared-oversized`]);
    expect(reply.data).toMatch(/^error BOSUN_TOO_LARGE: /);
  });

  it('gives up at methodTimeout', async () => {
    const started = Date.now();
    const reply = await get([`${base}/hang`], 1);
    expect(isError(reply)).toBe(true);
    expect(reply.data).toBe(`error BOSUN_METHOD_TIMEOUT: GET ${base}/hang did not finish within methodTimeout 1s`);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('reports a refused connection', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const reply = await get([`http://127.0.0.1:${port}/`]);
    expect(reply.data).toMatch(new RegExp(`^error BOSUN_METHOD_FAILED: GET http://127\\.0\\.0\\.1:${port}/ failed: .*ECONNREFUSED`));
  });

  it.each([
    [[], 'error BOSUN_BAD_MESSAGE: REQHttpGet needs the URL in methodArgs[0]'],
    [['not a url'], 'error BOSUN_BAD_MESSAGE: methodArgs[0] (the URL) is not a valid URL: "not a url"'],
    [['file:///etc/passwd'], 'error BOSUN_BAD_MESSAGE: methodArgs[0] (the URL) must be http or https, not file'],
  ])('refuses methodArgs %j', async (args, expected) => {
    const reply = await get(args);
    expect(reply.data).toBe(expected);
  });

  it('sends a user and password in the URL as basic authentication', async () => {
    const reply = await get([`http://us%20er:p%40ss@127.0.0.1:${new URL(base).port}/whoami`]);
    expect(reply.data).toBe(`Basic ${Buffer.from('us er:p@ss').toString('base64')}`);
  });

  it('keeps a password in the URL out of its messages', async () => {
    const reply = await get([`http://user:secret@127.0.0.1:${new URL(base).port}/missing`]);
    expect(reply.data).not.toContain('secret');
    expect(reply.data).toContain(`GET ${base}/missing answered 404`);
  });
});
