import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { VirtualClock, type Clock } from '../src/clock.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { createTransport } from '../src/transport/index.ts';
import { listenWsGateway, type WsGatewayServer } from '../src/transport/listenWsGateway.ts';
import { RoutedTransport } from '../src/transport/RoutedTransport.ts';
import type { Transport, TransportStatus } from '../src/transport/types.ts';
import { WsGateway, type WsGatewayOptions } from '../src/transport/WsGateway.ts';
import { WsTransport, type WsTransportOptions } from '../src/transport/WsTransport.ts';
import type { HelloClaim } from '../src/transport/wsProtocol.ts';
import { loadOrCreateKeys, type NodeKeyPair } from '../src/security/keys.ts';
import { judgeHelloClaim, signHelloClaim } from '../src/security/wsHello.ts';
import { transportConformanceSuite } from './transport.conformance.ts';
import { sleep, until } from './helpers/until.ts';

const HOST = '127.0.0.1';
const RECONNECT = { minMs: 20, maxMs: 200 };
let fleetNumber = 0;

transportConformanceSuite('ws', async () => {
  const bus = new EmbeddedBus({ seed: 1 });
  const gateway = new WsGateway();
  const gatewayNode = new RoutedTransport(bus.transport(), gateway);
  await gatewayNode.start(`gw${++fleetNumber}`, () => {});
  let listening = await listenWsGateway(gateway, { host: HOST, port: 0 });
  const { port, url } = listening;
  return {
    createTransport: () => new WsTransport({ url, reconnect: RECONNECT }),
    disrupt: () => listening.close(),
    async restore() {
      listening = await listenWsGateway(gateway, { host: HOST, port });
    },
    async release() {
      await listening.close();
      await gatewayNode.close();
      await gateway.close();
    },
  };
});

/** A gateway node on an embedded bus, its gateway served on a port of its own. */
interface Fleet {
  bus: EmbeddedBus;
  gateway: WsGateway;
  gatewayNode: RoutedTransport;
  atGatewayNode: string[];
  server: WsGatewayServer;
  url: string;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fleet(options: WsGatewayOptions = {}): Promise<Fleet> {
  const bus = new EmbeddedBus({ seed: 2 });
  const gateway = new WsGateway(options);
  const gatewayNode = new RoutedTransport(bus.transport(), gateway);
  const atGatewayNode: string[] = [];
  await gatewayNode.start('gw', (subject, payload) => atGatewayNode.push(`${subject}=${text(payload)}`));
  const server = await listenWsGateway(gateway, { host: HOST, port: 0 });
  cleanups.push(() => gateway.close(), () => gatewayNode.close(), () => server.close());
  return { bus, gateway, gatewayNode, atGatewayNode, server, url: server.url };
}

interface Peer {
  t: WsTransport;
  got: string[];
  statuses: TransportStatus[];
}

async function peer(url: string, node: string, options: Partial<WsTransportOptions> = {}): Promise<Peer> {
  const t = new WsTransport({ url, reconnect: RECONNECT, ...options });
  cleanups.push(() => t.close());
  const got: string[] = [];
  const statuses: TransportStatus[] = [];
  t.onStatus((s) => statuses.push(s));
  await t.start(node, (subject, payload) => got.push(`${subject}=${text(payload)}`));
  return { t, got, statuses };
}

async function embeddedNode(bus: EmbeddedBus, node: string): Promise<{ t: Transport; got: string[] }> {
  const t = bus.transport();
  const got: string[] = [];
  await t.start(node, (subject, payload) => got.push(`${subject}=${text(payload)}`));
  cleanups.push(() => t.close());
  return { t, got };
}

/** A bare ws client speaking the protocol by hand, to misbehave. */
async function rawClient(url: string, options: WebSocket.ClientOptions = {}): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(url, options);
  cleanups.push(() => ws.terminate());
  ws.on('error', () => {});
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('close', () => reject(new Error('closed before open')));
  });
  return { ws, closed };
}

function hello(ws: WebSocket, node: string): Promise<void> {
  ws.send(JSON.stringify({ v: 1, type: 'hello', node, maxMessageBytes: 1024 * 1024 }));
  return new Promise((resolve) => ws.once('message', () => resolve()));
}

function wsFrame(subject: string, payload: Uint8Array): Buffer {
  const s = Buffer.from(subject);
  const header = Buffer.alloc(2);
  header.writeUInt16BE(s.length);
  return Buffer.concat([header, s, payload]);
}

