import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { CAPTURED, identityFor, ReceptorTestNode, type TestGateway, UpgradeRefused, vectors } from './helpers/receptorClient.ts';
import { gatewaysPerTest } from './helpers/gatewaysPerTest.ts';

/**
 * A node id belongs to one account: the one it is configured for, else the first it
 * connected with. Whoever claims another account in `x-rh-identity` cannot take it over.
 */
const { gateway, track, closeGateway } = gatewaysPerTest();

/** The captured node (`node-b`) connecting with the identity of `account`. */
async function connectAs(gw: TestGateway, account: string, headers: Record<string, string> = {}): Promise<ReceptorTestNode> {
  const node = await ReceptorTestNode.connect(gw.wsUrl, { headers: { 'x-rh-identity': identityFor(account), ...headers } });
  track(node);
  await node.handshake();
  return node;
}

const IMPOSTOR_ACCOUNT = '0000666';

/** Says HI as `node-b` in `account`, and resolves with how the gateway closed the socket. */
async function impostorHi(gw: TestGateway, account: string): Promise<{ code: number; reason: string }> {
  const node = await ReceptorTestNode.connect(gw.wsUrl, { headers: { 'x-rh-identity': identityFor(account) } });
  track(node);
  await node.send(vectors.nodeHi);
  return node.closed;
}

describe('node ids bound to their account', () => {
  it('refuses an impostor of a connected node id in another account, and keeps the real node', async () => {
    const gw = await gateway();
    await connectAs(gw, CAPTURED.account);
    await gw.waitForConnection(CAPTURED.account, CAPTURED.nodeId);

    expect(await impostorHi(gw, IMPOSTOR_ACCOUNT)).toEqual({ code: 1008, reason: 'node id belongs to another account' });
    expect((await gw.gateway.status(IMPOSTOR_ACCOUNT, CAPTURED.nodeId)).status).toBe('disconnected');
    expect((await gw.gateway.status(CAPTURED.account, CAPTURED.nodeId)).status).toBe('connected');
  });

  it('keeps the binding after the node leaves and the gateway restarts on the same store', async () => {
    const store = new MemoryStore({ sync: false });
    await store.open();
    const first = await gateway({ store });
    const real = await connectAs(first, CAPTURED.account);
    await first.waitForConnection(CAPTURED.account, CAPTURED.nodeId);
    await real.close();
    await closeGateway(first);

    const second = await gateway({ store });
    expect(await impostorHi(second, IMPOSTOR_ACCOUNT)).toEqual({ code: 1008, reason: 'node id belongs to another account' });
    // The owner itself is welcome back.
    await connectAs(second, CAPTURED.account);
    await second.waitForConnection(CAPTURED.account, CAPTURED.nodeId);
  });

  it('binds a configured node id to its account before it ever connects', async () => {
    const gw = await gateway({ env: { RECEPTOR_CONTROLLER_NODE_ACCOUNTS: JSON.stringify({ [CAPTURED.nodeId]: CAPTURED.account }) } });
    expect(await impostorHi(gw, IMPOSTOR_ACCOUNT)).toEqual({ code: 1008, reason: 'node id belongs to another account' });
  });
});

describe('a node key for node connections', () => {
  it('refuses a node without the key before the websocket opens, and takes one with it', async () => {
    const key = 'a-node-key-of-enough-length';
    const gw = await gateway({ env: { RECEPTOR_CONTROLLER_NODE_PSK: key } });
    const refused = await ReceptorTestNode.connect(gw.wsUrl, { headers: { 'x-rh-identity': identityFor(CAPTURED.account) } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UpgradeRefused);
    expect((refused as UpgradeRefused).status).toBe(401);
    const wrong = await ReceptorTestNode.connect(gw.wsUrl, { headers: { 'x-rh-identity': identityFor(CAPTURED.account), 'x-bosun-node-psk': 'guessed-guessed-guessed' } }).catch((e: unknown) => e);
    expect((wrong as UpgradeRefused).status).toBe(401);
    await connectAs(gw, CAPTURED.account, { 'x-bosun-node-psk': key });
    await gw.waitForConnection(CAPTURED.account, CAPTURED.nodeId);
  });
});
