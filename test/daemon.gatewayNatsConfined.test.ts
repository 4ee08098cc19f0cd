/**
 * `bosun nats-config --gateway` gives the nodes that run a receptor gateway what the
 * gateway needs on NATS, and only them: two daemons with gateways, each logged in with
 * its confined nkey, share the registry in NATS KV, forward jobs to each other and publish
 * replies to the JetStream stream without a single permissions violation, while a node
 * without a gateway still may not touch the gateway's subjects. Real daemons, the real
 * CLI, a real nats-server running the generated configuration.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { connect, createInbox, headers, nkeyAuthenticator, nkeys, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, removeTempDirs, runBosun, tempDir } from './helpers/daemon.ts';
import { permissionViolations, startNatsServer, type NatsServer } from './helpers/natsServer.ts';
import { dialReceptorNode, eventually, frameBodies, numberedReply, README_IDENTITY, type ReceptorTestNode } from './helpers/receptorClient.ts';

const STREAM = 'RECEPTOR_CONTROLLER_RESPONSES';
const JOBS_STREAM = 'RECEPTOR_CONTROLLER_JOBS';
const JOBS_SUBJECT = 'platform.receptor-controller.jobs';
/** A service that sends jobs: the operator adds its login by hand, as the gateway's README says. */
const JOBS_SERVICE = { user: 'jobs-service', password: 'jobs-service-password' };
const NODES = ['central', 'ship1', 'ship2'] as const;
type NodeName = (typeof NODES)[number];

let dir: string;
let logFile: string;
let nats: NatsServer;
const users = {} as Record<NodeName, { publicKey: string; seed: Uint8Array; seedFile: string }>;
const daemons: Daemon[] = [];
const connections: NatsConnection[] = [];
let node: ReceptorTestNode | undefined;

beforeAll(async () => {
  dir = await tempDir('bosun-gwconf-');
  for (const name of NODES) {
    const user = nkeys.createUser();
    const seedFile = path.join(dir, `${name}.seed`);
    await writeFile(seedFile, user.getSeed(), { mode: 0o600 });
    users[name] = { publicKey: user.getPublicKey(), seed: user.getSeed(), seedFile };
  }
  const nkeyFile = path.join(dir, 'nkeys.txt');
  await writeFile(nkeyFile, NODES.map((n) => `${n} ${users[n].publicKey}\n`).join(''));
  const conf = path.join(dir, 'fleet.conf');
  const made = await runBosun(['nats-config', '--nkeys', nkeyFile, '--gateway', 'central,ship1', '--output', conf]);
  expect(made).toMatchObject({ code: 0, stderr: '' });
  const service = `    { user: "${JOBS_SERVICE.user}", password: "${JOBS_SERVICE.password}", permissions: { publish: { allow: ["${JOBS_SUBJECT}"] }, subscribe: { allow: ["_INBOX.>"] } } }`;
  await writeFile(conf, (await readFile(conf, 'utf8')).replace('  users = [\n', `  users = [\n${service}\n`));
  logFile = path.join(dir, 'nats-server.log');
  nats = await startNatsServer({ jetStream: { storeDir: path.join(dir, 'jetstream') }, args: ['-c', conf, '-l', logFile] });
});

afterAll(async () => {
  node?.terminate();
  await Promise.all(daemons.map((d) => d.stop()));
  await Promise.all(connections.map((nc) => nc.close()));
  await nats?.stop();
  removeTempDirs();
});

async function as(name: NodeName): Promise<NatsConnection> {
  const nc = await connect({ servers: nats.url, authenticator: nkeyAuthenticator(users[name].seed) });
  connections.push(nc);
  return nc;
}

async function gatewayDaemon(name: NodeName, instance: string): Promise<string> {
  const daemon = await Daemon.start({
    node: name,
    args: ['--gateway-listen', '127.0.0.1:0', '--nats', nats.url, '--nats-nkey-seed-file', users[name].seedFile],
    env: { RECEPTOR_CONTROLLER_GATEWAY_CONNECTION_REGISTRAR_IMPL: 'nats', RECEPTOR_CONTROLLER_GATEWAY_INSTANCE_ID: instance },
  });
  daemons.push(daemon);
  const listening = await daemon.waitForLog((line) => line.msg === 'receptor gateway listening');
  expect(listening).toMatchObject({ nats: 'joined', jetStream: true });
  return `http://${String(daemon.started.gateway)}`;
}