const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
const text = (payload: Uint8Array): string => (payload.length > 64 ? `<${payload.length} bytes>` : new TextDecoder().decode(payload));

describe('ws gateway forwarding', () => {
  it('forwards between peers, to and from the gateway node, and to and from nodes on its base transport', async () => {
    const f = await fleet();
    const a = await peer(f.url, 'a');
    const b = await peer(f.url, 'b');
    const e = await embeddedNode(f.bus, 'e');
    await until(() => a.t.status === 'connected' && b.t.status === 'connected', 5000, 'both peers connected');
    expect(f.gateway.peers().sort()).toEqual(['a', 'b']);

    a.t.publish('b.m.k', bytes('a to b'));
    a.t.publish('gw.m.k', bytes('a to gw'));
    a.t.publish('e.m.k', bytes('a to e'));
    f.gatewayNode.publish('a.m.k', bytes('gw to a'));
    e.t.publish('b.m.k', bytes('e to b'));
    await until(() => b.got.length === 2 && a.got.length === 1 && e.got.length === 1 && f.atGatewayNode.length === 1, 5000, 'every frame');

    expect(b.got.sort()).toEqual(['b.m.k=a to b', 'b.m.k=e to b']);
    expect(a.got).toEqual(['a.m.k=gw to a']);
    expect(e.got).toEqual(['e.m.k=a to e']);
    expect(f.atGatewayNode).toEqual(['gw.m.k=a to gw']);
    expect(f.gateway.stats).toMatchObject({ peers: 2, fromPeers: 3, toBase: 1, toGatewayNode: 1, dropped: 0 });
  });

  it('stops routing a node’s subjects to the gateway once that peer leaves', async () => {
    const f = await fleet();
    const a = await peer(f.url, 'a');
    const e = await embeddedNode(f.bus, 'e');
    await until(() => a.t.status === 'connected', 5000, 'connected');
    await a.t.close();
    await until(() => f.gateway.peers().length === 0, 5000, 'the peer gone');
    const before = f.bus.stats.unroutable;
    e.t.publish('a.m.k', bytes('too late'));
    await until(() => f.bus.stats.unroutable === before + 1, 5000, 'the frame unroutable on the bus');
  });

  it('runs as createTransport kind ws', async () => {
    const f = await fleet();
    const t = createTransport({ kind: 'ws', url: f.url, reconnect: RECONNECT });
    cleanups.push(() => t.close());
    expect(t).toBeInstanceOf(WsTransport);
    await t.start('made', () => {});
    await until(() => t.status === 'connected', 5000, 'connected');
  });

  it('refuses upgrades until a gateway node uses the gateway, and on other paths', async () => {
    const gateway = new WsGateway();
    const server = await listenWsGateway(gateway, { host: HOST, port: 0 });
    cleanups.push(() => gateway.close(), () => server.close());
    const early = await peer(server.url, 'early', { reconnect: { minMs: 20, maxMs: 40 } });
    await until(() => String(early.t.lastError).includes('503'), 5000, 'a 503 refusal');
    expect(early.t.status).toBe('connecting');

    const gatewayNode = new RoutedTransport(new EmbeddedBus().transport(), gateway);
    cleanups.push(() => gatewayNode.close());
    await gatewayNode.start('gw', () => {});
    await until(() => early.t.status === 'connected', 5000, 'connected once the gateway node runs');

    const elsewhere = await peer(`ws://${HOST}:${server.port}/other`, 'lost');
    await until(() => String(elsewhere.t.lastError).includes('404'), 5000, 'a 404 refusal');
  });

  it('rejects a malformed gateway URL at start', async () => {
    for (const url of ['http://127.0.0.1:1/bosun', 'not a url']) {
      await expect(new WsTransport({ url }).start('n', () => {})).rejects.toMatchObject({ code: 'BOSUN_BAD_CONFIG' });
    }
    expect(() => new WsTransport({ url: 'ws://127.0.0.1:1/bosun', reconnect: { minMs: 0, maxMs: 10 } })).toThrow(
      expect.objectContaining({ code: 'BOSUN_BAD_CONFIG' }),
    );
  });
});

