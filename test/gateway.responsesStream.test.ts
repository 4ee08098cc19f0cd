/**
 * With NATS, every reply a node sends also goes into a JetStream stream on
 * `platform.receptor-controller.responses`, from the durable local log: a consumer that
 * is down loses nothing, and neither does a reply that arrives while nats-server is down.
 * A real `nats-server -js`, killed and restarted by the test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, connect, type JsMsg, type NatsConnection, StorageType } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { regKey } from '../src/store/keys.ts';
import { LevelStore } from '../src/store/LevelStore.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';
import { CAPTURED, eventually, patchVector, type ReceptorTestNode, startTestGateway, type TestGateway, vectors } from './helpers/receptorClient.ts';

const STREAM = 'RECEPTOR_CONTROLLER_RESPONSES';
const SUBJECT = 'platform.receptor-controller.responses';
const CAPTURED_REPLY_ID = '7194ee09-a696-4a54-aa86-d7ad680e9656';

let server: NatsServer;
let dir: string;
const running: TestGateway[] = [];
const nodes: ReceptorTestNode[] = [];
const connections: NatsConnection[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bosun-gw-js-'));
  server = await startNatsServer({ jetStream: { storeDir: join(dir, 'jetstream') } });
});

afterEach(async () => {
  for (const node of nodes.splice(0)) node.terminate();
  await Promise.all(running.splice(0).map((gw) => gw.close()));
  await Promise.all(connections.splice(0).map((nc) => nc.close()));
  if (!server.running) await server.restart();
  const nc = await natsClient();
  await (await nc.jetstreamManager()).streams.delete(STREAM).catch(() => false);
});

afterAll(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

async function natsClient(): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url });
  connections.push(nc);
  return nc;
}

async function gatewayWithNode(options: Parameters<typeof startTestGateway>[0] = {}): Promise<{ gw: TestGateway; node: ReceptorTestNode }> {
  const gw = await startTestGateway({ ...options, env: { RECEPTOR_CONTROLLER_NATS_URL: server.url, ...options.env } });
  running.push(gw);
  const node = await gw.connectNode();
  nodes.push(node);
  await gw.waitForConnection(CAPTURED.account, CAPTURED.nodeId);
  return { gw, node };
}

/** The n-th reply of the test: its own message id, answering job `jobId`, payload `r<n>`. */
function reply(n: number, jobId: string = CAPTURED.jobMessageId): Buffer {
  const messageId = `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  return patchVector(vectors.workernameEof, [
    [CAPTURED_REPLY_ID, messageId],
    [CAPTURED.jobMessageId, jobId],
    ['Error loading directive handlers for workername', `r${n}`],
  ]);
}

async function streamMessages(nc: NatsConnection): Promise<number> {
  try {
    return (await (await nc.jetstreamManager()).streams.info(STREAM)).state.messages;
  } catch {
    return -1;
  }
}

/** Everything in the stream, read as a consumer that starts late would: a new durable consumer, acking each one. */
async function readAll(nc: NatsConnection, expected: number): Promise<JsMsg[]> {
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.add(STREAM, { durable_name: 'late-reader', ack_policy: AckPolicy.Explicit });
  const consumer = await nc.jetstream().consumers.get(STREAM, 'late-reader');
  const read: JsMsg[] = [];
  while (read.length < expected) {
    const batch = await consumer.fetch({ max_messages: expected - read.length, expires: 2000 });
    let got = 0;
    for await (const msg of batch) {
      msg.ack();
      read.push(msg);
      got++;
    }
    if (got === 0) break;
  }
  return read;
}

function payloads(messages: JsMsg[]): string[] {
  return messages.map((m) => (m.json() as { payload: string }).payload);
}

describe('the responses stream on JetStream', () => {
  it('creates the stream and publishes every reply as a record keyed by its job id', async () => {
    const { node } = await gatewayWithNode();
    const jobId = '11111111-1111-4111-8111-111111111111';
    await node.send(reply(1, jobId));
    await node.send(reply(2, jobId));
    const nc = await natsClient();
    await eventually(async () => (await streamMessages(nc)) === 2, 10_000);
    const info = await (await nc.jetstreamManager()).streams.info(STREAM);
    expect(info.config).toMatchObject({ subjects: [SUBJECT], storage: StorageType.File });
    const [first, second] = await readAll(nc, 2);
    expect(first!.subject).toBe(SUBJECT);
    expect(first!.headers?.get('Key')).toBe(jobId);
    expect(first!.headers?.get('Nats-Msg-Id')).toBe('00000000-0000-4000-8000-000000000001');
    expect(first!.json()).toEqual({
      account: '0000001',
      sender: 'node-b',
      message_id: '00000000-0000-4000-8000-000000000001',
      message_type: 'eof',
      payload: 'r1',
      code: 1,
      in_response_to: jobId,
      serial: 1,
    });
    expect(second!.json()).toMatchObject({ payload: 'r2', in_response_to: jobId });
  });

  it('loses and duplicates nothing when nats-server is killed and restarted in the middle', async () => {
    const { gw, node } = await gatewayWithNode();
    const nc = await natsClient();
    for (let n = 1; n <= 5; n++) await node.send(reply(n));
    await eventually(async () => (await streamMessages(nc)) === 5, 10_000);

    await server.kill();
    for (let n = 6; n <= 10; n++) await node.send(reply(n));
    // The replies are in the local log while NATS is down, and the forwarder has tried and failed.
    await eventually(() => gw.gateway.responses.lastSeq === 10);
    await eventually(() => gw.gateway.metrics.responsesStreamFailures.value() > 0, 15_000);

    await server.restart();
    for (let n = 11; n <= 15; n++) await node.send(reply(n));
    const after = await natsClient();
    await eventually(async () => (await streamMessages(after)) === 15, 30_000);
    const all = await readAll(after, 15);
    expect(payloads(all)).toEqual(Array.from({ length: 15 }, (_, i) => `r${i + 1}`));
    expect(await streamMessages(after)).toBe(15);
    // Still served from the local log as well.
    expect((await gw.http('GET', '/responses?after=0&limit=100')).json.responses).toHaveLength(15);
  });

  it('closes while nats-server is down, keeping the unsent replies for the next start', async () => {
    const { gw, node } = await gatewayWithNode();
    await server.kill();
    await node.send(reply(1));
    await eventually(() => gw.gateway.responses.lastSeq === 1);
    running.splice(running.indexOf(gw), 1);
    await gw.close();
    expect(await gw.store.get(regKey(`receptor!resp-forwarded!${STREAM}`))).toBeUndefined();
  });

  it('publishes nothing twice when a restarted gateway sends records again whose acknowledgement it lost', async () => {
    const storeDir = await mkdtemp(join(tmpdir(), 'bosun-gw-js-store-'));
    try {
      const store = new LevelStore(join(storeDir, 'db'), { sync: false });
      await store.open();
      const first = await gatewayWithNode({ store });
      for (let n = 1; n <= 4; n++) await first.node.send(reply(n));
      const nc = await natsClient();
      await eventually(async () => (await streamMessages(nc)) === 4, 10_000);
      await first.gw.close();
      // As if the gateway died after JetStream stored the records but before the cursor was written.
      await store.write([{ type: 'put', key: regKey(`receptor!resp-forwarded!${STREAM}`), value: 0 }]);

      const second = await gatewayWithNode({ store });
      await second.node.send(reply(5));
      await eventually(async () => (await streamMessages(nc)) === 5, 10_000);
      await eventually(() => second.gw.gateway.metrics.responsesStreamDuplicates.value() === 4, 10_000);
      expect(payloads(await readAll(nc, 5))).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
      await second.gw.close();
      await store.close();
    } finally {
      await rm(storeDir, { recursive: true, force: true });
    }
  });

  it('keeps the cursor in the store, so a restarted gateway sends only what is new', async () => {
    const storeDir = await mkdtemp(join(tmpdir(), 'bosun-gw-js-store-'));
    try {
      const store = new LevelStore(join(storeDir, 'db'), { sync: false });
      await store.open();
      const first = await gatewayWithNode({ store });
      for (let n = 1; n <= 3; n++) await first.node.send(reply(n));
      const nc = await natsClient();
      await eventually(async () => (await streamMessages(nc)) === 3, 10_000);
      await first.gw.close();
      expect(await store.get(regKey(`receptor!resp-forwarded!${STREAM}`))).toBe(3);

      const second = await gatewayWithNode({ store });
      await second.node.send(reply(4));
      await eventually(async () => (await streamMessages(nc)) === 4, 10_000);
      expect(second.gw.gateway.metrics.responsesStreamDuplicates.value()).toBe(0);
      expect(second.gw.gateway.metrics.responsesStreamPublished.value()).toBe(1);
      await second.gw.close();
      await store.close();
    } finally {
      await rm(storeDir, { recursive: true, force: true });
    }
  });
});
