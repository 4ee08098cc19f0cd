/**
 * A daemon's gateway whose NATS is not there at start joins it when it comes: it moves the
 * sessions it holds to the shared registry, sends the replies kept meanwhile to JetStream
 * (once each), and takes jobs from the jobs subject. After NATS goes away and comes back,
 * leases, forwarding and the jobs intake resume, and a NATS that lost its storage gets
 * the registry bucket, the streams and the jobs consumer made again. Real daemon
 * processes, a real nats-server started late, killed and restarted on loopback.
 */
import path from 'node:path';
import { connect, createInbox, headers, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, removeTempDirs, tempDir } from './helpers/daemon.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';
import { freePort } from './helpers/ports.ts';
import { dialReceptorNode, eventually, frameBodies, numberedReply, README_IDENTITY, type ReceptorTestNode } from './helpers/receptorClient.ts';

const STREAM = 'RECEPTOR_CONTROLLER_RESPONSES';
const JOBS_SUBJECT = 'platform.receptor-controller.jobs';
const WAITING = "the gateway cannot use the node's NATS yet";
const JOINED = "the gateway joined the node's NATS";
const JOB = { account: '0000001', recipient: 'node-b', directive: 'workername:action' };

let natsUrl: string;
let natsPort: number;
let storeDir: string;
let nats: NatsServer | undefined;
let client: NatsConnection | undefined;
const daemons: Daemon[] = [];
let node: ReceptorTestNode | undefined;

beforeAll(async () => {
  storeDir = path.join(await tempDir('bosun-gwlate-'), 'jetstream');
  natsPort = await freePort();
  natsUrl = `nats://127.0.0.1:${natsPort}`;
});

afterAll(async () => {
  node?.terminate();
  await Promise.all(daemons.map((d) => d.stop()));
  await client?.close();
  await nats?.stop();
  removeTempDirs();
});

/** Short leases, so an outage of a few seconds outlives them. */
function gatewayEnv(instance: string): Record<string, string> {
  return {
    RECEPTOR_CONTROLLER_GATEWAY_CONNECTION_REGISTRAR_IMPL: 'nats',
    RECEPTOR_CONTROLLER_GATEWAY_INSTANCE_ID: instance,
    RECEPTOR_CONTROLLER_GATEWAY_CONNECTION_LEASE: '2',
    RECEPTOR_CONTROLLER_GATEWAY_ACTIVE_CONNECTION_REGISTRAR_POLL_MIN_DELAY: '200',
    RECEPTOR_CONTROLLER_GATEWAY_ACTIVE_CONNECTION_REGISTRAR_POLL_MAX_DELAY: '400',
  };
}

async function gatewayDaemon(name: string, instance: string): Promise<{ daemon: Daemon; baseUrl: string }> {
  const daemon = await Daemon.start({ node: name, args: ['--gateway-listen', '127.0.0.1:0', '--nats', natsUrl], env: gatewayEnv(instance) });
  daemons.push(daemon);
  return { daemon, baseUrl: `http://${String(daemon.started.gateway)}` };
}

async function localLog(baseUrl: string): Promise<unknown[]> {
  const response = await fetch(`${baseUrl}/responses?after=0&timeout=5`, { headers: { 'x-rh-identity': README_IDENTITY } });
  return ((await response.json()) as { responses: unknown[] }).responses;
}

/** The payloads of every message in the responses stream, in stream order. */
async function streamPayloads(): Promise<unknown[]> {
  const jsm = await client!.jetstreamManager();
  const info = await jsm.streams.info(STREAM).catch(() => undefined);
  const payloads: unknown[] = [];
  for (let seq = 1; seq <= (info?.state.last_seq ?? 0); seq++) payloads.push((await jsm.streams.getMessage(STREAM, { seq })).json<{ payload: unknown }>().payload);
  return payloads;
}

async function expectStream(payloads: string[]): Promise<void> {
  // The test's own client may still be reconnecting after a restart.
  await eventually(async () => (await streamPayloads().catch(() => [])).length >= payloads.length, 20_000);
  expect(await streamPayloads()).toEqual(payloads);
}

