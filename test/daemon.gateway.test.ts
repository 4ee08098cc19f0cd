import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonProcess, sendToSocket, waitFor } from './helpers/fleet.ts';
import { freePort } from './helpers/ports.ts';

let dir: string;
let daemons: DaemonProcess[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-gw-'));
});
afterEach(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  daemons = [];
  await rm(dir, { recursive: true, force: true });
});

describe('a gateway daemon and a node that can only dial out', () => {
  it('runs a command on the dial-out node and gets its reply, with no NATS anywhere', async () => {
    const port = await freePort();
    const central = new DaemonProcess('central', path.join(dir, 'central'), ['--gateway-listen', `127.0.0.1:${port}`]);
    const ship1 = new DaemonProcess('ship1', path.join(dir, 'ship1'), ['--peer', `ws://127.0.0.1:${port}/bosun`]);
    daemons.push(central, ship1);
    await central.start();
    await ship1.start();
    const [answer] = await sendToSocket(central.dataDir, [{ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['echo', 'over the gateway'] }], 1);
    expect(answer).toMatchObject({ status: 'accepted' });
    const result = path.join(central.dataDir, 'files', 'REQCliCommand', 'ship1', 'REQCliCommand.result');
    await waitFor(async () => (await readFile(result, 'utf8').catch(() => '')).includes('over the gateway'), 30_000, 'the reply');
  });

  it('serves the receptor job API on the same listener', async () => {
    const port = await freePort();
    const central = new DaemonProcess('central', path.join(dir, 'central'), ['--gateway-listen', `127.0.0.1:${port}`]);
    daemons.push(central);
    await central.start();
    const identity = Buffer.from(JSON.stringify({ identity: { account_number: '0000001' } })).toString('base64');
    const res = await fetch(`http://127.0.0.1:${port}/connection/status`, {
      method: 'POST',
      headers: { 'x-rh-identity': identity, 'content-type': 'application/json' },
      body: JSON.stringify({ account: '0000001', node_id: 'node-a' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'disconnected' });
  });
});
