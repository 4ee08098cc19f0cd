/**
 * The responses stream: every reply a node sends is in a durable, ordered log that a
 * consumer reads from its last position, by long-poll or server-sent events, and loses
 * nothing while it is down.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../src/clock.ts';
import { LevelStore } from '../src/store/LevelStore.ts';
import {
  CAPTURED,
  eventually,
  identityFor,
  patchVector,
  README_IDENTITY,
  startTestGateway,
  vectors,
} from './helpers/receptorClient.ts';
import { gatewaysPerTest } from './helpers/gatewaysPerTest.ts';

const { gateway, track, closeGateway } = gatewaysPerTest();

async function gatewayWithNode(options: Parameters<typeof startTestGateway>[0] = {}) {
  const gw = await gateway(options);
  const node = await gw.connectNode();
  track(node);
  await gw.waitForConnection(CAPTURED.account, CAPTURED.nodeId);
  return { gw, node };
}

/** The node answers job `jobId` with an eof whose payload says which reply it is. */
function eof(jobId: string, text: string): Buffer {
  return patchVector(vectors.workernameEof, [
    [CAPTURED.jobMessageId, jobId],
    ['Error loading directive handlers for workername', text],
  ]);
}

const jobA = '11111111-1111-4111-8111-111111111111';

describe('GET /responses (long-poll)', () => {
  it('returns what is after N at once, with the position to read after next', async () => {
    const { gw, node } = await gatewayWithNode();
    await node.send(eof(jobA, 'one'));
    await node.send(eof(jobA, 'two'));
    await eventually(() => gw.gateway.responses.lastSeq === 2);
    const all = await gw.http('GET', '/responses?after=0');
    expect(all.status).toBe(200);
    expect(all.json.last).toBe(2);
    expect(all.json.responses.map((r: { seq: number; key: string; value: { payload: string } }) => [r.seq, r.key, r.value.payload])).toEqual([
      [1, jobA, 'one'],
      [2, jobA, 'two'],
    ]);
    const rest = await gw.http('GET', '/responses?after=1');
    expect(rest.json.responses.map((r: { seq: number }) => r.seq)).toEqual([2]);
    const limited = await gw.http('GET', '/responses?after=0&limit=1');
    expect(limited.json).toMatchObject({ last: 1, responses: [{ seq: 1 }] });
  });

  it('waits for the next reply when nothing is there yet', async () => {
    const { gw, node } = await gatewayWithNode();
    const pending = gw.http('GET', '/responses?after=0&timeout=10');
    await new Promise((resolve) => setTimeout(resolve, 50));
    await node.send(eof(jobA, 'late'));
    const answer = await pending;
    expect(answer.json).toMatchObject({ last: 1, responses: [{ seq: 1, value: { payload: 'late', message_type: 'eof', code: 1 } }] });
  });

  it('answers an empty page with the same position when the timeout passes', async () => {
    const clock = new VirtualClock();
    const { gw } = await gatewayWithNode({ clock });
    const pending = gw.http('GET', '/responses?after=0&timeout=20');
    await new Promise((resolve) => setTimeout(resolve, 50));
    await clock.advance(20_000);
    expect((await pending).json).toEqual({ responses: [], last: 0 });
    expect((await gw.http('GET', '/responses?after=0&timeout=0')).json).toEqual({ responses: [], last: 0 });
  });

  it("shows a caller only its own account's replies, and moves its position past the others", async () => {
    const { gw, node } = await gatewayWithNode();
    await node.send(eof(jobA, 'mine'));
    await eventually(() => gw.gateway.responses.lastSeq === 1);
    const other = await gw.http('GET', '/responses?after=0&timeout=0', { headers: { 'x-rh-identity': identityFor('0000002') } });
    expect(other.json).toEqual({ responses: [], last: 1 });
  });

  it('shows a caller whose account has fewer leading zeros the replies of its nodes', async () => {
    const { gw, node } = await gatewayWithNode();
    await node.send(eof(jobA, 'padded'));
    await eventually(() => gw.gateway.responses.lastSeq === 1);
    const answer = await gw.http('GET', '/responses?after=0&timeout=0', { headers: { 'x-rh-identity': identityFor('01') } });
    expect(answer.json).toMatchObject({ last: 1, responses: [{ seq: 1, value: { account: '0000001', payload: 'padded' } }] });
  });

  it.each(['after=-1', 'after=x', 'limit=5000', 'timeout=61'])('answers 400 for %s', async (query) => {
    const { gw } = await gatewayWithNode();
    expect((await gw.http('GET', `/responses?${query}`)).status).toBe(400);
  });

  it('needs authentication', async () => {
    const { gw } = await gatewayWithNode();
    expect((await gw.http('GET', '/responses', { headers: {} })).status).toBe(401);
  });
});

