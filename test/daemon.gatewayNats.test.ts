/**
 * A daemon started with `--nats` and `--gateway-listen` gives its receptor gateway the
 * node's NATS: replies from receptor nodes land on the JetStream stream as well as in the
 * local log. `RECEPTOR_CONTROLLER_NATS_URL=off` keeps the gateway off NATS, and a NATS
 * without JetStream leaves the gateway on its local log, as does none reachable at start
 * until it comes (daemon.gatewayNatsLate.test.ts).
 * Real daemon processes and real nats-servers on loopback.
 */
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, removeTempDirs, tempDir } from './helpers/daemon.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';
import { freePort } from './helpers/ports.ts';
import { CAPTURED, dialReceptorNode, eventually, numberedReply, README_IDENTITY, type ReceptorTestNode } from './helpers/receptorClient.ts';

const STREAM = 'RECEPTOR_CONTROLLER_RESPONSES';
const SUBJECT = 'platform.receptor-controller.responses';
const NO_JETSTREAM_WARNING = 'NATS runs without JetStream';

let jetStreamNats: NatsServer;
let plainNats: NatsServer;
let client: NatsConnection;
const daemons: Daemon[] = [];
const nodes: ReceptorTestNode[] = [];

beforeAll(async () => {
  const dir = await tempDir('bosun-gwnats-');
  jetStreamNats = await startNatsServer({ jetStream: { storeDir: path.join(dir, 'jetstream') } });
  plainNats = await startNatsServer();
  client = await connect({ servers: jetStreamNats.url });
});

afterEach(async () => {
  for (const node of nodes.splice(0)) node.terminate();
  await Promise.all(daemons.splice(0).map((d) => d.stop()));
  await (await client.jetstreamManager()).streams.delete(STREAM).catch(() => false);
});

afterAll(async () => {
  await client.close();
  await jetStreamNats.stop();
  await plainNats.stop();
  removeTempDirs();
});

/** A daemon serving a gateway on 127.0.0.1; resolves with it and the gateway's base URL. */
async function gatewayDaemon(args: string[], env: Record<string, string> = {}): Promise<{ daemon: Daemon; baseUrl: string }> {
  const daemon = await Daemon.start({ node: 'central', args: ['--gateway-listen', '127.0.0.1:0', ...args], env });
  daemons.push(daemon);
  return { daemon, baseUrl: `http://${String(daemon.started.gateway)}` };
}

async function sendReply(baseUrl: string, n: number): Promise<void> {
  const node = await dialReceptorNode(baseUrl);
  nodes.push(node);
  await node.send(numberedReply(n));
}

async function localLog(baseUrl: string): Promise<Array<{ seq: number; value: { payload: unknown } }>> {
  const response = await fetch(`${baseUrl}/responses?after=0&timeout=5`, { headers: { 'x-rh-identity': README_IDENTITY } });
  return ((await response.json()) as { responses: Array<{ seq: number; value: { payload: unknown } }> }).responses;
}

async function streamExists(): Promise<boolean> {
  const names: string[] = [];
  for await (const name of (await client.jetstreamManager()).streams.names()) names.push(name);
  return names.includes(STREAM);
}

describe("a daemon's gateway on the daemon's NATS", () => {
  it('publishes a receptor reply to the JetStream stream when started with --nats', async () => {
    const { baseUrl } = await gatewayDaemon(['--nats', jetStreamNats.url]);
    await sendReply(baseUrl, 1);
    const jsm = await client.jetstreamManager();
    await eventually(async () => (await streamExists()) && (await jsm.streams.info(STREAM)).state.messages === 1, 15_000);
    const stored = await jsm.streams.getMessage(STREAM, { seq: 1 });
    expect(stored.subject).toBe(SUBJECT);
    expect(stored.header.get('Key')).toBe(CAPTURED.jobMessageId);
    expect(stored.json()).toMatchObject({ account: CAPTURED.account, sender: CAPTURED.nodeId, message_type: 'eof', payload: 'r1' });
  });

  it('stays off NATS with RECEPTOR_CONTROLLER_NATS_URL=off, serving replies from its local log', async () => {
    const { baseUrl } = await gatewayDaemon(['--nats', jetStreamNats.url], { RECEPTOR_CONTROLLER_NATS_URL: 'off' });
    await sendReply(baseUrl, 1);
    await eventually(async () => (await localLog(baseUrl)).length === 1, 10_000);
    // A gateway on NATS creates the stream before it listens, so by now it would exist.
    expect(await streamExists()).toBe(false);
  });

  it('warns once and keeps the local log when the NATS runs without JetStream', async () => {
    const { daemon, baseUrl } = await gatewayDaemon(['--nats', plainNats.url]);
    await sendReply(baseUrl, 1);
    await sendReply(baseUrl, 2);
    await eventually(async () => (await localLog(baseUrl)).length === 2, 10_000);
    expect((await localLog(baseUrl)).map((r) => r.value.payload)).toEqual(['r1', 'r2']);
    expect(daemon.logs.filter((line) => line.msg.includes(NO_JETSTREAM_WARNING))).toHaveLength(1);
  });

  it("starts on its local log, with a warning, when the node's NATS is down at start", async () => {
    const downUrl = `nats://127.0.0.1:${await freePort()}`;
    const { daemon, baseUrl } = await gatewayDaemon(['--nats', downUrl]);
    expect(daemon.logs.some((line) => line.msg.includes("cannot use the node's NATS"))).toBe(true);
    await sendReply(baseUrl, 1);
    await eventually(async () => (await localLog(baseUrl)).length === 1, 10_000);
  });
});
