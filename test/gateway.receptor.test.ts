/**
 * The receptor websocket protocol as a python-receptor 0.6 node speaks it: the test node
 * replays the bytes captured from a real node (receptor-wire.md, appendix).
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { VirtualClock } from '../src/clock.ts';
import { FrameReader, encodeFrame, FrameType } from '../src/gateway/receptor/frame.ts';
import { ReceptorReader } from '../src/gateway/receptor/reader.ts';
import { directiveMessage, goJsonTime, goTimestamp, hiReply } from '../src/gateway/receptor/writer.ts';
import { type SessionIO, sessionMachine, sessionPhase } from '../src/gateway/sessionMachine.ts';
import { prefixRange, regKey } from '../src/store/keys.ts';
import {
  CAPTURED,
  eventually,
  frameBodies,
  identityFor,
  patchVector,
  ReceptorTestNode,
  splitFrames,
  type TestGateway,
  UpgradeRefused,
  vectors,
} from './helpers/receptorClient.ts';
import { gatewaysPerTest } from './helpers/gatewaysPerTest.ts';

/** The moment of the captured directive, to the millisecond. */
const CAPTURE_TIME = Date.parse('2026-11-25T14:56:37.546Z');
const CAPTURED_TIMESTAMP = '"timestamp":"2026-11-25T14:56:37.546128471"';
const CAPTURED_PING_PAYLOAD = '"raw_payload":"2026-11-25T14:56:34.984348681Z"';

const { gateway, track, closeGateway } = gatewaysPerTest();

async function node(gw: TestGateway, options: Parameters<TestGateway['connectNode']>[0] = {}): Promise<ReceptorTestNode> {
  const n = await gw.connectNode(options);
  track(n);
  await gw.waitForConnection(CAPTURED.account, CAPTURED.nodeId);
  return n;
}

async function rawNode(gw: TestGateway, options: Parameters<typeof ReceptorTestNode.connect>[1] = {}): Promise<ReceptorTestNode> {
  const n = await ReceptorTestNode.connect(gw.wsUrl, { headers: { 'x-rh-identity': identityFor(CAPTURED.account) }, ...options });
  track(n);
  return n;
}

function ids(...values: string[]): () => string {
  return () => values.shift() ?? crypto.randomUUID();
}

async function responses(gw: TestGateway): Promise<Array<{ key: string; value: Record<string, unknown> }>> {
  const page = await gw.gateway.responses.read(0, { limit: 1000 });
  return page.entries.map(({ key, value }) => ({ key, value: value as unknown as Record<string, unknown> }));
}

