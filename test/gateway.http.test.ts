/**
 * The receptor-controller REST API: every endpoint with good and bad input, and every way
 * of authenticating (identity, PSK) or failing to.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import WebSocket from 'ws';
import { VirtualClock } from '../src/clock.ts';
import { startReceptorGateway } from '../src/gateway/index.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import pino from 'pino';
import {
  CAPTURED,
  frameBodies,
  identityFor,
  patchVector,
  README_IDENTITY,
  ReceptorTestNode,
  startTestGateway,
  type TestGateway,
  vectors,
} from './helpers/receptorClient.ts';

const CREDENTIALS = { test_client_1: '12345', test_client_2: '6789' };
const psk = (client: string, account: string, key: string) => ({
  'x-rh-receptor-controller-client-id': client,
  'x-rh-receptor-controller-account': account,
  'x-rh-receptor-controller-psk': key,
});
const job = { account: '0000001', recipient: 'node-b', payload: 'fix_an_issue', directive: 'workername:action' };
const nodeB = { account: '0000001', node_id: 'node-b' };

let gw: TestGateway;
let clock: VirtualClock;
let nodeOfB: ReceptorTestNode;

beforeAll(async () => {
  clock = new VirtualClock();
  gw = await startTestGateway({ clock, env: { RECEPTOR_CONTROLLER_SERVICE_TO_SERVICE_CREDENTIALS: JSON.stringify(CREDENTIALS) } });
  nodeOfB = await gw.connectNode();
  await gw.waitForConnection('0000001', 'node-b');
  // A node of another account, which account 0000001 must never see.
  const other = await ReceptorTestNode.connect(gw.wsUrl, { headers: { 'x-rh-identity': identityFor('0000002') } });
  await other.send(patchVector(vectors.nodeHi, [['"node-b"', '"node-c"']]));
  await other.next();
  await gw.waitForConnection('0000002', 'node-c');
});

afterAll(async () => {
  await gw.close();
});

/** Answers the next ping directive the test node gets with the captured response. */
async function answerNextPing(node: ReceptorTestNode): Promise<void> {
  const directive = frameBodies(await node.next())[1] as { message_id: string };
  await node.send(patchVector(vectors.pingResponse, [[CAPTURED.pingMessageId, directive.message_id]]));
}

describe('authentication', () => {
  it('accepts an x-rh-identity and takes the account from it', async () => {
    expect((await gw.http('GET', '/connection')).status).toBe(200);
  });

  it('accepts all three PSK headers with a known client id and its key', async () => {
    const answer = await gw.http('POST', '/connection/status', { body: nodeB, headers: psk('test_client_1', '0000001', '12345') });
    expect(answer).toMatchObject({ status: 200, json: { status: 'connected' } });
  });

  it.each([
    ['no credentials at all', {}],
    ['a wrong key', psk('test_client_1', '0000001', '1234')],
    ["another client's key", psk('test_client_1', '0000001', '6789')],
    ['an unknown client id', psk('nobody', '0000001', '12345')],
    ['a missing account header', { 'x-rh-receptor-controller-client-id': 'test_client_1', 'x-rh-receptor-controller-psk': '12345' }],
    ['an empty key', psk('test_client_1', '0000001', '')],
  ])('answers 401 "Authentication failed" for %s', async (_name, headers) => {
    const answer = await gw.http('POST', '/job', { body: job, headers });
    expect(answer).toMatchObject({ status: 401, json: { title: 'Unauthorized', status: 401, detail: 'Authentication failed' } });
  });

  it.each([
    ['not base64', 'not base64!'],
    ['not JSON', Buffer.from('hello').toString('base64')],
    ['without an account', Buffer.from(JSON.stringify({ identity: { internal: { org_id: '1' } } })).toString('base64')],
    ['with account -1', Buffer.from(JSON.stringify({ identity: { account_number: '-1' } })).toString('base64')],
  ])('answers 400 for an identity %s', async (_name, identity) => {
    const answer = await gw.http('GET', '/connection', { headers: { 'x-rh-identity': identity } });
    expect(answer).toMatchObject({ status: 400, json: { title: 'Bad Request', status: 400 } });
  });

  it.each([
    ['identity', { 'x-rh-identity': identityFor('0000002') }],
    ['PSK', psk('test_client_2', '0000002', '6789')],
  ])('answers 403 when the body names an account other than the caller (%s)', async (_name, headers) => {
    for (const [path, body] of [
      ['/job', job],
      ['/connection/disconnect', nodeB],
    ] as const) {
      const answer = await gw.http('POST', path, { body, headers });
      expect(answer, path).toMatchObject({ status: 403, json: { title: 'Forbidden', status: 403, detail: 'The caller may not act for account 0000001' } });
    }
    expect((await gw.http('GET', '/connection/0000001', { headers })).status).toBe(403);
  });

  it.each([
    ['identity', { 'x-rh-identity': identityFor('0000002') }],
    ['PSK', psk('test_client_2', '0000002', '6789')],
  ])("answers status and ping of another account's node as not connected (%s)", async (_name, headers) => {
    expect((await gw.http('POST', '/connection/status', { body: nodeB, headers })).json).toEqual({ status: 'disconnected', capabilities: null });
    expect((await gw.http('POST', '/connection/ping', { body: nodeB, headers })).json).toEqual({ status: 'disconnected', payload: null });
    expect(nodeOfB.unread).toBe(0);
  });
});

