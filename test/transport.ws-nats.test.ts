import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listenWsGateway } from '../src/transport/listenWsGateway.ts';
import { NatsTransport } from '../src/transport/NatsTransport.ts';
import { RoutedTransport } from '../src/transport/RoutedTransport.ts';
import type { Transport } from '../src/transport/types.ts';
import { WsGateway } from '../src/transport/WsGateway.ts';
import { WsTransport } from '../src/transport/WsTransport.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';
import { sleep, until } from './helpers/until.ts';

const HOST = '127.0.0.1';
const RECONNECT_MS = 100;
let server: NatsServer;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  await server.stop();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  if (!server.running) await server.restart();
});

interface Node {
  t: Transport;
  got: string[];
}

async function start(t: Transport, name: string): Promise<Node> {
  const got: string[] = [];
  cleanups.push(() => t.close());
  await t.start(name, (subject, payload) => got.push(`${subject}=${new TextDecoder().decode(payload)}`));
  return { t, got };
}

const nats = () => new NatsTransport({ servers: server.url, reconnectTimeWaitMs: RECONNECT_MS });
const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);

/** A gateway node on NATS, one ws peer behind it, and one plain NATS node. */
async function fleet(prefix: string) {
  const gateway = new WsGateway();
  cleanups.push(() => gateway.close());
  const base = nats();
  /** Subjects the gateway node's NATS connection received. */
  const seenOnNats: string[] = [];
  const watched: Transport = {
    kind: base.kind,
    get status() {
      return base.status;
    },
    start: (node, onFrame) =>
      base.start(node, (subject, payload) => {
        seenOnNats.push(subject);
        onFrame(subject, payload);
      }),
    publish: (subject, payload) => base.publish(subject, payload),
    onStatus: (listener) => base.onStatus(listener),
    close: () => base.close(),
    route: (node) => base.route(node),
  };
  const gw = await start(new RoutedTransport(watched, gateway), `${prefix}-gw`);
  const listening = await listenWsGateway(gateway, { host: HOST, port: 0 });
  cleanups.push(() => listening.close());
  const peer = await start(new WsTransport({ url: listening.url, reconnect: { minMs: 20, maxMs: 200 } }), `${prefix}-peer`);
  const natsNode = await start(nats(), `${prefix}-nats`);
  await until(() => [gw, peer, natsNode].every((n) => n.t.status === 'connected'), 5000, 'all connected');
  return { gateway, gw, peer, natsNode, seenOnNats };
}

/**
 * Publishes until the first frame arrives: the gateway subscribes for a peer when it says
 * hello, and frames another NATS client publishes before the server has that subscription
 * are lost (at most once).
 */
async function reachable(from: Node, to: Node, subject: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (to.got.length === 0) {
    if (Date.now() > deadline) throw new Error(`${subject} never arrived`);
    from.t.publish(subject, bytes('probe'));
    await sleep(20);
  }
  await sleep(50);
  to.got.length = 0;
}

describe('ws peers and NATS nodes through a gateway node on a real nats-server', () => {
  it('carries frames both ways, in order, between a ws peer and a NATS node', async () => {
    const { peer, natsNode } = await fleet('both');
    await reachable(natsNode, peer, 'both-peer.probe.k');
    const count = 1000;
    for (let i = 0; i < count; i++) {
      natsNode.t.publish('both-peer.m.k', bytes(String(i)));
      peer.t.publish('both-nats.m.k', bytes(String(i)));
    }
    await until(() => peer.got.length === count && natsNode.got.length === count, 5000, 'every frame both ways');
    const expected = (node: string) => Array.from({ length: count }, (_, i) => `${node}.m.k=${i}`);
    expect(peer.got).toEqual(expected('both-peer'));
    expect(natsNode.got).toEqual(expected('both-nats'));
  });

  it('carries frames between a ws peer and the gateway node itself', async () => {
    const { gw, peer } = await fleet('own');
    peer.t.publish('own-gw.m.k', bytes('to gw'));
    gw.t.publish('own-peer.m.k', bytes('to peer'));
    await until(() => gw.got.length === 1 && peer.got.length === 1, 5000, 'a frame each way');
    expect(gw.got).toEqual(['own-gw.m.k=to gw']);
    expect(peer.got).toEqual(['own-peer.m.k=to peer']);
  });

  it('keeps routing to the ws peer after the NATS server restarts', async () => {
    const { gw, peer, natsNode } = await fleet('restart');
    await reachable(natsNode, peer, 'restart-peer.probe.k');
    await server.kill();
    await until(() => gw.t.status === 'disconnected', 5000, 'the gateway node disconnected');
    // the ws side stays up while NATS is down
    expect(peer.t.status).toBe('connected');
    await server.restart();
    await until(() => gw.t.status === 'connected' && natsNode.t.status === 'connected', 5000, 'reconnected');
    await reachable(natsNode, peer, 'restart-peer.after.k');
    peer.t.publish('restart-nats.after.k', bytes('back'));
    await until(() => natsNode.got.length === 1, 5000, 'a frame from the peer after the restart');
  });

  it('stops receiving a peer’s subjects on NATS once the peer leaves', async () => {
    const { gateway, peer, natsNode, seenOnNats } = await fleet('leave');
    await reachable(natsNode, peer, 'leave-peer.probe.k');
    await peer.t.close();
    await until(() => gateway.peers().length === 0, 5000, 'the peer gone');
    await sleep(50);
    const listener = await start(nats(), 'leave-peer');
    await until(() => listener.t.status === 'connected', 5000, 'a NATS node of that name connected');
    seenOnNats.length = 0;
    natsNode.t.publish('leave-peer.m.k', bytes('now a NATS node'));
    natsNode.t.publish('leave-gw.m.k', bytes('marker'));
    await until(() => listener.got.length === 1 && seenOnNats.length === 1, 5000, 'the frame at the NATS node, the marker at the gateway node');
    expect(seenOnNats).toEqual(['leave-gw.m.k']);
  });
});

describe('nats transport routes', () => {
  it('subscribes for a routed node until the route is removed, counting routes to the same node', async () => {
    const gw = await start(nats(), 'rt-gw');
    const other = await start(nats(), 'rt-other');
    await until(() => gw.t.status === 'connected' && other.t.status === 'connected', 5000, 'connected');
    const first = gw.t.route!('rt-peer');
    const second = gw.t.route!('rt-peer');
    await reachable(other, gw, 'rt-peer.probe.k');
    first();
    other.t.publish('rt-peer.m.k', bytes('still routed'));
    await until(() => gw.got.length === 1, 5000, 'the frame while one route is left');
    second();
    await sleep(50);
    other.t.publish('rt-peer.m.k', bytes('not routed'));
    other.t.publish('rt-gw.m.k', bytes('marker'));
    await until(() => gw.got.length === 2, 5000, 'the marker');
    expect(gw.got).toEqual(['rt-peer.m.k=still routed', 'rt-gw.m.k=marker']);
  });

  it('takes a route asked for before the first connection', async () => {
    const gw = await start(nats(), 'early-gw');
    gw.t.route!('early-peer');
    const other = await start(nats(), 'early-other');
    await until(() => gw.t.status === 'connected' && other.t.status === 'connected', 5000, 'connected');
    await reachable(other, gw, 'early-peer.probe.k');
  });
});
