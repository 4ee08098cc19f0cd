import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { connect, Events, nkeyAuthenticator, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/cli/natsConfig.ts';
import { tempDir, waitFor } from './helpers/daemon.ts';
import { permissionViolations } from './helpers/natsServer.ts';
import { startMonitored, stopAll, waitForLeafLink, waitForRoutes, type TopologyServer } from './helpers/natsTopology.ts';
import { freePort } from './helpers/ports.ts';
import { capturedIo } from './helpers/capturedIo.ts';

/**
 * The configurations `bosun nats-config` writes for a 3-server cluster (a, b, c; a is also
 * the hub) and a leaf server for a ship (ship1 and ship2 log in there), with the nkeys
 * `--make-keys` made, loaded by real servers. On every server a node that publishes on
 * another node's subjects is refused, and so is a leaf link that tries to: a second leaf
 * server, holding the ship's leaf login but confining nobody (someone who took the ship's
 * server), can still speak only for the ship's nodes.
 */
const NODES = ['central', 'ship1', 'ship2', 'ship3'];

let dir: string;
let keys: string;
const servers: Record<string, TopologyServer> = {};
let rogue: TopologyServer | undefined;
const connections: NatsConnection[] = [];

beforeAll(async () => {
  dir = await tempDir('bosun-natstopo-');
  keys = path.join(dir, 'keys');
  const port = async () => `127.0.0.1:${await freePort()}`;
  const args = ['--make-keys', keys, '--nodes', NODES.join(','), '--link', 'ship1:ship2', '--output-dir', path.join(dir, 'conf')];
  for (const name of ['a', 'b', 'c']) args.push('--server', `${name}=${await port()}`, '--routes', `${name}=${await port()}`);
  args.push('--leafnodes', `a=${await port()}`, '--leaf', `ship=${await port()}`, '--site', 'ship=ship1,ship2');
  const out = capturedIo(dir);
  expect(await run(args, out), out.err()).toBe(0);
  expect(out.out()).toContain('ship.conf\tleaf server of ship1, ship2');

  const start = async (name: string) => {
    const file = path.join(dir, 'conf', `${name}.conf`);
    const listen = /^listen: "127\.0\.0\.1:(\d+)"$/m.exec(await readFile(file, 'utf8'))![1]!;
    servers[name] = await startMonitored(name, ['-c', file, '-l', logOf(name)], Number(listen));
  };
  await Promise.all(['a', 'b', 'c'].map(start));
  await waitForRoutes([servers.a!, servers.b!, servers.c!]);
  await start('ship');
  await waitForLeafLink(servers.a!, servers.ship!);
}, 60_000);

afterAll(async () => {
  await Promise.all(connections.map((c) => c.close().catch(() => {})));
  await stopAll([...Object.values(servers), rogue]);
});

function logOf(server: string): string {
  return path.join(dir, `${server}.log`);
}

async function publicKey(node: string): Promise<string> {
  return new RegExp(`^${node} (U[A-Z2-7]{55})$`, 'm').exec(await readFile(path.join(keys, 'nkeys.txt'), 'utf8'))![1]!;
}

interface Client {
  nc: NatsConnection;
  /** Subjects received on its subscriptions. */
  received: string[];
  /** Errors the server sent it: permissions violations. */
  errors: string[];
}

async function login(node: string | undefined, server: TopologyServer): Promise<Client> {
  const seed = node === undefined ? undefined : (await readFile(path.join(keys, `${node}.nk`), 'utf8')).trim();
  const nc = await connect({ servers: server.url, ...(seed ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) } : {}) });
  connections.push(nc);
  const client: Client = { nc, received: [], errors: [] };
  void (async () => {
    for await (const s of nc.status()) if (s.type === Events.Error) client.errors.push(String(s.data));
  })();
  return client;
}

function listen(client: Client, subject: string): void {
  client.nc.subscribe(subject, {
    callback: (error, msg) => {
      if (error) client.errors.push(error.message);
      else client.received.push(msg.subject);
    },
  });
}

