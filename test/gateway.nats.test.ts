/**
 * Several gateway instances sharing one registry in NATS KV (a real `nats-server -js`):
 * a request to any instance reaches the node wherever its socket is, a node that moves
 * replaces its old session on the other instance, and entries are leases.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.ts';
import { readGatewayConfig } from '../src/gateway/config.ts';
import { kvToken, NatsKvRegistry } from '../src/gateway/natsRegistry.ts';
import type { ConnectionEntry } from '../src/gateway/registry.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';
import {
  CAPTURED,
  eventually,
  frameBodies,
  patchVector,
  README_IDENTITY,
  ReceptorTestNode,
  startTestGateway,
  type TestGateway,
  vectors,
} from './helpers/receptorClient.ts';

let server: NatsServer;
let dir: string;
const running: TestGateway[] = [];
const nodes: ReceptorTestNode[] = [];
const connections: NatsConnection[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bosun-gw-nats-'));
  server = await startNatsServer({ args: ['-js', '-sd', dir] });
});

afterEach(async () => {
  for (const node of nodes.splice(0)) node.terminate();
  await Promise.all(running.splice(0).map((gw) => gw.close()));
  await Promise.all(connections.splice(0).map((nc) => nc.close()));
});

afterAll(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

function natsEnv(instance: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    RECEPTOR_CONTROLLER_GATEWAY_CONNECTION_REGISTRAR_IMPL: 'nats',
    RECEPTOR_CONTROLLER_NATS_URL: server.url,
    RECEPTOR_CONTROLLER_GATEWAY_INSTANCE_ID: instance,
    ...extra,
  };
}

async function instances(): Promise<[TestGateway, TestGateway]> {
  const a = await startTestGateway({ env: natsEnv('gw-a') });
  const b = await startTestGateway({ env: natsEnv('gw-b') });
  running.push(a, b);
  return [a, b];
}

async function nodeOn(gw: TestGateway): Promise<ReceptorTestNode> {
  const node = await gw.connectNode();
  nodes.push(node);
  await eventually(async () => (await gw.gateway.registry.lookup('0000001', 'node-b'))?.instance === gw.gateway.config.instanceId);
  return node;
}

describe('gateway instances over NATS', () => {
  it('POST /job to any instance reaches the node wherever it is connected', async () => {
    const [a, b] = await instances();
    const node = await nodeOn(a);
    const answer = await b.http('POST', '/job', { body: { account: '0000001', recipient: 'node-b', payload: 'hi', directive: 'workername:action' } });
    expect(answer.status).toBe(201);
    expect(frameBodies(await node.next())[1]).toMatchObject({ message_id: answer.json.id, raw_payload: 'hi' });
    expect(b.gateway.metrics.forwarded.value()).toBe(1);
  });

  it('lists, reports status of, pings and disconnects the node from the other instance', async () => {
    const [a, b] = await instances();
    const node = await nodeOn(a);
    expect((await b.http('GET', '/connection')).json).toEqual({ connections: [{ account: '0000001', connections: ['node-b'] }] });
    expect((await b.http('POST', '/connection/status', { body: { account: '0000001', node_id: 'node-b' } })).json).toEqual({
      status: 'connected',
      capabilities: { worker_versions: {}, max_work_threads: 6 },
    });
    const ping = b.http('POST', '/connection/ping', { body: { account: '0000001', node_id: 'node-b' } });
    const directive = frameBodies(await node.next())[1] as { message_id: string };
    await node.send(patchVector(vectors.pingResponse, [[CAPTURED.pingMessageId, directive.message_id]]));
    expect((await ping).json).toMatchObject({ status: 'connected', payload: { in_response_to: directive.message_id, sender: 'node-b' } });
    expect((await b.http('POST', '/connection/disconnect', { body: { account: '0000001', node_id: 'node-b' } })).status).toBe(200);
    expect((await node.closed).code).toBe(1000);
    await eventually(async () => (await b.gateway.status('0000001', 'node-b')).status === 'disconnected');
  });

  it('closes the old session on the other instance when the node reconnects elsewhere (newest wins)', async () => {
    const [a, b] = await instances();
    const old = await nodeOn(a);
    const fresh = await ReceptorTestNode.connect(b.wsUrl, { headers: { 'x-rh-identity': README_IDENTITY } });
    nodes.push(fresh);
    await fresh.handshake();
    expect(await old.closed).toEqual({ code: 1000, reason: 'duplicate node id' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await a.gateway.registry.lookup('0000001', 'node-b'))?.instance).toBe('gw-b');
    const answer = await a.http('POST', '/job', { body: { account: '0000001', recipient: 'node-b', payload: 1, directive: 'x:y' } });
    expect(answer.status).toBe(201);
    expect(frameBodies(await fresh.next())[1]).toMatchObject({ message_id: answer.json.id });
  });
});

describe('NATS KV registry leases', () => {
  const config = readGatewayConfig({
    RECEPTOR_CONTROLLER_GATEWAY_CONNECTION_LEASE: '1.5',
    RECEPTOR_CONTROLLER_GATEWAY_ACTIVE_CONNECTION_REGISTRAR_POLL_MIN_DELAY: '200',
    RECEPTOR_CONTROLLER_GATEWAY_ACTIVE_CONNECTION_REGISTRAR_POLL_MAX_DELAY: '400',
  });
  const entry = (sessionId: string, instance = 'gw-x'): ConnectionEntry => ({
    account: 'lease!acct',
    nodeId: 'node.with dots',
    instance,
    sessionId,
    capabilities: null,
    connectedAt: 0,
  });

  async function registry(): Promise<NatsKvRegistry> {
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    // A bucket of its own, so the short lease does not apply to the other tests' bucket.
    return NatsKvRegistry.open(nc, systemClock, config, 'bosun_receptor_lease_test');
  }

  it('escapes names into KV key tokens', () => {
    expect(kvToken('node.with dots')).toBe('node=2ewith=20dots');
    expect(kvToken('0000001')).toBe('0000001');
  });

  it('keeps a refreshed entry past its lease, and lets it expire once nobody refreshes it', async () => {
    const holder = await registry();
    const observer = await registry();
    await holder.register(entry('s1'));
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect((await observer.lookup('lease!acct', 'node.with dots'))?.sessionId).toBe('s1');
    await holder.close(); // as if the instance died: no unregister, no more refreshes
    await eventually(async () => (await observer.lookup('lease!acct', 'node.with dots')) === undefined, 4000);
  });

  it('tells the holder when a newer session took its entry', async () => {
    const first = await registry();
    const second = await registry();
    const lost: ConnectionEntry[] = [];
    first.onLost = (e) => lost.push(e);
    await first.register(entry('old', 'gw-1'));
    expect(await second.register(entry('new', 'gw-2'))).toMatchObject({ sessionId: 'old', instance: 'gw-1' });
    await first.refresh();
    expect(lost.map((e) => e.sessionId)).toEqual(['old']);
    expect(await first.unregister('lease!acct', 'node.with dots', 'old')).toBe(false);
    expect((await first.lookup('lease!acct', 'node.with dots'))?.sessionId).toBe('new');
    await Promise.all([first.close(), second.close()]);
  });
});