describe('ws reconnection', () => {
  /**
   * A gateway node whose gateway serves a server that can switch to refusing every upgrade
   * with 503, noting when each attempt came, without giving up its port.
   */
  async function switchableFleet() {
    const f = await fleet();
    const server = createServer();
    const sockets = new Set<import('node:net').Socket>();
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    let detach = f.gateway.attach(server);
    const attempts: number[] = [];
    const refuse = (_req: unknown, socket: import('node:stream').Duplex) => {
      attempts.push(Date.now());
      socket.on('error', () => {});
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    };
    await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
    cleanups.push(() => closeServer(server));
    const port = (server.address() as { port: number }).port;
    return {
      ...f,
      url: `ws://${HOST}:${port}/bosun`,
      attempts,
      goDown() {
        detach();
        server.on('upgrade', refuse);
        for (const socket of sockets) socket.destroy();
      },
      comeBack() {
        server.off('upgrade', refuse);
        detach = f.gateway.attach(server);
      },
    };
  }

  async function closeServer(server: Server): Promise<void> {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  it('redials with exponential backoff while the gateway is down, capped, resets it after a stable link', async () => {
    const f = await switchableFleet();
    // pauses are timers of the transport's clock; no jitter makes each exactly minMs · 2ⁿ, capped at maxMs
    const virtual = new VirtualClock();
    const pauses: number[] = [];
    const STABLE_MS = 5000;
    const PING_MS = 3_600_000;
    const clock: Clock = {
      now: () => virtual.now(),
      setTimer(ms, fn) {
        if (ms !== STABLE_MS && ms !== PING_MS) pauses.push(ms);
        return virtual.setTimer(ms, fn);
      },
    };
    const a = await peer(f.url, 'a', { reconnect: { minMs: 25, maxMs: 200, stableMs: STABLE_MS }, pingIntervalMs: PING_MS, random: () => 0, clock });
    await until(() => a.t.status === 'connected', 5000, 'connected');

    /** Ends the pause armed last; the transport dials, is refused, and arms the next pause. */
    async function refusedOnce(): Promise<void> {
      const attempts = f.attempts.length;
      const armed = pauses.length;
      await virtual.advance(pauses.at(-1)!);
      await until(() => f.attempts.length === attempts + 1 && pauses.length === armed + 1, 5000, 'a refused attempt and the next pause');
    }

    f.goDown();
    await until(() => pauses.length === 1, 5000, 'the first pause');
    for (let i = 0; i < 5; i++) await refusedOnce();
    expect(pauses).toEqual([25, 50, 100, 200, 200, 200]);
    expect(a.t.status).toBe('disconnected');
    expect(String(a.t.lastError)).toMatch(/503/);

    // back for a moment only: the link was not stable, so the backoff goes on where it was
    f.comeBack();
    await virtual.advance(200);
    await until(() => a.t.status === 'connected', 5000, 'reconnected');
    f.goDown();
    await until(() => pauses.length === 7, 5000, 'the pause after a short link');
    expect(pauses[6]).toBe(200);

    // a link that lasts stableMs resets it
    f.comeBack();
    await virtual.advance(200);
    await until(() => a.statuses.filter((s) => s === 'connected').length === 3, 5000, 'reconnected again');
    await virtual.advance(STABLE_MS);
    f.goDown();
    await until(() => pauses.length === 8, 5000, 'the pause after a stable link');
    expect(pauses[7]).toBe(25);
    expect(a.statuses).toEqual(['connected', 'disconnected', 'connected', 'disconnected', 'connected', 'disconnected']);

    f.comeBack();
    await virtual.advance(25);
    await until(() => a.t.status === 'connected', 5000, 'connected at last');
    a.t.publish('a.m.k', bytes('after'));
    await until(() => a.got.length === 1, 5000, 'its own frame back through the gateway');
  });

  it('spreads redials with jitter, within [b, 2b] of the exponential pause', async () => {
    const { Backoff } = await import('../src/transport/Backoff.ts');
    const draws = [0, 0.5, 0.999, 0.25, 0.75, 1];
    let i = 0;
    const backoff = new Backoff({ minMs: 100, maxMs: 1000 }, () => draws[i++]!);
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next()]).toEqual([
      100, 300, 799.6, 1000, 1000, 1000,
    ]);
    backoff.reset();
    expect(backoff.attempt).toBe(0);
  });

  it('drops a link whose gateway stops answering pings, and dials again', async () => {
    // a gateway that welcomes every hello and never answers a ping
    const wss = new WebSocketServer({ host: HOST, port: 0, autoPong: false });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    let connections = 0;
    wss.on('connection', (ws) => {
      connections++;
      ws.once('message', () => ws.send(JSON.stringify({ v: 1, type: 'welcome', gateway: 'mute', maxMessageBytes: 1024 })));
    });
    const port = (wss.address() as { port: number }).port;
    const a = await peer(`ws://${HOST}:${port}/`, 'a', { pingIntervalMs: 30 });
    await until(() => connections >= 2 && a.statuses.includes('disconnected'), 5000, 'a second connection after the dead link');
    expect(String(a.t.lastError)).toMatch(/ping/);
    for (const ws of wss.clients) ws.terminate();
  });

  it('cuts a peer that stops answering pings', async () => {
    const clock = new VirtualClock();
    const f = await fleet({ pingIntervalMs: 30, clock });
    const { ws, closed } = await rawClient(f.url, { autoPong: false });
    await hello(ws, 'mute');
    await clock.advance(30);
    expect(f.gateway.peers()).toEqual(['mute']);
    await clock.advance(30);
    expect(f.gateway.peers()).toEqual([]);
    expect(await closed).toBe(1006);
  });
});

