/**
 * Jobs on the NATS subject `platform.receptor-controller.jobs`, with the JSON of
 * `POST /job`: they reach the node on whichever gateway instance holds it, answers go to
 * the `Reply-To` header (or a core request's reply subject), jobs published while no
 * gateway takes them wait in a JetStream stream, and bad messages are answered with a
 * clear error and break nothing. Real nats-servers, with and without JetStream.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createInbox, headers, type NatsConnection, type Subscription } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';
import { eventually, frameBodies, type ReceptorTestNode, startTestGateway, type TestGateway } from './helpers/receptorClient.ts';

const SUBJECT = 'platform.receptor-controller.jobs';
const job = { account: '01', recipient: 'node-b', payload: 'fix_an_issue', directive: 'workername:action' };

const running: TestGateway[] = [];
const nodes: ReceptorTestNode[] = [];
const connections: NatsConnection[] = [];

afterEach(async () => {
  for (const node of nodes.splice(0)) node.terminate();
  await Promise.all(running.splice(0).map((gw) => gw.close()));
  await Promise.all(connections.splice(0).map((nc) => nc.close()));
});

async function client(server: NatsServer): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url });
  connections.push(nc);
  return nc;
}

async function gateway(env: Record<string, string>): Promise<TestGateway> {
  const gw = await startTestGateway({ env });
  running.push(gw);
  return gw;
}

async function nodeOn(gw: TestGateway): Promise<ReceptorTestNode> {
  const node = await gw.connectNode();
  nodes.push(node);
  await gw.waitForConnection('0000001', 'node-b');
  return node;
}

/** Collects the answers published to a fresh inbox. */
function answers(nc: NatsConnection): { inbox: string; next(timeoutMs?: number): Promise<any>; subscription: Subscription } {
  const inbox = createInbox();
  const subscription = nc.subscribe(inbox);
  const iterator = subscription[Symbol.asyncIterator]();
  return {
    inbox,
    subscription,
    async next(timeoutMs = 10_000) {
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs));
      const { value } = await Promise.race([iterator.next(), timeout]);
      return value.json();
    },
  };
}

function jobHeaders(replyTo: string, msgId?: string) {
  const h = headers();
  h.set('Reply-To', replyTo);
  if (msgId) h.set('Nats-Msg-Id', msgId);
  return h;
}