describe('account numbers compare as numbers', () => {
  it('takes "01" and "0001" for the node registered by an identity of "0000001"', async () => {
    const viaIdentity = await gw.http('POST', '/job', { body: { ...job, account: '01' } });
    expect(viaIdentity.status).toBe(201);
    expect(frameBodies(await nodeOfB.next())[1]).toMatchObject({ message_id: viaIdentity.json.id });
    const viaPsk = await gw.http('POST', '/job', { body: { ...job, account: '01' }, headers: psk('test_client_1', '0001', '12345') });
    expect(viaPsk.status).toBe(201);
    expect(frameBodies(await nodeOfB.next())[1]).toMatchObject({ message_id: viaPsk.json.id });
    expect((await gw.http('POST', '/connection/status', { body: { account: '001', node_id: 'node-b' } })).json).toMatchObject({ status: 'connected' });
    const ping = gw.http('POST', '/connection/ping', { body: { account: '1', node_id: 'node-b' } });
    await answerNextPing(nodeOfB);
    expect((await ping).json).toMatchObject({ status: 'connected', payload: { sender: 'node-b', account: '0000001' } });
  });

  it('lists the account as the node spelled it, whoever asks', async () => {
    const expected = { connections: [{ account: '0000001', connections: ['node-b'] }] };
    expect((await gw.http('GET', '/connection', { headers: psk('test_client_1', '0001', '12345') })).json).toEqual(expected);
    expect((await gw.http('GET', '/connection', { headers: { 'x-rh-identity': identityFor('1') } })).json).toEqual(expected);
    expect((await gw.http('GET', '/connection/01')).json).toEqual({ connections: ['node-b'] });
    expect((await gw.http('GET', '/connection/0000002')).status).toBe(403);
  });

  it('answers status of a node id of the caller\'s own account as not connected when the body names another account', async () => {
    // node-b is connected in the caller's account 0000001; account 02 has no node-b.
    const answer = await gw.http('POST', '/connection/status', { body: { account: '02', node_id: 'node-b' } });
    expect(answer.json).toEqual({ status: 'disconnected', capabilities: null });
  });

  it('compares accounts that are not all digits exactly', async () => {
    const headers = { 'x-rh-identity': identityFor('acct-A') };
    expect((await gw.http('POST', '/job', { body: { ...job, account: 'acct-a' }, headers })).status).toBe(403);
    expect((await gw.http('POST', '/job', { body: { ...job, account: 'acct-A' }, headers })).status).toBe(404);
  });
});

