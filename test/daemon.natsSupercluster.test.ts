import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { connect, Events, nkeyAuthenticator } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, runBosun, talk, tempDir, waitFor } from './helpers/daemon.ts';
import { startMonitored, stopAll, waitForRoutes, type TopologyServer } from './helpers/natsTopology.ts';
import { freePort } from './helpers/ports.ts';

/**
 * Two clusters joined by gateways into a supercluster, on the configurations `bosun
 * nats-config` writes: east (e1, e2, with routes) and west (w1). Central runs on e1, ship1
 * on w1, each logged in with its made nkey. An ordered stream crosses the gateway once,
 * in order, and a node on west is refused another node's subjects there.
 */
const COUNT = 500;

let dir: string;
let keys: string;
const servers: Record<string, TopologyServer> = {};
const daemons: Daemon[] = [];
let central: Daemon;
let ship1: Daemon;

beforeAll(async () => {
  dir = await tempDir('bosun-super-');
  keys = path.join(dir, 'keys');
  const conf = path.join(dir, 'conf');
  const ports: Record<string, number> = {};
  const args = ['--make-keys', keys, '--nodes', 'central,ship1,ship2', '--output-dir', conf];
  for (const name of ['e1', 'e2', 'w1']) {
    ports[name] = await freePort();
    args.push('--server', `${name}=127.0.0.1:${ports[name]}`, '--supercluster', `${name}=127.0.0.1:${await freePort()}`);
    args.push('--cluster-of', `${name}=${name.startsWith('e') ? 'east' : 'west'}`);
  }
  for (const name of ['e1', 'e2']) args.push('--routes', `${name}=127.0.0.1:${await freePort()}`);
  const generated = await runBosun(['nats-config', ...args]);
  expect(generated.code, generated.stderr).toBe(0);
  expect(generated.stdout).toMatch(/e1\.conf\tserver \(cluster, supercluster\)/);
  for (const name of ['e1', 'e2', 'w1']) servers[name] = await startMonitored(name, ['-c', path.join(conf, `${name}.conf`)], ports[name]);
  await waitForRoutes([servers.e1!, servers.e2!]);
  for (const name of ['e1', 'e2', 'w1']) {
    await waitFor(async () => {
      const gatewayz = (await (await fetch(`http://127.0.0.1:${servers[name]!.monitorPort}/gatewayz`)).json()) as { outbound_gateways?: object };
      return Object.keys(gatewayz.outbound_gateways ?? {}).length === 1;
    }, 15_000, `${name}'s gateway to the other cluster`);
  }
  const start = async (node: string, server: TopologyServer) => {
    const daemon = await Daemon.start({ node, dataDir: path.join(dir, node), args: ['--nats', server.url, '--nats-nkey-seed-file', path.join(keys, `${node}.nk`)] });
    daemons.push(daemon);
    return daemon;
  };
  [central, ship1] = await Promise.all([start('central', servers.e1!), start('ship1', servers.w1!)]);
}, 60_000);

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.kill()));
  await stopAll(Object.values(servers));
});

describe('a fleet on two clusters joined by gateways', () => {
  it('runs an ordered stream from central (east) to ship1 (west) once, in order', async () => {
    const messages = Array.from({ length: COUNT }, (_, i) => ({
      toNode: 'ship1',
      method: 'REQToFileAppend',
      data: String(i),
      directory: 'super',
      fileName: 'east-to-west.log',
      ACKTimeout: 2,
      retries: -1,
      replyMethod: 'none',
    }));
    const answers = await talk(central.socketPath, JSON.stringify(messages));
    expect(answers.filter((a) => a.status === 'accepted').length, JSON.stringify(answers.filter((a) => a.status !== 'accepted').slice(0, 3))).toBe(COUNT);
    const file = path.join(ship1.dataDir, 'files', 'super', 'central', 'east-to-west.log');
    const lines = async () => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
    await waitFor(async () => (await lines()).length >= COUNT, 60_000, `all ${COUNT} messages on ship1`);
    await new Promise((r) => setTimeout(r, 300)); // a duplicate would land now
    expect(await lines()).toEqual(Array.from({ length: COUNT }, (_, i) => i));
  }, 90_000);

  it("refuses a node on west another node's subjects", async () => {
    const seed = (await readFile(path.join(keys, 'ship2.nk'), 'utf8')).trim();
    const nc = await connect({ servers: servers.w1!.url, authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) });
    try {
      const errors: string[] = [];
      void (async () => {
        for await (const s of nc.status()) if (s.type === Events.Error) errors.push(String(s.data));
      })();
      nc.publish('ship1.central.REQToFileAppend.CommandACK', new TextEncoder().encode('forged'));
      nc.publish('central.ship1.REQHello.EventACK', new TextEncoder().encode('forged'));
      nc.subscribe('central.>');
      await nc.flush();
      await waitFor(() => errors.length >= 3, 5_000, `the refusals (have: ${errors.join(' | ')})`);
      expect(errors.join('\n')).toMatch(/PERMISSIONS_VIOLATION/);
    } finally {
      await nc.close();
    }
  });
});
