import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../src/message.ts';
import type { BosunNode, NodeErrorReport } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { recorder, replyCollector } from './helpers/recorder.ts';
import { until } from './helpers/until.ts';

/**
 * Relaying (`relayViaNode`): central cannot reach ship2 (the bus is partitioned between
 * them); hub can reach both. Messages go central → hub → ship2 and replies come back the
 * same way, once each and in order.
 */

const nodes: BosunNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
});

const FAST = { ACKTimeout: 0.2, retryWait: 0.05 };

async function fleet(options: { hubStore?: MemoryStore; bus?: EmbeddedBus } = {}) {
  const bus = options.bus ?? new EmbeddedBus();
  bus.partition('central', 'ship2');
  const rec = recorder();
  const box = replyCollector('REQTestInbox');
  const reports: NodeErrorReport[] = [];
  const start = (node: string, extra: Parameters<typeof startNode>[0] = { node }) =>
    startNode({ bus, helloIntervalSeconds: 0, defaults: FAST, methods: [...rec.methods, box.method], onError: (r) => reports.push(r), ...extra, node });
  const central = await start('central');
  const hub = await start('hub', { node: 'hub', ...(options.hubStore ? { store: options.hubStore } : {}) });
  const ship2 = await start('ship2');
  nodes.push(central, hub, ship2);
  return { bus, rec, box, reports, central, hub, ship2, start };
}