describe('POST /job', () => {
  it('sends the directive and answers 201 with its id', async () => {
    const answer = await gw.http('POST', '/job', { body: job });
    expect(answer.status).toBe(201);
    expect(answer.json).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    const envelope = frameBodies(await nodeOfB.next())[1];
    expect(envelope).toMatchObject({ message_id: answer.json.id, raw_payload: 'fix_an_issue', directive: 'workername:action', recipient: 'node-b' });
  });

  it('passes any JSON payload through as is', async () => {
    const payload = { url: 'http://x/<a>&b', n: [1, 2.5, null] };
    expect((await gw.http('POST', '/job', { body: { ...job, payload } })).status).toBe(201);
    expect(frameBodies(await nodeOfB.next())[1]).toMatchObject({ raw_payload: payload });
  });

  it('answers 404 for a node that is not connected', async () => {
    const answer = await gw.http('POST', '/job', { body: { ...job, recipient: 'node-x' } });
    expect(answer.json).toEqual({ title: 'Not Found', status: 404, detail: 'No connection found for node (0000001:node-x)' });
  });

  it.each(['account', 'recipient', 'payload', 'directive'])('answers 400 when "%s" is missing', async (field) => {
    const body: Record<string, unknown> = { ...job };
    delete body[field];
    const answer = await gw.http('POST', '/job', { body });
    expect(answer.json).toEqual({ title: 'Bad Request', status: 400, detail: `Missing required field "${field}"` });
  });

  it.each([
    ['badly-formed JSON', '{"account": ', 'Request body contains badly-formed JSON'],
    ['trailing JSON after the object', `${JSON.stringify(job)}{"account":"0000001"}`, 'Request body must only contain one json object'],
    ['an empty body', '', 'Request body must not be empty'],
    ['an array', '[1]', 'Request body must be a JSON object'],
    ['a number for a string field', JSON.stringify({ ...job, recipient: 7 }), 'Request body contains an invalid value for the "recipient" field: expected a string'],
    ['a directive without ":"', JSON.stringify({ ...job, directive: 'nocolon' }), 'The "directive" field must be "namespace:action"'],
    ['a null payload', JSON.stringify({ ...job, payload: null }), 'Missing required field "payload"'],
  ])('answers 400 for %s', async (_name, body, detail) => {
    expect((await gw.http('POST', '/job', { body })).json).toEqual({ title: 'Bad Request', status: 400, detail });
  });

  it('accepts trailing whitespace after the object', async () => {
    expect((await gw.http('POST', '/job', { body: `${JSON.stringify(job)}\n  ` })).status).toBe(201);
    await nodeOfB.next();
  });

  it('answers 413 for a body over 1 MiB', async () => {
    const answer = await gw.http('POST', '/job', { body: JSON.stringify({ ...job, payload: 'x'.repeat(1024 * 1024) }) });
    expect(answer).toMatchObject({ status: 413, json: { title: 'Payload Too Large', status: 413 } });
  });
});