/** POST /job to `baseUrl` until it is accepted (registry entries come back within a lease refresh); the node gets the directive. */
async function jobOverHttp(baseUrl: string, payload: string): Promise<void> {
  let id: string | undefined;
  await eventually(async () => {
    const response = await fetch(`${baseUrl}/job`, { method: 'POST', headers: { 'x-rh-identity': README_IDENTITY }, body: JSON.stringify({ ...JOB, payload }) });
    if (response.status !== 201) return false;
    id = ((await response.json()) as { id: string }).id;
    return true;
  }, 20_000);
  expect(frameBodies(await node!.next(5000))[1]).toMatchObject({ message_id: id, raw_payload: payload });
}

/** A job published on the jobs subject with a Reply-To; resolves once its answer came and the node got it. */
async function jobOverNats(payload: string): Promise<void> {
  const inbox = createInbox();
  const answers = client!.subscribe(inbox, { max: 1 });
  const h = headers();
  h.set('Reply-To', inbox);
  await client!.jetstream().publish(JOBS_SUBJECT, new TextEncoder().encode(JSON.stringify({ ...JOB, payload })), { headers: h });
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer to the job on the jobs subject')), 20_000));
  const answer = await Promise.race([(async () => { for await (const m of answers) return m.json<{ id?: string }>(); })(), timeout]);
  expect(answer).toHaveProperty('id');
  expect(frameBodies(await node!.next(5000))[1]).toMatchObject({ message_id: answer!.id, raw_payload: payload });
}

describe("a daemon's gateway and a NATS that is not there at start", () => {
  let baseA: string;
  let baseB: string;
  let holder: Daemon;

  it('runs locally while NATS is away, then joins it: shared registry, replies kept meanwhile, jobs subject', async () => {
    const a = await gatewayDaemon('central', 'gw-a');
    holder = a.daemon;
    baseA = a.baseUrl;
    node = await dialReceptorNode(baseA);
    await node.send(numberedReply(1));
    await eventually(async () => (await localLog(baseA)).length === 1, 10_000);

    nats = await startNatsServer({ port: natsPort, jetStream: { storeDir } });
    client = await connect({ servers: natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    await holder.waitForLog((line) => line.msg === JOINED, 30_000);
    expect(holder.logs.filter((line) => line.msg.startsWith(WAITING))).toHaveLength(1);

    // The reply kept while NATS was away goes out from the stored cursor, then new ones follow it.
    await expectStream(['r1']);
    await node.send(numberedReply(2));
    await expectStream(['r1', 'r2']);

    // Another instance finds the node, which registered before NATS was there, in the shared registry.
    baseB = (await gatewayDaemon('ship1', 'gw-b')).baseUrl;
    await jobOverHttp(baseB, 'via gw-b');
    await jobOverNats('via the jobs subject');
  });

  it('resumes leases, forwarding and the jobs intake after NATS is killed and restarted', async () => {
    await nats!.kill();
    await node!.send(numberedReply(3));
    await eventually(async () => (await localLog(baseA)).length === 3, 10_000);
    // Longer than the lease: the restarted server has expired the registry entry.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await nats!.restart();

    await expectStream(['r1', 'r2', 'r3']);
    await jobOverHttp(baseB, 'via gw-b, after the restart');
    await jobOverNats('via the jobs subject, after the restart');
    expect(holder.logs.filter((line) => line.msg.startsWith(WAITING))).toHaveLength(1);
  });

  it('makes again what a NATS restarted without its storage lost: registry bucket, streams, jobs consumer', async () => {
    await nats!.stop();
    nats = await startNatsServer({ port: natsPort, jetStream: { storeDir: `${storeDir}-fresh` } });
    await node!.send(numberedReply(4));
    await expectStream(['r4']);
    await jobOverHttp(baseB, 'via gw-b, on a fresh NATS');
    await eventually(async () => {
      const jsm = await client!.jetstreamManager().catch(() => undefined);
      return (await jsm?.consumers.info('RECEPTOR_CONTROLLER_JOBS', 'receptor-gateway').catch(() => undefined)) !== undefined;
    }, 20_000);
    await jobOverNats('via the jobs subject, on a fresh NATS');
  });
});