describe('frame codec', () => {
  it('writes the HI reply byte for byte as the Go gateway does', () => {
    expect(hiReply(CAPTURED.gatewayId)).toEqual(vectors.gatewayHiReply);
  });

  it('writes the captured ping directive byte for byte from its variable fields', () => {
    const message = directiveMessage({
      gatewayId: CAPTURED.gatewayId,
      recipient: CAPTURED.nodeId,
      messageId: CAPTURED.pingMessageId,
      timestamp: '2026-11-25T14:56:37.546128471',
      payload: '2026-11-25T14:56:34.984348681Z',
      directive: 'receptor:ping',
    });
    expect(message).toEqual(vectors.pingDirective);
  });

  it('formats time as Go does: zone-less with trimmed fraction, and RFC 3339 for JSON', () => {
    expect(goTimestamp(CAPTURE_TIME)).toBe('2026-11-25T14:56:37.546');
    expect(goTimestamp(Date.parse('2026-11-25T14:56:37.500Z'))).toBe('2026-11-25T14:56:37.5');
    expect(goTimestamp(Date.parse('2026-11-25T14:56:37.000Z'))).toBe('2026-11-25T14:56:37');
    expect(goJsonTime(Date.parse('2026-11-25T14:56:34.980Z'))).toBe('2026-11-25T14:56:34.98Z');
  });

  it('reads every captured node message, however the bytes are cut', () => {
    const stream = Buffer.concat([vectors.nodeHi, vectors.nodeRoute, vectors.pingResponse, vectors.workernameEof]);
    for (const cut of [1, 7, 26, 100, 333, stream.length]) {
      const reader = new ReceptorReader(1 << 20);
      const kinds: string[] = [];
      for (let i = 0; i < stream.length; i += cut) kinds.push(...reader.push(stream.subarray(i, i + cut)).map((m) => m.kind));
      expect(kinds).toEqual(['hi', 'route', 'routed', 'routed']);
    }
  });

  it('refuses an unknown frame type, a PAYLOAD without HEADER, and a frame over the size cap', () => {
    const unknown = Buffer.from(vectors.nodeHi);
    unknown[0] = 7;
    expect(() => new ReceptorReader(1 << 20).push(unknown)).toThrow(/unknown receptor frame type 7/);
    const payloadOnly = splitFrames(vectors.pingResponse)[1]!;
    expect(() => new ReceptorReader(1 << 20).push(Buffer.concat([payloadOnly.header, payloadOnly.body]))).toThrow(/PAYLOAD frame without a HEADER/);
    expect(() => new FrameReader(100).push(encodeFrame(FrameType.command, Buffer.alloc(101)))).toThrow(/exceeds 100/);
  });

  it('tells commands apart by "cmd", so a ROUTE mentioning HI is still a ROUTE', () => {
    const route = patchVector(vectors.nodeRoute, [['"groups": []', '"groups": ["HI-group"]']]);
    expect(new ReceptorReader(1 << 20).push(route).map((m) => m.kind)).toEqual(['route']);
  });
});