describe('jobs on the subject, with JetStream', () => {
  let server: NatsServer;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bosun-gw-jobs-'));
    server = await startNatsServer({ jetStream: { storeDir: dir } });
  });

  afterAll(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const env = (instance: string, extra: Record<string, string> = {}) => ({
    RECEPTOR_CONTROLLER_GATEWAY_CONNECTION_REGISTRAR_IMPL: 'nats',
    RECEPTOR_CONTROLLER_NATS_URL: server.url,
    RECEPTOR_CONTROLLER_GATEWAY_INSTANCE_ID: instance,
    ...extra,
  });

  /** `holder` keeps the node's socket and takes no jobs; `taker` takes the jobs. */
  async function twoInstances(takerEnv: Record<string, string> = {}) {
    const holder = await gateway(env('gw-holder', { RECEPTOR_CONTROLLER_JOBS_INTAKE: 'false' }));
    const taker = await gateway(env('gw-taker', takerEnv));
    return { holder, taker };
  }

  it('sends a job taken by one instance to the node on the other, and answers its id on Reply-To', async () => {
    const { holder, taker } = await twoInstances();
    const node = await nodeOn(holder);
    const nc = await client(server);
    const inbox = answers(nc);
    nc.publish(SUBJECT, JSON.stringify(job), { headers: jobHeaders(inbox.inbox) });
    const answer = await inbox.next();
    expect(answer).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(frameBodies(await node.next(10_000))[1]).toMatchObject({ message_id: answer.id, raw_payload: 'fix_an_issue', directive: 'workername:action' });
    expect(taker.gateway.metrics.forwarded.value()).toBe(1);
    expect(taker.gateway.metrics.busJobs.value({ status: '201' })).toBe(1);
  });

  it('takes a UUID in Nats-Msg-Id as the job id, and lets JetStream drop a repeated publish', async () => {
    const { holder } = await twoInstances();
    const node = await nodeOn(holder);
    const nc = await client(server);
    const inbox = answers(nc);
    const id = randomUUID();
    const js = nc.jetstream();
    const first = await js.publish(SUBJECT, JSON.stringify(job), { headers: jobHeaders(inbox.inbox), msgID: id });
    const again = await js.publish(SUBJECT, JSON.stringify(job), { headers: jobHeaders(inbox.inbox), msgID: id });
    expect([first.duplicate, again.duplicate]).toEqual([false, true]);
    expect(await inbox.next()).toEqual({ id });
    expect(frameBodies(await node.next(10_000))[1]).toMatchObject({ message_id: id });
    await expect(node.next(1500)).rejects.toThrow(/no message/);
  });

  it('keeps jobs published while no gateway takes them, and sends them once one does', async () => {
    const { holder, taker } = await twoInstances();
    const node = await nodeOn(holder);
    await taker.close();
    const nc = await client(server);
    const inbox = answers(nc);
    const ack = await nc.jetstream().publish(SUBJECT, JSON.stringify({ ...job, payload: 'while down' }), { headers: jobHeaders(inbox.inbox) });
    expect(ack.stream).toBe('RECEPTOR_CONTROLLER_JOBS');
    await expect(node.next(1000)).rejects.toThrow(/no message/);
    await gateway(env('gw-taker-again'));
    const answer = await inbox.next();
    expect(frameBodies(await node.next(10_000))[1]).toMatchObject({ message_id: answer.id, raw_payload: 'while down' });
  });

  it('holds a job until its node connects, and answers 404 once the wait is over', async () => {
    const { holder } = await twoInstances({ RECEPTOR_CONTROLLER_JOBS_NODE_WAIT: '3' });
    const nc = await client(server);
    const early = answers(nc);
    nc.publish(SUBJECT, JSON.stringify({ ...job, payload: 'before the node' }), { headers: jobHeaders(early.inbox) });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const node = await nodeOn(holder);
    const answer = await early.next();
    expect(frameBodies(await node.next(10_000))[1]).toMatchObject({ message_id: answer.id, raw_payload: 'before the node' });

    const lost = answers(nc);
    nc.publish(SUBJECT, JSON.stringify({ ...job, recipient: 'node-nowhere' }), { headers: jobHeaders(lost.inbox) });
    expect(await lost.next(15_000)).toEqual({ title: 'Not Found', status: 404, detail: 'No connection found for node (01:node-nowhere)' });
  });

  it('goes on taking jobs after nats-server was killed and restarted', async () => {
    const { holder } = await twoInstances();
    const node = await nodeOn(holder);
    await server.kill();
    await server.restart();
    const nc = await client(server);
    const inbox = answers(nc);
    await nc.jetstream().publish(SUBJECT, JSON.stringify({ ...job, payload: 'after the restart' }), { headers: jobHeaders(inbox.inbox) });
    const answer = await inbox.next(30_000);
    expect(frameBodies(await node.next(10_000))[1]).toMatchObject({ message_id: answer.id, raw_payload: 'after the restart' });
  });

  it('answers bad messages with 400 and what is wrong, and goes on taking jobs', async () => {
    const { holder, taker } = await twoInstances();
    const node = await nodeOn(holder);
    const nc = await client(server);
    const bad: Array<[string | Uint8Array, RegExp]> = [
      ['not json', /JSON object/],
      [new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /UTF-8/],
      ['[1,2]', /JSON object/],
      ['{"account": "01"', /badly-formed/],
      [JSON.stringify({ ...job, recipient: undefined }), /"recipient"/],
      [JSON.stringify({ ...job, directive: 'nocolon' }), /namespace:action/],
      [JSON.stringify({ ...job, payload: null }), /"payload"/],
      [JSON.stringify({ ...job, account: 7 }), /"account"/],
    ];
    for (const [data, detail] of bad) {
      const inbox = answers(nc);
      nc.publish(SUBJECT, data, { headers: jobHeaders(inbox.inbox) });
      const answer = await inbox.next();
      expect(answer, String(data)).toMatchObject({ title: 'Bad Request', status: 400, detail: expect.stringMatching(detail) });
    }
    nc.publish(SUBJECT, 'no one to answer to');
    await eventually(() => taker.gateway.metrics.busJobs.value({ status: '400' }) === bad.length + 1, 10_000);
    const inbox = answers(nc);
    nc.publish(SUBJECT, JSON.stringify(job), { headers: jobHeaders(inbox.inbox) });
    expect(frameBodies(await node.next(10_000))[1]).toMatchObject({ message_id: (await inbox.next()).id });
    expect(taker.reports).toEqual([]);
  });
});

describe('jobs on the subject, without JetStream', () => {
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNatsServer();
  });

  afterAll(async () => {
    await server.stop();
  });

  it('answers a core request with the job id, 404 and 400 on its reply subject', async () => {
    const gw = await gateway({ RECEPTOR_CONTROLLER_NATS_URL: server.url });
    const node = await nodeOn(gw);
    const nc = await client(server);
    const sent = (await nc.request(SUBJECT, JSON.stringify(job), { timeout: 10_000 })).json<{ id: string }>();
    expect(frameBodies(await node.next())[1]).toMatchObject({ message_id: sent.id, raw_payload: 'fix_an_issue' });
    const missing = await nc.request(SUBJECT, JSON.stringify({ ...job, recipient: 'node-x' }), { timeout: 10_000 });
    expect(missing.json()).toEqual({ title: 'Not Found', status: 404, detail: 'No connection found for node (01:node-x)' });
    const bad = await nc.request(SUBJECT, '{', { timeout: 10_000 });
    expect(bad.json()).toMatchObject({ status: 400 });
  });

  it('shares the subject among instances in a queue group, so each job is sent once', async () => {
    const gw = await gateway({ RECEPTOR_CONTROLLER_NATS_URL: server.url });
    const other = await gateway({ RECEPTOR_CONTROLLER_NATS_URL: server.url });
    const nc = await client(server);
    for (let i = 0; i < 10; i++) {
      const answer = await nc.request(SUBJECT, JSON.stringify({ ...job, recipient: 'node-x' }), { timeout: 10_000 });
      expect(answer.json()).toMatchObject({ status: 404 });
    }
    const taken = gw.gateway.metrics.busJobs.value({ status: '404' }) + other.gateway.metrics.busJobs.value({ status: '404' });
    expect(taken).toBe(10);
  });
});