/** Publishes `subject` until `to` has it: interest crosses routes and leaf links a moment after a subscription. */
async function deliver(from: Client, subject: string, to: Client): Promise<void> {
  await waitFor(async () => {
    from.nc.publish(subject);
    await from.nc.flush();
    await new Promise((r) => setTimeout(r, 50));
    return to.received.includes(subject);
  }, 10_000, `${subject} to arrive`);
}

describe('the configurations bosun nats-config writes for a cluster and a leaf server', () => {
  it('are accepted by nats-server, with a seed per node and the public keys in the configurations', async () => {
    const core = await readFile(path.join(dir, 'conf', 'a.conf'), 'utf8');
    const leaf = await readFile(path.join(dir, 'conf', 'ship.conf'), 'utf8');
    for (const node of ['central', 'ship3']) expect(core).toContain(`nkey: "${await publicKey(node)}"`);
    for (const node of ['ship1', 'ship2']) {
      expect(leaf).toContain(`nkey: "${await publicKey(node)}"`);
      expect(core).not.toContain(`nkey: "${await publicKey(node)}"`);
    }
    expect(leaf).not.toMatch(/# (central|ship3)\n/);
    // Running --make-keys again keeps every key.
    const before = await readFile(path.join(keys, 'nkeys.txt'), 'utf8');
    const again = capturedIo(dir);
    expect(await run(['--make-keys', keys, '--nodes', NODES.join(','), '--output', path.join(dir, 'single.conf')], again), again.err()).toBe(0);
    expect(await readFile(path.join(keys, 'nkeys.txt'), 'utf8')).toBe(before);
  });

  it('refuse a node that publishes on another node\'s subjects, on every server and on the leaf', async () => {
    const central = await login('central', servers.a!);
    const ship1 = await login('ship1', servers.ship!);
    const ship2 = await login('ship2', servers.ship!);
    const ship3 = await login('ship3', servers.c!);
    listen(central, 'central.>');
    listen(ship1, 'ship1.>');
    listen(ship2, 'ship2.>');
    listen(ship3, 'ship3.>');
    await Promise.all([central, ship1, ship2, ship3].map((c) => c.nc.flush()));
    const everyone = () => [...central.received, ...ship1.received, ...ship2.received, ...ship3.received];

    // On each core server ship3 (at no site), on the leaf ship1: what each may send crosses
    // routes and the leaf link; speaking for another node, or reading its frames, does not.
    const cases = [
      ...['a', 'b', 'c'].map((name) => ({
        name,
        node: 'ship3',
        allowed: [{ subject: `central.ship3.REQ${name}`, to: central }],
        forged: [`ship1.central.REQ${name}.CommandACK`, `central.ship1.REQ${name}.CommandACK`, `ship2.central.REQ${name}.CommandACK`],
        spy: 'ship1.>',
      })),
      {
        name: 'ship',
        node: 'ship1',
        allowed: [
          { subject: 'central.ship1.REQship', to: central },
          { subject: 'ship2.ship1.REQship', to: ship2 },
        ],
        forged: ['ship3.central.REQship.CommandACK', 'central.ship3.REQship.CommandACK', 'ship2.central.REQship.CommandACK'],
        spy: 'ship2.>',
      },
    ];
    for (const { name, node, allowed, forged, spy } of cases) {
      const attacker = await login(node, servers[name]!);
      for (const { subject, to } of allowed) await deliver(attacker, `${subject}.CommandACK`, to);
      for (const subject of forged) attacker.nc.publish(subject);
      listen(attacker, spy);
      listen(attacker, '_INBOX.>');
      // Sent after the forged ones on the same paths: once these are in, those would be too.
      for (const { subject } of allowed) attacker.nc.publish(`${subject}.EventACK`);
      await attacker.nc.flush();
      await waitFor(() => allowed.every(({ subject, to }) => to.received.includes(`${subject}.EventACK`)), 5_000, 'the later messages');
      await waitFor(() => attacker.errors.length >= forged.length + 2, 5_000, `the server ${name} to refuse (have: ${attacker.errors.join(' | ')})`);
      await new Promise((r) => setTimeout(r, 200)); // not every forged one has a later message on its path
      const refused = (await permissionViolations(logOf(name), await publicKey(node))).join('\n');
      for (const subject of forged) {
        expect(everyone(), `${subject} on ${name}`).not.toContain(subject);
        expect(refused, `${subject} on ${name}`).toMatch(new RegExp(`Publish Violation.*"${subject.replaceAll('.', '\\.')}"`));
      }
      expect(attacker.errors.join('\n')).toContain('Permissions Violation for Subscription to "_INBOX.>"');
      expect(attacker.errors.join('\n')).toContain(`Permissions Violation for Subscription to "${spy}"`);
      expect(attacker.received).toEqual([]);
    }
    // A leaf server knows its site's nodes only, and they log in there alone.
    await expect(login('ship3', servers.ship!)).rejects.toThrow(/Authorization Violation/i);
    await expect(login('ship1', servers.b!)).rejects.toThrow(/Authorization Violation/i);
  });

  it("refuse a leaf link that speaks for a node that is not at its site, or reads another node's frames", async () => {
    const shipConf = await readFile(path.join(dir, 'conf', 'ship.conf'), 'utf8');
    const linkUrl = /"(nats-leaf:\/\/leaf-ship:[^"]+)"/.exec(shipConf)![1]!;
    const rogueConf = path.join(dir, 'rogue.conf');
    // The ship's leaf login, on a server that confines no one.
    await writeFile(rogueConf, `leafnodes { remotes: [ { url: "${linkUrl}" } ] }\n`);
    rogue = await startMonitored('rogue', ['-n', 'rogue', '-c', rogueConf]);
    await waitFor(async () => {
      const leafz = (await (await fetch(`http://127.0.0.1:${servers.a!.monitorPort}/leafz`)).json()) as { leafnodes: number };
      return leafz.leafnodes >= 2;
    }, 15_000, 'the rogue leaf link');

    const central = await login('central', servers.a!);
    const ship3 = await login('ship3', servers.b!);
    const anyone = await login(undefined, rogue);
    listen(central, 'central.>');
    listen(ship3, 'ship3.>');
    listen(anyone, 'central.>');
    listen(anyone, 'ship3.>');
    await Promise.all([central.nc.flush(), ship3.nc.flush(), anyone.nc.flush()]);

    // What the ship's nodes may send crosses, as from the real ship.
    await deliver(anyone, 'central.ship1.REQrogue.CommandACK', central);
    const forged = ['central.ship3.REQrogue.CommandACK', 'ship3.central.REQrogue.CommandACK', 'central.central.REQrogue.ACK'];
    for (const subject of forged) anyone.nc.publish(subject);
    anyone.nc.publish('central.ship1.REQrogue.EventACK');
    await anyone.nc.flush();
    await waitFor(() => central.received.includes('central.ship1.REQrogue.EventACK'), 5_000, 'the later message');
    // Frames for central and ship3 do not cross into the rogue leaf.
    await deliver(ship3, 'central.ship3.REQfromShip3.CommandACK', central);
    central.nc.publish('ship3.central.REQfromCentral.CommandACK');
    await deliver(central, 'ship3.central.REQfromCentral.EventACK', ship3);
    await new Promise((r) => setTimeout(r, 200));

    expect(central.received).not.toContain('central.ship3.REQrogue.CommandACK');
    expect(central.received).not.toContain('central.central.REQrogue.ACK');
    expect(ship3.received).not.toContain('ship3.central.REQrogue.CommandACK');
    // (the rogue server hands its own client what that client published itself)
    expect(anyone.received.filter((subject) => !subject.includes('REQrogue'))).toEqual([]);
  });

  it('refuse layouts they cannot confine, with a clear error and exit 2', async () => {
    const base = ['--make-keys', path.join(dir, 'keys-bad'), '--nodes', 'central,ship1,ship2'];
    const cases: Array<[string[], RegExp]> = [
      [['--server', 'a=127.0.0.1:1', '--routes', 'x=127.0.0.1:2', '--output-dir', 'o'], /--routes names x, which no --server names/],
      [['--server', 'a=127.0.0.1:1', '--routes', 'a=127.0.0.1:2', '--output-dir', 'o'], /a cluster needs routes on two servers or more; in bosun only a has them/],
      [['--server', 'a=127.0.0.1:1', '--leaf', 's=127.0.0.1:3', '--site', 's=ship1', '--output-dir', 'o'], /leaf servers need a server that takes leaf links/],
      [['--server', 'a=127.0.0.1:1', '--leafnodes', 'a=127.0.0.1:2', '--leaf', 's=127.0.0.1:3', '--site', 't=ship1', '--output-dir', 'o'], /--site names t, which no --leaf names/],
      [['--server', 'a=127.0.0.1:1', '--leafnodes', 'a=127.0.0.1:2', '--leaf', 's=127.0.0.1:3', '--leaf', 't=127.0.0.1:4', '--site', 's=ship1', '--site', 't=ship1', '--output-dir', 'o'], /ship1 is at two leaf servers, s and t/],
      [['--server', 'a=127.0.0.1:1', '--leafnodes', 'a=127.0.0.1:2', '--leaf', 's=127.0.0.1:3', '--site', 's=ship1', '--gateway', 'ship1', '--output-dir', 'o'], /ship1 runs a receptor gateway: run it on a core server/],
      [['--server', 'a=127.0.0.1:1', '--leafnodes', 'a=127.0.0.1:2', '--leaf', 's=127.0.0.1:3', '--output-dir', 'o'], /leaf server s has no nodes/],
      [['--server', 'a=127.0.0.1:1', '--server', 'a=127.0.0.1:2', '--output-dir', 'o'], /--server names a twice/],
      [['--server', 'a=127.0.0.1:1', '--leafnodes', 'a=127.0.0.1:2', '--leaf', 'a=127.0.0.1:3', '--site', 'a=ship1', '--output-dir', 'o'], /two servers are named a/],
      [['--server', 'a=127.0.0.1:1'], /several servers need --output-dir DIR/],
      [['--server', 'a=127.0.0.1:1', '--output', 'x.conf', '--output-dir', 'o'], /--output-dir takes the configurations/],
      [['--server', 'a', '--output-dir', 'o'], /--server takes NAME=HOST:PORT, not "a"/],
      [['--routes', 'a=127.0.0.1:2'], /--routes is for several servers/],
      [['--server', 'a=127.0.0.1:1', '--server', 'b=127.0.0.1:2', '--cluster-of', 'b=west', '--output-dir', 'o'], /servers of several clusters \(bosun, west\) need gateways to join them/],
      [['--server', 'a=127.0.0.1:1', '--server', 'b=127.0.0.1:2', '--cluster-of', 'b=west', '--supercluster', 'b=127.0.0.1:3', '--output-dir', 'o'], /a \(cluster bosun\) takes no gateway links: in a supercluster every server must/],
      [['--server', 'a=127.0.0.1:1', '--supercluster', 'a=127.0.0.1:3', '--output-dir', 'o'], /gateways join two clusters or more/],
      [['--server', 'a=127.0.0.1:1', '--cluster-of', 'x=west', '--output-dir', 'o'], /--cluster-of names x, which no --server names/],
    ];
    for (const [extra, message] of cases) {
      const out = capturedIo(dir);
      expect(await run([...base, ...extra], out), extra.join(' ')).toBe(2);
      expect(out.err(), extra.join(' ')).toMatch(message);
    }
    const noNodes = capturedIo(dir);
    expect(await run(['--make-keys', path.join(dir, 'keys-bad')], noNodes)).toBe(2);
    expect(noNodes.err()).toMatch(/--make-keys needs the nodes/);
    await writeFile(path.join(dir, 'keys-bad', 'ship2.nk'), 'not a seed\n');
    const badSeed = capturedIo(dir);
    expect(await run([...base, '--output', path.join(dir, 'bad.conf')], badSeed)).toBe(2);
    expect(badSeed.err()).toMatch(/keys-bad\/ship2\.nk does not hold a user nkey seed/);
  });
});