/** The server's permissions violations of `name`'s login, from its log. */
function violations(name: NodeName): Promise<string[]> {
  return permissionViolations(logFile, users[name].publicKey);
}

describe('nats-config --gateway', () => {
  it('lets a gateway node logged in with its confined nkey run the gateway end to end', async () => {
    const holderUrl = await gatewayDaemon('central', 'gw-a');
    const otherUrl = await gatewayDaemon('ship1', 'gw-b');
    node = await dialReceptorNode(holderUrl);

    // A job posted to the other instance reaches the node through the shared registry and forwarding.
    const posted = await fetch(`${otherUrl}/job`, {
      method: 'POST',
      headers: { 'x-rh-identity': README_IDENTITY },
      body: JSON.stringify({ account: '0000001', recipient: 'node-b', payload: 'confined', directive: 'workername:action' }),
    });
    expect(posted.status).toBe(201);
    const { id } = (await posted.json()) as { id: string };
    expect(frameBodies(await node.next(5000))[1]).toMatchObject({ message_id: id, raw_payload: 'confined' });

    // The node's reply reaches the JetStream stream (read with the gateway node's own login).
    await node.send(numberedReply(1, id));
    const jsm = await (await as('central')).jetstreamManager();
    await eventually(async () => (await jsm.streams.info(STREAM)).state.messages === 1, 15_000);

    // A job from the jobs subject is taken from the stream, sent, acknowledged and answered on its Reply-To.
    const service = await connect({ servers: nats.url, user: JOBS_SERVICE.user, pass: JOBS_SERVICE.password });
    connections.push(service);
    const inbox = createInbox();
    const answers = service.subscribe(inbox, { max: 1 });
    await service.flush();
    const h = headers();
    h.set('Reply-To', inbox);
    service.publish(JOBS_SUBJECT, new TextEncoder().encode(JSON.stringify({ account: '0000001', recipient: 'node-b', payload: 'by the bus', directive: 'workername:action' })), { headers: h });
    const [answer, directive] = await Promise.all([(async () => { for await (const m of answers) return m.json<{ id: string }>(); })(), node.next(10_000)]);
    expect(frameBodies(directive)[1]).toMatchObject({ message_id: answer!.id, raw_payload: 'by the bus' });
    await eventually(async () => (await jsm.streams.info(JOBS_STREAM)).state.messages === 0, 10_000);

    expect(await violations('central')).toEqual([]);
    expect(await violations('ship1')).toEqual([]);
  });

  it("keeps a node without a gateway off the gateway's subjects and JetStream API", async () => {
    const ship2 = await as('ship2');
    const subscriptionErrors: string[] = [];
    ship2.subscribe('bosun.receptor.gateway.>', { callback: (error) => error && subscriptionErrors.push(error.message) });
    ship2.publish('platform.receptor-controller.responses', new TextEncoder().encode('{"payload":"forged"}'));
    ship2.publish('$KV.bosun_receptor_connections.0000001.node-b', new TextEncoder().encode('{}'));
    await expect(ship2.request('bosun.receptor.gateway.gw-a.job', new TextEncoder().encode('{}'), { timeout: 2000 })).rejects.toThrow();
    await expect(ship2.jetstreamManager()).rejects.toThrow();
    await ship2.flush();

    await eventually(async () => (await violations('ship2')).length >= 5, 5000);
    const denied = (await violations('ship2')).join('\n');
    for (const subject of [
      'bosun.receptor.gateway.>',
      'platform.receptor-controller.responses',
      '$KV.bosun_receptor_connections.0000001.node-b',
      'bosun.receptor.gateway.gw-a.job',
      '$JS.API.INFO',
    ]) {
      expect(denied).toContain(`"${subject}"`);
    }
    expect(subscriptionErrors.join('\n')).toMatch(/permissions violation/i);
    const jsm = await (await as('central')).jetstreamManager();
    expect((await jsm.streams.info(STREAM)).state.messages).toBe(1);
  });
});