describe('relayViaNode', () => {
  it('carries a message to a node the sender cannot reach, and its reply back', async () => {
    const { central } = await fleet();
    const direct = await central.send({ toNode: 'ship2', method: 'REQCliCommand', methodArgs: ['echo', 'direct'] });
    const relayed = await central.send({ toNode: 'ship2', relayViaNode: 'hub', method: 'REQCliCommand', methodArgs: ['echo', 'via hub'] });
    await relayed.acked;
    const reply = await relayed.reply;
    expect(reply).toMatchObject({ data: 'via hub\n', fromNode: 'ship2', toNode: 'central', relayViaNode: 'hub', inReplyTo: { id: relayed.id } });
    // The direct one is still waiting in central's outbox: the partition is real.
    expect((await central.queue()).map((q) => q.id)).toEqual([direct.id]);
  });

  it('keeps the order of an ordered stream end to end, and runs each message once, through a lossy network', async () => {
    const { bus, rec, box, central } = await fleet();
    bus.setFaults({ drop: 0.1, duplicate: 0.1, reorder: 0.1 });
    const ids = Array.from({ length: 200 }, (_, i) => `m${i}`);
    const results = await central.accept(ids.map((id) => ({ id, toNode: 'ship2', relayViaNode: 'hub', method: 'REQTestRecord', data: id, replyMethod: 'REQTestInbox' })));
    expect(results.every((r) => 'status' in r)).toBe(true);
    await until(() => box.replies.length >= ids.length, 30_000, 'every reply');
    expect(rec.runs.get('ship2')).toEqual(ids);
    expect(rec.runs.get('hub')).toBeUndefined();
    expect(box.replies.map((r) => r.inReplyTo!.id)).toEqual(ids);
    await until(() => central.idle, 10_000, 'central drained');
    expect(new Set(box.replies.map((r) => r.id)).size).toBe(ids.length);
  });

  it('carries an unordered method in an unordered envelope, each message once', async () => {
    const { rec, central, hub } = await fleet();
    const ids = Array.from({ length: 50 }, (_, i) => `n${i}`);
    await central.accept(ids.map((id) => ({ id, toNode: 'ship2', relayViaNode: 'hub', method: 'REQnTestRecord', data: id, replyMethod: 'none' })));
    await until(() => (rec.runs.get('ship2')?.length ?? 0) >= ids.length, 10_000, 'every run');
    expect([...rec.runs.get('ship2')!].sort()).toEqual([...ids].sort());
    expect([...central.senders().keys()]).toContain('central~hub~REQnRelay');
    expect([...hub.senders().keys()]).toContain('hub~ship2~REQnTestRecord');
  });

  it('loses and repeats nothing when the relay crashes mid-stream and comes back on what its store kept', async () => {
    const bus = new EmbeddedBus();
    const hubStore = new MemoryStore();
    const f = await fleet({ bus, hubStore });
    const ids = Array.from({ length: 300 }, (_, i) => `c${i}`);
    // ship2 is cut off from the hub too, so the hub holds the relayed messages when it dies.
    bus.partition('hub', 'ship2');
    await f.central.accept(ids.map((id) => ({ id, toNode: 'ship2', relayViaNode: 'hub', method: 'REQTestRecord', data: id, replyMethod: 'REQTestInbox' })));
    await until(async () => (await f.hub.queue()).length >= 50, 10_000, 'relayed messages queued on the hub');
    await f.hub.crash();
    nodes.splice(nodes.indexOf(f.hub), 1);
    const survivor = hubStore.crash({ powerLoss: true });
    bus.heal();
    bus.partition('central', 'ship2');
    const hub = await f.start('hub', { node: 'hub', store: survivor });
    nodes.push(hub);
    await until(() => f.box.replies.length >= ids.length, 30_000, 'every reply');
    expect(f.rec.runs.get('ship2')).toEqual(ids);
    expect(f.box.replies.map((r) => r.inReplyTo!.id)).toEqual(ids);
  });

  it('sends a message that died on the relay again as it was, still its sender\'s', async () => {
    const { bus, box, central, hub } = await fleet();
    bus.partition('hub', 'ship2');
    await central.accept({ id: 'late', toNode: 'ship2', relayViaNode: 'hub', method: 'REQTestRecord', data: 'late', replyMethod: 'REQTestInbox', retries: 1 });
    await until(async () => (await hub.deadLetters()).length === 1, 10_000, 'the dead letter on the hub');
    const [letter] = await hub.deadLetters();
    expect(letter!.message).toMatchObject({ id: 'late', fromNode: 'central', toNode: 'ship2' });
    bus.heal();
    bus.partition('central', 'ship2');
    expect(await hub.resendDead()).toEqual([{ id: 'late', toNode: 'ship2', status: 'accepted' }]);
    expect(await hub.deadLetters()).toEqual([]);
    await until(() => box.replies.length >= 1, 10_000, 'the reply on central');
    expect(box.replies[0]).toMatchObject({ data: 'ran late', fromNode: 'ship2', inReplyTo: { id: 'late', fromNode: 'central' } });
  });

  it('refuses an envelope that carries another node\'s message, and says why', async () => {
    const { central, hub, reports } = await fleet();
    const forged: Partial<Message> = {
      id: 'forged-1', fromNode: 'ship9', toNode: 'ship2', method: 'REQCliCommand', methodArgs: ['id'], replyMethod: 'none', replyMethodArgs: [],
      ACKTimeout: 1, retries: 0, retryWait: 1, methodTimeout: 10, acceptedAt: Date.now(), relayViaNode: 'hub',
    };
    const d = await central.send({ toNode: 'hub', method: 'REQRelay', methodArgs: ['ship2', 'REQCliCommand'], data: JSON.stringify(forged), replyMethod: 'REQTestInbox' });
    const reply = await d.reply;
    expect(reply.error).toMatchObject({ code: 'BOSUN_BAD_MESSAGE' });
    expect(reply.data).toMatch(/a node relays only its own messages, and this one is from ship9, not central/);
    await until(() => reports.some((r) => r.source === 'hub/inbound/REQRelay' && /relays only its own/.test(r.message)), 5000, 'the report');
    expect([...hub.senders().keys()].filter((s) => s.startsWith('hub~ship2'))).toEqual([]);
    for (const data of ['not json', '[]', JSON.stringify({ ...forged, fromNode: 'central', toNode: 'hub' }), JSON.stringify({ ...forged, fromNode: 'central', retries: 'x' })]) {
      const bad = await central.send({ toNode: 'hub', method: 'REQRelay', methodArgs: ['ship2', 'REQCliCommand'], data, replyMethod: 'REQTestInbox' });
      expect((await bad.reply).error).toMatchObject({ code: 'BOSUN_BAD_MESSAGE' });
    }
    expect(hub.status).toBe('running');
  });

  it('takes relayViaNode only as a node name, and ignores a relay that is the sender or the target', async () => {
    const { central } = await fleet();
    expect(await central.accept({ toNode: 'ship2', relayViaNode: 'no such node!', method: 'REQNone' })).toEqual([
      { error: { code: 'BOSUN_BAD_MESSAGE', message: 'relayViaNode "no such node!" is not a valid node name' } },
    ]);
    await central.accept({ toNode: 'hub', relayViaNode: 'hub', method: 'REQNone' });
    await central.accept({ toNode: 'hub', relayViaNode: 'central', method: 'REQNone' });
    expect([...central.senders().keys()].filter((s) => s.includes('Relay'))).toEqual([]);
  });
});