describe('connections', () => {
  it("GET /connection lists the caller's account only", async () => {
    expect((await gw.http('GET', '/connection')).json).toEqual({ connections: [{ account: '0000001', connections: ['node-b'] }] });
    const other = await gw.http('GET', '/connection', { headers: { 'x-rh-identity': identityFor('0000002') } });
    expect(other.json).toEqual({ connections: [{ account: '0000002', connections: ['node-c'] }] });
    const none = await gw.http('GET', '/connection', { headers: { 'x-rh-identity': identityFor('0000003') } });
    expect(none.json).toEqual({ connections: [] });
  });

  it('GET /connection/{account} lists its node ids', async () => {
    expect((await gw.http('GET', '/connection/0000001')).json).toEqual({ connections: ['node-b'] });
  });

  it('POST /connection/status gives the capabilities of the HI, or disconnected', async () => {
    expect((await gw.http('POST', '/connection/status', { body: nodeB })).json).toEqual({
      status: 'connected',
      capabilities: { worker_versions: {}, max_work_threads: 6 },
    });
    expect((await gw.http('POST', '/connection/status', { body: { ...nodeB, node_id: 'node-x' } })).json).toEqual({
      status: 'disconnected',
      capabilities: null,
    });
    expect((await gw.http('POST', '/connection/status', { body: { account: '0000001' } })).json).toMatchObject({ status: 400, detail: 'Missing required field "node_id"' });
  });

  it('POST /connection/ping waits for the node reply', async () => {
    const pending = gw.http('POST', '/connection/ping', { body: nodeB });
    await answerNextPing(nodeOfB);
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(answer.json.status).toBe('connected');
    expect(Object.keys(answer.json.payload).sort()).toEqual(['account', 'code', 'in_response_to', 'message_id', 'message_type', 'payload', 'sender', 'serial']);
    expect(JSON.parse(answer.json.payload.payload)).toMatchObject({ active_work: [] });
  });

  it('POST /connection/ping answers payload null for a node that is not connected', async () => {
    expect((await gw.http('POST', '/connection/ping', { body: { ...nodeB, node_id: 'node-x' } })).json).toEqual({ status: 'disconnected', payload: null });
  });

  it('POST /connection/ping fails with 400 "Ping failed" after the 10 s sync-ping timeout', async () => {
    const pending = gw.http('POST', '/connection/ping', { body: nodeB });
    await nodeOfB.next();
    await clock.advance(10_000);
    const answer = await pending;
    expect(answer.status).toBe(400);
    expect(answer.json.detail).toMatch(/^Ping failed: no ping reply from node-b within 10000 ms/);
  });

  it('POST /connection/disconnect closes the socket and answers {}; 400 when there is none', async () => {
    const extra = await ReceptorTestNode.connect(gw.wsUrl, { headers: { 'x-rh-identity': README_IDENTITY } });
    await extra.send(patchVector(vectors.nodeHi, [['"node-b"', '"node-d"']]));
    await extra.next();
    await gw.waitForConnection('0000001', 'node-d');
    const answer = await gw.http('POST', '/connection/disconnect', { body: { ...nodeB, node_id: 'node-d' } });
    expect(answer).toMatchObject({ status: 200, json: {} });
    expect((await extra.closed).code).toBe(1000);
    await gw.waitForConnection('0000001', 'node-d', false);
    const again = await gw.http('POST', '/connection/disconnect', { body: { ...nodeB, node_id: 'node-d' } });
    expect(again.json).toEqual({ title: 'Bad Request', status: 400, detail: 'No connection found for node (0000001:node-d)' });
  });
});