describe('session machine', () => {
  function harness() {
    const calls: string[] = [];
    const io: SessionIO = {
      sendHiReply: () => calls.push('hi'),
      ping: () => calls.push('ping'),
      close: (code, reason) => calls.push(`close ${code} ${reason}`),
      terminate: () => calls.push('terminate'),
      register: async () => void calls.push('register'),
      route: () => calls.push('route'),
      deliver: () => calls.push('deliver'),
      ignore: () => calls.push('ignore'),
      release: () => calls.push('release'),
    };
    const clock = new VirtualClock();
    const actor = createActor(sessionMachine, {
      input: { io, timing: { pingIntervalMs: 22_500, pongWaitMs: 25_000, handshakeTimeoutMs: 25_000, closeTimeoutMs: 5_000 } },
      clock: { setTimeout: (fn, ms) => clock.setTimer(ms, fn), clearTimeout: (t) => (t as { cancel(): void }).cancel() },
    });
    actor.start();
    const phase = () => sessionPhase(actor.getSnapshot().value);
    return { calls, clock, actor, phase };
  }

  it('answers HI at once, registers, then is ready', async () => {
    const { calls, actor, phase } = harness();
    expect(phase()).toBe('awaitingHi');
    actor.send({ type: 'HI', hi: { cmd: 'HI', id: 'node-b' } });
    expect(calls).toEqual(['hi', 'register']);
    await Promise.resolve();
    await Promise.resolve();
    expect(phase()).toBe('ready');
  });

  it('pings every 22.5 s and gives up 25 s after the last pong', async () => {
    const { calls, actor, clock, phase } = harness();
    actor.send({ type: 'HI', hi: { cmd: 'HI', id: 'node-b' } });
    await clock.advance(22_500);
    expect(calls.filter((c) => c === 'ping')).toHaveLength(1);
    actor.send({ type: 'PONG' });
    await clock.advance(22_500); // 45 s in: alive thanks to the pong at 22.5 s
    expect(calls.filter((c) => c === 'ping')).toHaveLength(2);
    expect(phase()).toBe('ready');
    await clock.advance(2_500); // 47.5 s: 25 s after the last pong
    expect(phase()).toBe('closing');
    expect(calls).toContain('close 1000 pong deadline passed');
    await clock.advance(5_000);
    expect(calls).toContain('terminate');
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('closes a node that sends anything but HI first, or nothing at all', async () => {
    const first = harness();
    first.actor.send({ type: 'ROUTE', route: { cmd: 'ROUTE' } });
    expect(first.calls).toEqual(['release', 'close 1002 expected HI first']);
    const silent = harness();
    silent.actor.send({ type: 'PONG' });
    await silent.clock.advance(25_000);
    expect(silent.calls).toContain('close 1000 no HI received');
  });
});

describe('receptor websocket endpoint', () => {
  it('answers the node HI at once with the exact bytes of the capture', async () => {
    const gw = await gateway();
    const n = await rawNode(gw);
    await n.send(vectors.nodeHi);
    expect(await n.next()).toEqual(vectors.gatewayHiReply);
  });

  it('registers (account, node id) with the HI capabilities, in memory and in the store, after ROUTE', async () => {
    const gw = await gateway();
    await node(gw);
    expect(await gw.gateway.status(CAPTURED.account, CAPTURED.nodeId)).toEqual({
      status: 'connected',
      capabilities: { worker_versions: {}, max_work_threads: 6 },
    });
    const stored = await gw.store.range<{ nodeId: string; account: string }>(prefixRange(regKey('receptor!conn')));
    expect(stored.map(([key, entry]) => [key, entry.account, entry.nodeId])).toEqual([['reg!receptor!conn!1!node-b', '0000001', 'node-b']]);
  });

  it('runs each session as a child of the gateway supervisor', async () => {
    const gw = await gateway();
    await node(gw);
    const tree = gw.gateway.supervisor.tree();
    expect(tree.id).toBe('receptor-gateway');
    expect(tree.children).toHaveLength(1);
    expect(tree.children[0]).toMatchObject({ state: 'ready', info: { account: '0000001', nodeId: 'node-b' } });
  });

  it('delivers a job as one message of HEADER + PAYLOAD frames, the bytes of the capture but for its fields', async () => {
    const clock = new VirtualClock(CAPTURE_TIME);
    const gw = await gateway({ clock, newId: ids(CAPTURED.jobMessageId) });
    const n = await node(gw);
    const answer = await gw.http('POST', '/job', {
      body: { account: '0000001', recipient: 'node-b', payload: 'fix_an_issue', directive: 'workername:action' },
    });
    expect(answer).toMatchObject({ status: 201, json: { id: CAPTURED.jobMessageId } });
    const message = await n.next();
    const expected = patchVector(vectors.pingDirective, [
      [CAPTURED_TIMESTAMP, '"timestamp":"2026-11-25T14:56:37.546"'],
      [CAPTURED_PING_PAYLOAD, '"raw_payload":"fix_an_issue"'],
      ['"directive":"receptor:ping"', '"directive":"workername:action"'],
      [CAPTURED.pingMessageId, CAPTURED.jobMessageId],
    ]);
    expect(message).toEqual(expected);
    // The capture's job message was 430 bytes with Go's nanosecond timestamp; ours has milliseconds.
    expect(message.length).toBe(430 - 6);
    expect(splitFrames(message).map((f) => f.type)).toEqual([0, 1]);
    expect(Object.keys(frameBodies(message)[1] as object)).toEqual([
      'message_id',
      'sender',
      'recipient',
      'message_type',
      'timestamp',
      'raw_payload',
      'directive',
      'in_response_to',
      'code',
      'serial',
    ]);
  });

  it('records response and eof in the responses log, keyed by the job id', async () => {
    const gw = await gateway({ newId: ids(CAPTURED.jobMessageId) });
    const n = await node(gw);
    await gw.http('POST', '/job', { body: { account: '0000001', recipient: 'node-b', payload: 'x', directive: 'workername:action' } });
    await n.next();
    await n.send(patchVector(vectors.pingResponse, [[CAPTURED.pingMessageId, CAPTURED.jobMessageId]]));
    await n.send(vectors.workernameEof);
    await eventually(async () => (await responses(gw)).length === 2);
    expect(await responses(gw)).toEqual([
      {
        key: CAPTURED.jobMessageId,
        value: {
          account: '0000001',
          sender: 'node-b',
          message_id: '1bafe6b3-2195-4d83-8e02-f41d9e301962',
          message_type: 'response',
          payload: '{"initial_time": "2026-11-25T14:56:34.984348681Z", "response_time": "2026-11-25 14:56:37.547674", "active_work": []}',
          code: 0,
          in_response_to: CAPTURED.jobMessageId,
          serial: 1,
        },
      },
      {
        key: CAPTURED.jobMessageId,
        value: {
          account: '0000001',
          sender: 'node-b',
          message_id: '7194ee09-a696-4a54-aa86-d7ad680e9656',
          message_type: 'eof',
          payload: 'Error loading directive handlers for workername',
          code: 1,
          in_response_to: CAPTURED.jobMessageId,
          serial: 1,
        },
      },
    ]);
  });

  it('answers a synchronous ping with the node reply, which does not go to the responses log', async () => {
    const clock = new VirtualClock(CAPTURE_TIME);
    const gw = await gateway({ clock, newId: ids(CAPTURED.pingMessageId) });
    const n = await node(gw);
    const pending = gw.http('POST', '/connection/ping', { body: { account: '0000001', node_id: 'node-b' } });
    const directive = await n.next();
    expect(directive).toEqual(
      patchVector(vectors.pingDirective, [
        [CAPTURED_TIMESTAMP, '"timestamp":"2026-11-25T14:56:37.546"'],
        [CAPTURED_PING_PAYLOAD, '"raw_payload":"2026-11-25T14:56:37.546Z"'],
      ]),
    );
    await n.send(vectors.pingResponse);
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({
      status: 'connected',
      payload: { sender: 'node-b', message_type: 'response', in_response_to: CAPTURED.pingMessageId, code: 0, serial: 1, account: '0000001' },
    });
    expect(await responses(gw)).toEqual([]);
  });

  it('drops replies addressed to another node or answering no UUID, and keeps the session', async () => {
    const gw = await gateway();
    const n = await node(gw);
    await n.send(patchVector(vectors.workernameEof, [['"recipient": "node-cloud-receptor-controller", "route_list"', '"recipient": "elsewhere", "route_list"']]));
    await n.send(patchVector(vectors.workernameEof, [[CAPTURED.jobMessageId, 'not-a-uuid']]));
    await eventually(() => gw.gateway.metrics.responsesWithoutHandler.value() === 2);
    expect(await responses(gw)).toEqual([]);
    expect(gw.gateway.supervisor.tree().children[0]?.state).toBe('ready');
  });

  it('reassembles a reply whose HEADER and PAYLOAD frames come in separate websocket messages', async () => {
    const gw = await gateway();
    const n = await node(gw);
    const [header, payload] = splitFrames(vectors.workernameEof);
    await n.send(Buffer.concat([header!.header, header!.body]));
    await n.send(Buffer.concat([payload!.header, payload!.body]));
    await eventually(async () => (await responses(gw)).length === 1);
  });

  it('pings every 22.5 s and closes a node that does not answer within 25 s', async () => {
    const clock = new VirtualClock();
    const gw = await gateway({ clock });
    const n = await node(gw, { autoPong: false });
    await clock.advance(22_500);
    await eventually(() => n.pingsReceived === 1);
    await clock.advance(2_500);
    expect(await n.closed).toEqual({ code: 1000, reason: 'pong deadline passed' });
    await gw.waitForConnection(CAPTURED.account, CAPTURED.nodeId, false);
  });

  it('keeps a node that answers its pings', async () => {
    const clock = new VirtualClock();
    const gw = await gateway({ clock });
    const n = await node(gw);
    for (let i = 1; i <= 3; i++) {
      await clock.advance(22_500);
      await eventually(() => n.pingsReceived === i);
      await new Promise((resolve) => setTimeout(resolve, 100)); // the pong's way back, in real time
    }
    await clock.advance(5_000);
    expect(gw.gateway.supervisor.tree().children[0]?.state).toBe('ready');
  });

  it('closes a node that sends a message over 1 MiB with 1009 and unregisters it', async () => {
    const gw = await gateway();
    const n = await node(gw);
    await n.send(Buffer.alloc(1024 * 1024 + 1));
    expect((await n.closed).code).toBe(1009);
    await gw.waitForConnection(CAPTURED.account, CAPTURED.nodeId, false);
  });

  it('replaces the stale session of a reconnecting node: newest wins, the old socket closes with "duplicate node id"', async () => {
    const gw = await gateway({ newId: ids(CAPTURED.jobMessageId) });
    const old = await node(gw);
    const oldSession = (await gw.gateway.registry.lookup('0000001', 'node-b'))!.sessionId;
    const fresh = await gw.connectNode();
    track(fresh);
    expect(await old.closed).toEqual({ code: 1000, reason: 'duplicate node id' });
    const entry = await gw.gateway.registry.lookup('0000001', 'node-b');
    expect(entry?.sessionId).not.toBe(oldSession);
    // The old session's end must not take the new one's entry with it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await gw.gateway.status('0000001', 'node-b')).status).toBe('connected');
    const answer = await gw.http('POST', '/job', { body: { account: '0000001', recipient: 'node-b', payload: 1, directive: 'a:b' } });
    expect(answer.status).toBe(201);
    expect(frameBodies(await fresh.next())[1]).toMatchObject({ message_id: CAPTURED.jobMessageId, directive: 'a:b' });
    expect(gw.gateway.metrics.duplicateConnections.value()).toBe(1);
  });

  it('does not take a ROUTE mentioning "HI" for a second handshake', async () => {
    const gw = await gateway();
    const n = await node(gw);
    await n.send(patchVector(vectors.nodeRoute, [['"groups": []', '"groups": ["HI-group"]']]));
    await n.send(vectors.nodeRoute);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(n.unread).toBe(0);
    expect(gw.gateway.supervisor.tree().children[0]).toMatchObject({ state: 'ready', info: { routes: 3 } });
  });

  it('closes with 1002 a node that sends anything before HI, or bytes that are not the protocol', async () => {
    const gw = await gateway();
    const early = await rawNode(gw);
    await early.send(vectors.nodeRoute);
    expect(await early.closed).toEqual({ code: 1002, reason: 'expected HI first' });
    const garbage = await rawNode(gw);
    await garbage.send(Buffer.from('09010000000100000000', 'hex'));
    await garbage.send(Buffer.alloc(26, 9));
    expect((await garbage.closed).code).toBe(1002);
    const text = await rawNode(gw);
    await text.send('{"cmd": "HI"}');
    expect((await text.closed).code).toBe(1002);
  });

  it('closes a node that sends no HI within the handshake wait', async () => {
    const clock = new VirtualClock();
    const gw = await gateway({ clock, env: { RECEPTOR_CONTROLLER_WEBSOCKET_HANDSHAKE_READ_WAIT: '10' } });
    const n = await rawNode(gw);
    await eventually(() => gw.gateway.supervisor.tree().children.length === 1);
    await clock.advance(10_000);
    expect(await n.closed).toEqual({ code: 1000, reason: 'no HI received' });
  });

  it('refuses an upgrade without credentials (401) or with a malformed identity (400)', async () => {
    const gw = await gateway();
    await expect(ReceptorTestNode.connect(gw.wsUrl)).rejects.toMatchObject({ status: 401 });
    const refused = await ReceptorTestNode.connect(gw.wsUrl, { headers: { 'x-rh-identity': 'not base64!' } }).catch((e: UpgradeRefused) => e);
    expect(refused).toBeInstanceOf(UpgradeRefused);
    expect(refused).toMatchObject({ status: 400 });
    expect(JSON.parse((refused as UpgradeRefused).body)).toMatchObject({ status: 400, detail: 'x-rh-identity is not base64' });
  });

  it('closes every session with CLOSE 1000 "closing" when the gateway stops', async () => {
    const gw = await gateway();
    const n = await node(gw);
    await gw.close();
    expect(await n.closed).toEqual({ code: 1000, reason: 'closing' });
    expect(await gw.store.range(prefixRange(regKey('receptor!conn')))).toEqual([]);
  });
});