describe('ws gateway peers', () => {
  it('replaces the older socket when a second connection says hello with the same node name', async () => {
    const f = await fleet();
    const e = await embeddedNode(f.bus, 'e');
    // the first does not redial during the test
    const first = await peer(f.url, 'dup', { reconnect: { minMs: 10_000, maxMs: 10_000 } });
    await until(() => first.t.status === 'connected', 5000, 'the first connected');
    const second = await peer(f.url, 'dup');
    await until(() => second.t.status === 'connected' && first.t.status === 'disconnected', 5000, 'the second in, the first out');
    expect((first.t.lastError as { code?: string }).code).toBe('BOSUN_GATEWAY_DUPLICATE');
    expect(f.gateway.peers()).toEqual(['dup']);
    expect(f.gateway.stats.replaced).toBe(1);

    e.t.publish('dup.m.k', bytes('from the bus'));
    f.gatewayNode.publish('dup.m.k', bytes('from gw'));
    await until(() => second.got.length === 2, 5000, 'both frames at the second');
    await sleep(20);
    expect(first.got).toEqual([]);
    expect(second.got.sort()).toEqual(['dup.m.k=from gw', 'dup.m.k=from the bus']);
  });

  it('closes a peer that sends an oversize message, and only that peer', async () => {
    const f = await fleet();
    const a = await peer(f.url, 'a');
    const b = await peer(f.url, 'b');
    await until(() => a.t.status === 'connected' && b.t.status === 'connected', 5000, 'connected');
    const { ws, closed } = await rawClient(f.url);
    await hello(ws, 'big');
    ws.send(wsFrame('b.m.k', new Uint8Array(1024 * 1024)));
    expect(await closed).toBe(1009);
    await until(() => !f.gateway.peers().includes('big'), 5000, 'the big peer gone');

    a.t.publish('b.m.k', bytes('still here'));
    await until(() => b.got.length === 1, 5000, 'a frame between the others');
    expect(b.got).toEqual(['b.m.k=still here']);
    expect(a.statuses).toEqual(['connected']);
    expect(f.gateway.stats.refused).toBe(1);
  });

  it('carries a frame of exactly the size limit; a peer drops a bigger one itself and keeps its link', async () => {
    const f = await fleet();
    const a = await peer(f.url, 'a');
    const b = await peer(f.url, 'b');
    await until(() => a.t.status === 'connected' && b.t.status === 'connected', 5000, 'connected');
    const subject = 'b.m.k';
    const largest = 1024 * 1024 - 2 - subject.length;
    a.t.publish(subject, new Uint8Array(largest + 1));
    expect((a.t.lastError as { code?: string }).code).toBe('BOSUN_TOO_LARGE');
    a.t.publish(subject, new Uint8Array(largest));
    await until(() => b.got.length === 1, 5000, 'the largest frame');
    expect(b.got).toEqual([`b.m.k=<${largest} bytes>`]);
    expect(a.statuses).toEqual(['connected']);
  });

  it('closes a socket that sends a frame before its hello, or says no hello in time', async () => {
    const f = await fleet({ helloTimeoutMs: 50 });
    const rude = await rawClient(f.url);
    rude.ws.send(wsFrame('gw.m.k', bytes('x')));
    expect(await rude.closed).toBe(4000);
    const silent = await rawClient(f.url);
    expect(await silent.closed).toBe(4000);
    const impostor = await rawClient(f.url);
    impostor.ws.send(JSON.stringify({ v: 1, type: 'hello', node: 'gw', maxMessageBytes: 1 }));
    expect(await impostor.closed).toBe(4000);
    expect(f.atGatewayNode).toEqual([]);
    expect(f.gateway.stats.refused).toBe(3);
  });

  it('asks authorize whether a socket may act as the node it names', async () => {
    const f = await fleet({ authorize: (node, request) => request.headers['x-bosun-key'] === `key-of-${node}` });
    const good = await peer(f.url, 'ship1', { headers: { 'x-bosun-key': 'key-of-ship1' } });
    const bad = await peer(f.url, 'ship2', { headers: { 'x-bosun-key': 'key-of-ship1' } });
    await until(() => good.t.status === 'connected', 5000, 'the node with its key connected');
    await until(() => (bad.t.lastError as { code?: string } | undefined)?.code === 'BOSUN_GATEWAY_FORBIDDEN', 5000, 'the other refused');
    expect(bad.t.status).toBe('connecting');
    expect(f.gateway.peers()).toEqual(['ship1']);
  });

  it('closes its peers when the gateway node stops, and takes them back when a new one starts', async () => {
    const f = await fleet();
    const a = await peer(f.url, 'a');
    await until(() => a.t.status === 'connected', 5000, 'connected');
    await f.gatewayNode.close();
    await until(() => a.t.status === 'disconnected', 5000, 'disconnected');
    expect(f.gateway.bound).toBe(false);
    const atNew: string[] = [];
    const again = new RoutedTransport(f.bus.transport(), f.gateway);
    cleanups.push(() => again.close());
    await again.start('gw', (subject) => atNew.push(subject));
    await until(() => a.t.status === 'connected', 5000, 'reconnected');
    a.t.publish('gw.m.k', bytes('hi'));
    await until(() => atNew.length === 1, 5000, 'the frame at the new gateway node');
  });
});

