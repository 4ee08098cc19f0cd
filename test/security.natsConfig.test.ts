import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connect, nkeys, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/cli/natsConfig.ts';
import { natsServerConfig } from '../src/security/natsConfig.ts';
import { startSecureFleet, type SecureTestNode } from './support/security.ts';
import { findNatsServerBinary, startNatsServer, type NatsServer } from './helpers/natsServer.ts';
import { capturedIo } from './helpers/capturedIo.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-natsconf-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `nats-server -c FILE -t`: the server's own check of a configuration. */
function serverAccepts(file: string): { ok: boolean; output: string } {
  const r = spawnSync(findNatsServerBinary(), ['-c', file, '-t'], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

const USERS = { central: { user: 'central', password: 'pw-central' }, ship1: { user: 'ship1', password: 'pw-ship1' }, ship2: { user: 'ship2', password: 'pw-ship2' } };

describe('bosun nats-config', () => {
  it('confines each node: its own subjects to read, its peers\' to write', () => {
    const text = natsServerConfig({ nodes: ['central', 'ship1', 'ship2'], central: 'central', identities: USERS, links: [['ship1', 'ship2']] });
    expect(text).toContain('subscribe: { allow: ["ship1.>"] }');
    expect(text).toContain(
      'publish: { allow: ["central.ship1.*.CommandACK", "central.ship1.*.EventACK", "central.ship1.*.ACK", "central.ship1.*.RESUME", "ship1.ship1.*.CommandACK", "ship1.ship1.*.EventACK", "ship1.ship1.*.ACK", "ship1.ship1.*.RESUME", "ship2.ship1.*.CommandACK", "ship2.ship1.*.EventACK", "ship2.ship1.*.ACK", "ship2.ship1.*.RESUME"] }',
    );
    const alone = natsServerConfig({ nodes: ['central', 'ship1', 'ship2'], central: 'central', identities: USERS });
    const ship1Block = alone.slice(alone.indexOf('# ship1'), alone.indexOf('# ship2'));
    expect(ship1Block).not.toContain('"ship2.');
    expect(() => natsServerConfig({ nodes: ['central', 'ship1'], central: 'central', identities: { central: USERS.central } })).toThrow(/no nkey or user for node ship1/);
  });

  it('grants the receptor gateway\'s subjects to the nodes named with --gateway, and to no other', async () => {
    const text = natsServerConfig({ nodes: ['central', 'ship1', 'ship2'], central: 'central', identities: USERS, gateways: ['ship1'] });
    const block = (node: string) => text.slice(text.indexOf(`# ${node}`), text.indexOf('}\n    }', text.indexOf(`# ${node}`)));
    expect(block('ship1')).toContain('# ship1 (receptor gateway)');
    for (const subject of ['"bosun.receptor.gateway.>"', '"platform.receptor-controller.responses"', '"$JS.API.INFO"', '"$KV.bosun_receptor_connections.>"']) {
      expect(block('ship1')).toContain(subject);
      expect(block('central')).not.toContain(subject);
      expect(block('ship2')).not.toContain(subject);
    }
    expect(block('ship1')).toContain('subscribe: { allow: ["ship1.>", "_INBOX.>", "bosun.receptor.gateway.>", "platform.receptor-controller.jobs"] }');
    // Nothing that would let a gateway change or remove streams, or read them all.
    expect(block('ship1')).not.toMatch(/STREAM\.(UPDATE|DELETE|PURGE)|\$JS\.API\.>|"\$JS\.>"/);
    const renamed = natsServerConfig({
      nodes: ['central'],
      central: 'central',
      identities: USERS,
      gateways: ['central'],
      gatewayNames: { responsesSubject: 'r.subj', responsesStream: 'RS', jobsSubject: 'j.subj', jobsStream: 'JS' },
    });
    expect(renamed).toContain('"$JS.API.STREAM.CREATE.RS"');
    expect(renamed).toContain('"r.subj"');
    expect(() => natsServerConfig({ nodes: ['central'], central: 'central', identities: USERS, gateways: ['ship9'] })).toThrow(/gateway ship9 is not in the list/);

    const usersFile = path.join(dir, 'gw-users.json');
    await writeFile(usersFile, JSON.stringify(USERS));
    const out = capturedIo(dir);
    expect(await run(['--users', usersFile, '--gateway', 'central', '--gateway', 'ship2'], out)).toBe(0);
    expect(out.out()).toContain('# Receptor gateways (their subjects and JetStream API too; run nats-server with JetStream): central, ship2');
    const conf = path.join(dir, 'gw.conf');
    await writeFile(conf, out.out());
    expect(serverAccepts(conf)).toMatchObject({ ok: true });
  });

  it('gives a gateway node, for the ws peers named --behind it, what they would have with logins of their own, and the peers no login', async () => {
    const { central, ship2 } = USERS;
    const identities = { central, gw1: { user: 'gw1', password: 'pw-gw1' }, ship2 };
    const nodes = ['central', 'gw1', 'ship1', 'ship2', 'ship3'];
    const text = natsServerConfig({ nodes, central: 'central', identities, links: [['ship1', 'ship2'], ['ship1', 'ship3'], ['ship1', 'gw1']], behind: { gw1: ['ship1', 'ship3'] } });
    const block = (node: string) => text.slice(text.indexOf(`      # ${node}`), text.indexOf('}\n    }', text.indexOf(`      # ${node}`)));
    const from = (node: string, to: string) => [`"${to}.${node}.*.CommandACK"`, `"${to}.${node}.*.EventACK"`, `"${to}.${node}.*.ACK"`, `"${to}.${node}.*.RESUME"`].join(', ');
    expect(text).toContain('# Behind gateway nodes, with no login (their gateway node publishes and receives for them): ship1 via gw1, ship3 via gw1');
    expect(block('gw1')).toContain('# gw1 (gateway of ship1, ship3)');
    // Its own subjects, then ship1's to central and its --link ship2, then ship3's to central;
    // not ship1's to gw1, to itself or to ship3: those never leave gw1's websockets.
    expect(block('gw1')).toContain(`publish: { allow: [${from('gw1', 'central')}, ${from('gw1', 'gw1')}, ${from('gw1', 'ship1')}, ${from('ship1', 'central')}, ${from('ship1', 'ship2')}, ${from('ship3', 'central')}] }`);
    expect(block('gw1')).toContain('subscribe: { allow: ["gw1.>", "ship1.>", "ship3.>"] }');
    // The others address the peers as any node, and read nothing of theirs.
    expect(block('central')).toContain(from('central', 'ship1'));
    expect(block('ship2')).toContain(from('ship2', 'ship1'));
    expect(block('ship2')).not.toContain('"ship3.');
    for (const node of ['central', 'ship2']) expect(block(node)).not.toMatch(/"ship[13]\.>"/);
    expect(text).not.toMatch(/# ship1|# ship3/);

    // Alone, a peer talks to central only; with --mesh to everyone but its own gateway and fellow peers.
    const alone = natsServerConfig({ nodes: ['central', 'gw1', 'ship1', 'ship2'], central: 'central', identities, behind: { gw1: ['ship1'] } });
    expect(alone.slice(alone.indexOf('      # gw1'))).toContain(`${from('gw1', 'gw1')}, ${from('ship1', 'central')}] }`);
    const mesh = natsServerConfig({ nodes, central: 'central', identities, mesh: true, behind: { gw1: ['ship1', 'ship3'] } });
    const gw1Mesh = mesh.slice(mesh.indexOf('      # gw1'), mesh.indexOf('      # ship2'));
    expect(gw1Mesh).toContain(`${from('ship1', 'central')}, ${from('ship1', 'ship2')}, ${from('ship3', 'central')}, ${from('ship3', 'ship2')}] }`);
    expect(gw1Mesh).not.toMatch(/"(gw1|ship1|ship3)\.ship[13]\./);

    // A receptor gateway may be a gateway node too.
    expect(natsServerConfig({ nodes, central: 'central', identities, gateways: ['gw1'], behind: { gw1: ['ship1', 'ship3'] } })).toContain('# gw1 (receptor gateway; gateway of ship1, ship3)');
  });

  it('refuses --behind that names unknown nodes, a peer behind two gateways, a peer with a login, or a peer that would forward', () => {
    const identities = { central: USERS.central, gw1: USERS.ship1, gw2: USERS.ship2 };
    const nodes = ['central', 'gw1', 'gw2', 'ship1'];
    const config = (behind: Record<string, string[]>, more: { gateways?: string[]; identities?: object } = {}) => () =>
      natsServerConfig({ nodes, central: 'central', identities: { ...identities, ...more.identities }, behind, ...(more.gateways ? { gateways: more.gateways } : {}) });
    expect(config({ gw9: ['ship1'] })).toThrow(/gateway node gw9 is not in the list of nodes/);
    expect(config({ gw1: ['ship9'] })).toThrow(/ship9, behind gw1, is not in the list of nodes/);
    expect(config({ gw1: ['ship1'], gw2: ['ship1'] })).toThrow(/ship1 is behind both gw1 and gw2: a node dials one gateway/);
    expect(config({ gw1: ['ship1'] }, { identities: { ship1: USERS.ship1 } })).toThrow(/ship1 is behind gw1 but has a login of its own/);
    expect(config({ gw1: ['gw2'], gw2: ['ship1'] })).toThrow(/gateway node gw2 is itself behind gw1/);
    expect(config({ gw1: ['gw1'] })).toThrow(/gw1 cannot be behind itself/);
    expect(config({ gw1: ['ship1'] }, { gateways: ['ship1'] })).toThrow(/ship1 is behind gw1, so it has no NATS for a receptor gateway/);
    // Named twice behind the same gateway node is only said twice.
    expect(config({ gw1: ['ship1', 'ship1'] })()).toContain('ship1 via gw1');
  });

  it('takes --behind GW=A,B on the command line, repeatable, and counts its peers among the nodes', async () => {
    const usersFile = path.join(dir, 'behind-users.json');
    await writeFile(usersFile, JSON.stringify({ central: USERS.central, gw1: USERS.ship1 }));
    const out = capturedIo(dir);
    expect(await run(['--users', usersFile, '--behind', 'gw1=ship1,ship2', '--behind', 'gw1=ship3'], out)).toBe(0);
    expect(out.out()).toContain('# central: central; nodes: central, gw1, ship1, ship2, ship3');
    expect(out.out()).toContain('subscribe: { allow: ["gw1.>", "ship1.>", "ship2.>", "ship3.>"] }');
    const conf = path.join(dir, 'behind.conf');
    await writeFile(conf, out.out());
    expect(serverAccepts(conf)).toMatchObject({ ok: true });

    for (const bad of ['gw1', 'gw1=', '=ship1', 'gw1=ship1=ship2']) {
      const wrong = capturedIo(dir);
      expect(await run(['--users', usersFile, '--behind', bad], wrong)).toBe(2);
      expect(wrong.err()).toContain(`--behind takes GATEWAY=PEER[,PEER…], not "${bad}"`);
    }
    const unknown = capturedIo(dir);
    expect(await run(['--users', usersFile, '--nodes', 'central,gw1', '--behind', 'gw1=ship1'], unknown)).toBe(2);
    expect(unknown.err()).toBe('bosun: ship1, behind gw1, is not in the list of nodes\n');

    const help = capturedIo(dir);
    expect(await run(['--help'], help)).toBe(0);
    expect(help.out()).toMatch(/--behind GW=A,B,…\s+A and B dial gateway node GW \(its --gateway-listen\) with --peer/);
    expect(help.out()).toMatch(/dials a gateway node over websockets \(--peer ws:\/\/…\) has no login/);
  });

  it('writes a configuration nats-server accepts, with nkeys or with users', async () => {
    const ids: Record<string, string> = {};
    for (const n of ['central', 'ship1', 'ship2']) ids[n] = nkeys.createUser().getPublicKey() as string;
    const nkeyFile = path.join(dir, 'nkeys.txt');
    await writeFile(nkeyFile, Object.entries(ids).map(([n, k]) => `${n} ${k}`).join('\n') + '\n');
    const a = capturedIo(dir);
    expect(await run(['--nkeys', nkeyFile, '--mesh', '--output', 'nkeys.conf'], a)).toBe(0);
    const nkeyConf = path.join(dir, 'nkeys.conf');
    expect(await readFile(nkeyConf, 'utf8')).toContain(`nkey: "${ids.ship1}"`);
    expect(serverAccepts(nkeyConf)).toMatchObject({ ok: true });

    const usersFile = path.join(dir, 'users.json');
    await writeFile(usersFile, JSON.stringify(USERS));
    const b = capturedIo(dir);
    expect(await run(['--users', usersFile, '--nodes', 'central,ship1,ship2'], b)).toBe(0);
    const usersConf = path.join(dir, 'users.conf');
    await writeFile(usersConf, b.out());
    expect(serverAccepts(usersConf)).toMatchObject({ ok: true });

    const c = capturedIo(dir);
    expect(await run(['--users', usersFile, '--nkeys', nkeyFile], c)).toBe(2);
    expect(c.err()).toMatch(/one of them/);
  });

  describe('on a running nats-server', () => {
    let server: NatsServer;
    const conns: NatsConnection[] = [];
    beforeAll(async () => {
      const file = path.join(dir, 'running.conf');
      await writeFile(file, natsServerConfig({ nodes: ['central', 'ship1', 'ship2'], central: 'central', identities: USERS }));
      server = await startNatsServer({ args: ['-c', file] });
    });
    afterAll(async () => {
      await Promise.all(conns.map((c) => c.close()));
      await server?.stop();
    });

    async function as(node: keyof typeof USERS): Promise<NatsConnection> {
      const nc = await connect({ servers: server.url, user: USERS[node].user, pass: USERS[node].password });
      conns.push(nc);
      return nc;
    }

    it('keeps a node from reading another node\'s subjects and from writing to a node it has no business with', async () => {
      const central = await as('central');
      const ship1 = await as('ship1');
      const ship2 = await as('ship2');
      const seen: Record<string, string[]> = { ship2: [], spy: [], central: [] };
      ship2.subscribe('ship2.>', { callback: (_e, m) => m && seen.ship2!.push(m.subject) });
      central.subscribe('central.>', { callback: (_e, m) => m && seen.central!.push(m.subject) });
      const refused: string[] = [];
      ship1.subscribe('ship2.>', {
        callback: (e, m) => {
          if (e) refused.push(e.message);
          else if (m) seen.spy!.push(m.subject);
        },
      });
      await Promise.all([central.flush(), ship1.flush(), ship2.flush()]);

      central.publish('ship2.central.REQCliCommand.CommandACK', new Uint8Array([1]));
      ship1.publish('ship2.ship1.REQCliCommand.CommandACK', new Uint8Array([2])); // ship1 may not talk to ship2
      ship1.publish('ship2.central.REQCliCommand.CommandACK', new Uint8Array([2])); // nor pass for central
      ship1.publish('central.REQHello.EventACK', new Uint8Array([3])); // a subject that names no publisher
      ship1.publish('central.ship1.REQHello.EventACK', new Uint8Array([3]));
      // ship1 may ACK central's streams to ship1, not central's streams to ship2.
      ship1.publish('central.ship2.REQCliCommand.ACK', new Uint8Array([4]));
      ship1.publish('central.ship1.REQCliCommand.ACK', new Uint8Array([5]));
      await Promise.all([central.flush(), ship1.flush()]);
      await new Promise((r) => setTimeout(r, 300));

      expect(seen.ship2).toEqual(['ship2.central.REQCliCommand.CommandACK']);
      expect(seen.central).toEqual(['central.ship1.REQHello.EventACK', 'central.ship1.REQCliCommand.ACK']);
      expect(seen.spy).toEqual([]);
      expect(refused.join('\n')).toMatch(/permissions violation/i);
    });
  });

  it('is all a secure fleet needs: hello, keys, ACL and commands run over the confined server', async () => {
    const nodes = ['central', 'ship1', 'ship2'];
    const identities: Record<string, { nkey: string }> = {};
    const seeds: Record<string, string> = {};
    for (const n of nodes) {
      const user = nkeys.createUser();
      identities[n] = { nkey: user.getPublicKey() as string };
      seeds[n] = path.join(dir, `${n}.seed`);
      await writeFile(seeds[n]!, new TextDecoder().decode(user.getSeed() as Uint8Array), { mode: 0o600 });
    }
    const file = path.join(dir, 'fleet.conf');
    await writeFile(file, natsServerConfig({ nodes, central: 'central', identities }));
    const server = await startNatsServer({ args: ['-c', file] });
    let fleet: { all: SecureTestNode[] } | undefined;
    try {
      const perNode = Object.fromEntries(nodes.map((n) => [n, { nats: { servers: server.url, nkeySeedFile: seeds[n]! } }]));
      const f = await startSecureFleet(['ship1', 'ship2'], { perNode });
      fleet = f;
      const d = await f.central.node.send({ toNode: 'ship2', method: 'REQCliCommand', methodArgs: ['echo', 'over nats'] });
      expect((await d.reply).data).toBe('over nats\n');
    } finally {
      await Promise.all((fleet?.all ?? []).map((n) => n.stop()));
      await server.stop();
    }
  });
});