describe('other endpoints', () => {
  it('serves the OpenAPI document without authentication', async () => {
    const answer = await gw.http('GET', '/api/openapi.json', { headers: {} });
    expect(answer.status).toBe(200);
    expect(answer.json.openapi).toBe('3.0.3');
    expect(Object.keys(answer.json.paths)).toEqual(
      expect.arrayContaining(['/job', '/connection', '/connection/{account}', '/connection/status', '/connection/ping', '/connection/disconnect', '/responses']),
    );
  });

  it('serves Prometheus metrics under the Go names', async () => {
    const answer = await gw.http('GET', '/metrics', { headers: {} });
    expect(answer.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    expect(answer.text).toMatch(/^receptor_controller_websocket_active_connection_count \d+$/m);
    expect(answer.text).toMatch(/^# TYPE receptor_controller_websocket_total_connection_count counter$/m);
    expect(answer.text).toMatch(/^receptor_controller_message_directive_count\{directive="workername:action"\} \d+$/m);
    expect(answer.text).toMatch(/^receptor_contoller_http_status_code_counter\{status_code="201"\} \d+$/m);
    expect(answer.text).toMatch(/^receptor_controller_payload_message_sizes_bucket\{le="\+Inf"\} \d+$/m);
  });

  it('answers the probes', async () => {
    expect((await gw.http('GET', '/liveness', { headers: {} })).status).toBe(200);
    expect((await gw.http('GET', '/readiness', { headers: {} })).status).toBe(200);
  });

  it('answers 404 for an unknown path and 405 with Allow for a wrong method', async () => {
    expect((await gw.http('GET', '/nope')).json).toEqual({ title: 'Not Found', status: 404, detail: 'No such endpoint: /nope' });
    const wrong = await gw.http('GET', '/job');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('keeps /debug/pprof off unless RECEPTOR_CONTROLLER_ENABLE_PROFILE is set', async () => {
    expect((await gw.http('GET', '/debug/pprof/')).status).toBe(404);
  });

  it('refuses a websocket upgrade on a path nobody registered', async () => {
    await expect(ReceptorTestNode.connect(`ws://127.0.0.1:${gw.port}/elsewhere`, { headers: { 'x-rh-identity': README_IDENTITY } })).rejects.toMatchObject({ status: 404 });
  });
});

describe('the entry point', () => {
  it('mounts extra websocket endpoints with addUpgradeRoute and serves pprof when enabled', async () => {
    const store = new MemoryStore();
    await store.open();
    const running = await startReceptorGateway({
      listen: '127.0.0.1:0',
      store,
      logger: pino({ level: 'silent' }),
      errors: { report: () => {} },
      env: { RECEPTOR_CONTROLLER_ENABLE_PROFILE: 'true' },
    });
    try {
      const echo = new WebSocketServer({ noServer: true });
      echo.on('connection', (ws) => ws.on('message', (data) => ws.send(data)));
      running.addUpgradeRoute('/bosun/ws', (req, socket, head) => echo.handleUpgrade(req, socket, head, (ws) => echo.emit('connection', ws, req)));
      expect(() => running.addUpgradeRoute('/bosun/ws', () => {})).toThrow(/already registered/);
      const client = new WebSocket(`ws://127.0.0.1:${running.port}/bosun/ws`);
      await new Promise((resolve) => client.once('open', resolve));
      client.send('hello');
      const echoed = await new Promise<Buffer>((resolve) => client.once('message', (data: Buffer) => resolve(data)));
      expect(echoed.toString()).toBe('hello');
      client.close();
      const index = await fetch(`http://127.0.0.1:${running.port}/debug/pprof/`, { headers: { 'x-rh-identity': README_IDENTITY } });
      expect(index.status).toBe(200);
      expect(await index.json()).toHaveProperty('profiles.heap');
      const anonymous = await fetch(`http://127.0.0.1:${running.port}/debug/pprof/`);
      expect(anonymous.status).toBe(401);
    } finally {
      await running.close();
    }
  });

  it.each([
    ['RECEPTOR_CONTROLLER_SERVICE_TO_SERVICE_CREDENTIALS', '{"a": 1}', /psk of "a" must be a non-empty string/],
    ['RECEPTOR_CONTROLLER_SERVICE_TO_SERVICE_CREDENTIALS', 'nope', /is not JSON/],
    ['RECEPTOR_CONTROLLER_WEBSOCKET_PONG_WAIT', '-1', /must be a positive number of seconds/],
    ['RECEPTOR_CONTROLLER_GATEWAY_CONNECTION_REGISTRAR_IMPL', 'redis', /NATS KV, not Redis/],
    ['RECEPTOR_CONTROLLER_ENABLE_PROFILE', 'maybe', /must be true or false/],
    ['RECEPTOR_CONTROLLER_JOBS_SUBJECT', 'platform.*.jobs', /NATS subject without wildcards/],
    ['RECEPTOR_CONTROLLER_RESPONSES_SUBJECT', 'platform.receptor-controller.jobs', /must differ/],
    ['RECEPTOR_CONTROLLER_RESPONSES_STREAM', 'responses.v1', /JetStream stream name/],
    ['RECEPTOR_CONTROLLER_JOBS_INTAKE', 'sometimes', /must be true or false/],
    ['RECEPTOR_CONTROLLER_JOBS_NODE_WAIT', '0', /must be a positive number of seconds/],
  ])('refuses to start with a bad %s', async (name, value, message) => {
    const store = new MemoryStore();
    await store.open();
    await expect(
      startReceptorGateway({ listen: '127.0.0.1:0', store, logger: pino({ level: 'silent' }), errors: { report: () => {} }, env: { [name]: value } }),
    ).rejects.toMatchObject({ code: 'BOSUN_BAD_CONFIG', message: expect.stringMatching(message) });
  });

  it('refuses a listen address that is not HOST:PORT', async () => {
    const store = new MemoryStore();
    await store.open();
    await expect(
      startReceptorGateway({ listen: 'localhost', store, logger: pino({ level: 'silent' }), errors: { report: () => {} }, env: {} }),
    ).rejects.toMatchObject({ code: 'BOSUN_BAD_CONFIG' });
  });
});