describe('resuming after N', () => {
  it('loses nothing while the consumer is down, and nothing across a gateway restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bosun-gw-'));
    try {
      let store = new LevelStore(join(dir, 'db'), { sync: false });
      await store.open();
      const first = await gatewayWithNode({ store });
      for (const text of ['r1', 'r2']) await first.node.send(eof(jobA, text));
      await eventually(() => first.gw.gateway.responses.lastSeq === 2);
      const read = await first.gw.http('GET', '/responses?after=0');
      const position: number = read.json.last;
      // The consumer is down; more replies arrive; then the gateway itself restarts.
      for (const text of ['r3', 'r4', 'r5']) await first.node.send(eof(jobA, text));
      await eventually(() => first.gw.gateway.responses.lastSeq === 5);
      await closeGateway(first.gw);
      await store.close();

      store = new LevelStore(join(dir, 'db'), { sync: false });
      await store.open();
      const second = await gatewayWithNode({ store });
      await second.node.send(eof(jobA, 'r6'));
      await eventually(() => second.gw.gateway.responses.lastSeq === 6);
      const resumed = await second.gw.http('GET', `/responses?after=${position}`);
      expect(resumed.json.responses.map((r: { seq: number; value: { payload: string } }) => [r.seq, r.value.payload])).toEqual([
        [3, 'r3'],
        [4, 'r4'],
        [5, 'r5'],
        [6, 'r6'],
      ]);
      await closeGateway(second.gw);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('GET /responses as server-sent events', () => {
  /** Reads SSE events from a streaming fetch until `count` arrived. */
  async function readEvents(response: Response, count: number): Promise<Array<{ id: string; event: string; data: any }>> {
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    const events: Array<{ id: string; event: string; data: any }> = [];
    while (events.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(
          block
            .split('\n')
            .filter((line) => !line.startsWith(':'))
            .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
        );
        if (fields.id) events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data) });
      }
    }
    await reader.cancel();
    return events;
  }

  it('streams the log and then each new reply as it arrives, with the seq as event id', async () => {
    const { gw, node } = await gatewayWithNode();
    await node.send(eof(jobA, 'before'));
    await eventually(() => gw.gateway.responses.lastSeq === 1);
    const response = await fetch(`${gw.baseUrl}/responses?after=0`, { headers: { 'x-rh-identity': README_IDENTITY, accept: 'text/event-stream' } });
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const events = readEvents(response, 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await node.send(eof(jobA, 'after'));
    expect(await events).toEqual([
      { id: '1', event: 'response', data: { key: jobA, value: expect.objectContaining({ payload: 'before', in_response_to: jobA }) } },
      { id: '2', event: 'response', data: { key: jobA, value: expect.objectContaining({ payload: 'after' }) } },
    ]);
  });

  it('resumes from Last-Event-ID', async () => {
    const { gw, node } = await gatewayWithNode();
    for (const text of ['a', 'b', 'c']) await node.send(eof(jobA, text));
    await eventually(() => gw.gateway.responses.lastSeq === 3);
    const response = await fetch(`${gw.baseUrl}/responses`, {
      headers: { 'x-rh-identity': README_IDENTITY, accept: 'text/event-stream', 'last-event-id': '1' },
    });
    expect((await readEvents(response, 2)).map((e) => [e.id, e.data.value.payload])).toEqual([
      ['2', 'b'],
      ['3', 'c'],
    ]);
  });

  it('ends open streams when the gateway closes', async () => {
    const { gw } = await gatewayWithNode();
    const response = await fetch(`${gw.baseUrl}/responses`, { headers: { 'x-rh-identity': README_IDENTITY, accept: 'text/event-stream' } });
    const reading = readEvents(response, 1);
    await closeGateway(gw);
    expect(await reading).toEqual([]);
  });
});