describe('ws gateway that checks names', () => {
  /** Real key pairs, made once in a temporary folder. */
  async function keyPair(name: string): Promise<NodeKeyPair> {
    const dir = await mkdtemp(path.join(os.tmpdir(), `bosun-wskeys-${name}-`));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return loadOrCreateKeys(dir);
  }

  /** A gateway that holds the keys in `known`, and what it reported of refused hellos. */
  async function checkingFleet(known: Map<string, string>, options: WsGatewayOptions = {}): Promise<Fleet & { refusals: string[] }> {
    const refusals: string[] = [];
    const f = await fleet({
      authenticate: (claim, signature) => judgeHelloClaim({ keyFor: (node) => known.get(node) }, claim, signature),
      onRefused: (code, message) => refusals.push(`${code} ${message}`),
      ...options,
    });
    return { ...f, refusals };
  }

  /**
   * A version-2 hello as `node` on a raw socket; a challenge is answered with `prove(claim)`.
   * Resolves with the claim signed and the signature, or the close code and reason.
   */
  async function proveAs(url: string, node: string, prove: (claim: HelloClaim) => string | undefined): Promise<{ welcomed: boolean; code?: number; reason?: string; signature?: string }> {
    const { ws } = await rawClient(url);
    let signature: string | undefined;
    return new Promise((resolve) => {
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as { type: string; challenge: string; gateway: string };
        if (m.type === 'challenge') {
          signature = prove({ challenge: m.challenge, node, gateway: m.gateway });
          ws.send(JSON.stringify({ v: 2, type: 'proof', ...(signature !== undefined ? { signature } : {}) }));
        } else if (m.type === 'welcome') {
          resolve({ welcomed: true, ...(signature !== undefined ? { signature } : {}) });
        }
      });
      ws.once('close', (code, reason) => resolve({ welcomed: false, code, reason: reason.toString('utf8') }));
      ws.send(JSON.stringify({ v: 2, type: 'hello', node, maxMessageBytes: 1024 * 1024 }));
    });
  }

  it('welcomes a peer that signs the challenge with its key; one naming it with another key, or none, is refused and reported, and the peer keeps its link', async () => {
    const [aKeys, stranger] = await Promise.all([keyPair('a'), keyPair('stranger')]);
    const f = await checkingFleet(new Map([['a', aKeys.publicKey]]));
    const a = await peer(f.url, 'a', { signHello: (claim) => signHelloClaim(aKeys, claim) });
    const b = await peer(f.url, 'b');
    await until(() => a.t.status === 'connected' && b.t.status === 'connected', 5000, 'both connected');

    const forged = await proveAs(f.url, 'a', (claim) => signHelloClaim(stranger, claim));
    expect(forged).toEqual({ welcomed: false, code: 4003, reason: `a's hello is not signed by its key ${aKeys.fingerprint}` });
    const unsigned = await proveAs(f.url, 'a', () => undefined);
    expect(unsigned).toMatchObject({ welcomed: false, code: 4003, reason: expect.stringMatching(/^a's hello is not signed, and its key is known here/) });
    const oldPeer = await rawClient(f.url);
    oldPeer.ws.send(JSON.stringify({ v: 1, type: 'hello', node: 'a', maxMessageBytes: 1024 }));
    expect(await oldPeer.closed).toBe(4003);

    b.t.publish('a.m.k', bytes('to the real a'));
    await until(() => a.got.length === 1, 5000, 'the frame at the real a');
    expect(a.got).toEqual(['a.m.k=to the real a']);
    expect(a.statuses).toEqual(['connected']);
    expect(f.gateway.stats).toMatchObject({ peers: 2, replaced: 0, refused: 3 });
    expect(f.refusals).toHaveLength(1);
    expect(f.refusals[0]).toMatch(new RegExp(`^BOSUN_BAD_SIGNATURE refused a ws peer saying hello as a from 127\\.0\\.0\\.1:\\d+: a's hello is not signed by its key ${aKeys.fingerprint.replace(/[+/]/g, '\\$&')}$`));
  });

  it('refuses a proof replayed from an earlier handshake', async () => {
    const aKeys = await keyPair('a');
    const f = await checkingFleet(new Map([['a', aKeys.publicKey]]));
    const genuine = await proveAs(f.url, 'a', (claim) => signHelloClaim(aKeys, claim));
    expect(genuine).toMatchObject({ welcomed: true });
    const replayed = await proveAs(f.url, 'a', () => genuine.signature);
    expect(replayed).toMatchObject({ welcomed: false, code: 4003 });
    // the genuine connection stays the node's
    expect(f.gateway.peers()).toEqual(['a']);
    expect(f.gateway.stats.replaced).toBe(0);
  });

  it('takes a node whose key it does not hold on its word, as before, but never in place of one that proved its name', async () => {
    const aKeys = await keyPair('a');
    const known = new Map([['a', aKeys.publicKey]]);
    const f = await checkingFleet(known);
    // a new node, before central allowed its key: welcomed, and replaced by a newer hello as before
    const first = await proveAs(f.url, 'newcomer', () => undefined);
    const second = await proveAs(f.url, 'newcomer', () => undefined);
    expect([first.welcomed, second.welcomed]).toEqual([true, true]);
    await until(() => f.gateway.stats.replaced === 1, 5000, 'the older newcomer replaced');

    const a = await peer(f.url, 'a', { signHello: (claim) => signHelloClaim(aKeys, claim) });
    await until(() => a.t.status === 'connected', 5000, 'a connected with its proof');
    // a's key is revoked: a hello that proves nothing is no reason to drop the proven link
    known.delete('a');
    const unproven = await proveAs(f.url, 'a', () => undefined);
    expect(unproven).toEqual({ welcomed: false, code: 4003, reason: "a is connected with a proven key; a hello that proves no key cannot replace it" });
    expect(a.statuses).toEqual(['connected']);
    expect(f.refusals).toEqual([expect.stringMatching(/^BOSUN_GATEWAY_FORBIDDEN refused a ws peer saying hello as a from .*: a is connected with a proven key/)]);
  });

  it('reports refused hellos at most once a second per node name, then says how many it held back', async () => {
    const aKeys = await keyPair('a');
    const clock = new VirtualClock();
    const f = await checkingFleet(new Map([['a', aKeys.publicKey]]), { clock });
    for (let i = 0; i < 3; i++) expect(await proveAs(f.url, 'a', () => undefined)).toMatchObject({ code: 4003 });
    expect(f.refusals).toHaveLength(1);
    await clock.advance(1000);
    expect(await proveAs(f.url, 'a', () => undefined)).toMatchObject({ code: 4003 });
    expect(f.refusals).toHaveLength(2);
    expect(f.refusals[1]).toMatch(/ \(2 more refused since the last report\)$/);
  });
});
