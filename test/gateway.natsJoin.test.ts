/**
 * A gateway that starts while its node's NATS is down runs on its local registry, then,
 * once it joins NATS, carries the sessions it holds into the shared registry: other
 * instances find them, the local mirror in the store is emptied, and a node that has
 * meanwhile connected to another instance keeps that newer session. Real nats-server
 * started late on loopback; gateways in this process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { prefixRange, regKey } from '../src/store/keys.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';
import { freePort } from './helpers/ports.ts';
import { startTcpProxy, type TcpProxy } from './helpers/tcpProxy.ts';
import { eventually, frameBodies, README_IDENTITY, ReceptorTestNode, startTestGateway, type TestGateway } from './helpers/receptorClient.ts';

const running: TestGateway[] = [];
const nodes: ReceptorTestNode[] = [];
const proxies: TcpProxy[] = [];
let server: NatsServer | undefined;
let dir: string | undefined;

afterEach(async () => {
  for (const node of nodes.splice(0)) node.terminate();
  await Promise.all(running.splice(0).map((gw) => gw.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  await server?.stop();
  server = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
});

function env(instance: string): Record<string, string> {
  return { RECEPTOR_CONTROLLER_GATEWAY_CONNECTION_REGISTRAR_IMPL: 'nats', RECEPTOR_CONTROLLER_GATEWAY_INSTANCE_ID: instance };
}

/** A gateway on the node's NATS at `url`, which may not be up yet. */
async function gateway(instance: string, url: string): Promise<TestGateway> {
  const gw = await startTestGateway({ env: env(instance), nodeNats: { servers: [url] } });
  running.push(gw);
  return gw;
}

async function node(gw: TestGateway): Promise<ReceptorTestNode> {
  const connected = await gw.connectNode();
  nodes.push(connected);
  return connected;
}

/** A NATS that is not there yet, and a way to bring it up. */
async function lateNats(): Promise<{ url: string; start(): Promise<void> }> {
  const port = await freePort();
  dir = await mkdtemp(join(tmpdir(), 'bosun-gw-join-'));
  return {
    url: `nats://127.0.0.1:${port}`,
    async start() {
      server = await startNatsServer({ port, jetStream: { storeDir: dir! } });
    },
  };
}

const mirrored = async (gw: TestGateway) => (await gw.store.range(prefixRange(regKey('receptor!conn')))).length;

describe('a gateway that joins NATS after its start', () => {
  it('carries the sessions it holds into the shared registry', async () => {
    const nats = await lateNats();
    const a = await gateway('gw-a', nats.url);
    const held = await node(a);
    await a.waitForConnection('0000001', 'node-b');
    expect(await mirrored(a)).toBe(1);

    await nats.start();
    const b = await gateway('gw-b', nats.url);
    await eventually(async () => (await b.gateway.registry.lookup('0000001', 'node-b'))?.instance === 'gw-a', 20_000);
    expect(await mirrored(a)).toBe(0);
    const answer = await b.http('POST', '/job', { body: { account: '0000001', recipient: 'node-b', payload: 'moved', directive: 'x:y' } });
    expect(answer.status).toBe(201);
    expect(frameBodies(await held.next())[1]).toMatchObject({ message_id: answer.json.id, raw_payload: 'moved' });
  });

  it('leaves a newer session of the node on another instance in place, closing its own', async () => {
    const nats = await lateNats();
    await nats.start();
    // gw-a reaches NATS through a proxy that refuses it until the newer session is registered.
    const proxy = await startTcpProxy({ targetPort: server!.port });
    proxies.push(proxy);
    proxy.block();
    const a = await gateway('gw-a', proxy.url);
    const old = await node(a);
    await a.waitForConnection('0000001', 'node-b');

    const b = await gateway('gw-b', nats.url);
    const fresh = await ReceptorTestNode.connect(b.wsUrl, { headers: { 'x-rh-identity': README_IDENTITY } });
    nodes.push(fresh);
    await fresh.handshake();
    await b.waitForConnection('0000001', 'node-b');

    proxy.unblock();
    expect(await old.closed).toEqual({ code: 1000, reason: 'duplicate node id' });
    expect((await a.gateway.registry.lookup('0000001', 'node-b'))?.sessionId).toBe((await b.gateway.registry.lookup('0000001', 'node-b'))?.sessionId);
    expect((await a.gateway.registry.lookup('0000001', 'node-b'))?.instance).toBe('gw-b');
    expect(b.gateway.metrics.duplicateConnections.value()).toBe(0);
  });
});
