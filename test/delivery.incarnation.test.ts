import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame, newIncarnation, streamIdOf, type AckBody } from '../src/delivery/frames.ts';
import { SubjectReceiver, type InboxEntry } from '../src/delivery/SubjectReceiver.ts';
import type { Message } from '../src/message.ts';
import { testMessage } from './support/methods.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { recorder } from './helpers/recorder.ts';
import { until } from './helpers/until.ts';

/**
 * A stream's sequence numbers belong to one incarnation of its sender's state. A receiver
 * follows it: an older incarnation's frames are dropped without taking a number, a newer
 * one (a sender that lost its store) starts the numbering over. ACKs name the incarnation
 * and the messages they acknowledge, and a sender drops only what they name.
 */

const stream = streamIdOf('central', 'ship1', 'REQTestRecord');
const nodes: BosunNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
});

function message(id: string): Message {
  return testMessage({ id, fromNode: 'central', toNode: 'ship1', method: 'REQTestRecord', data: id });
}

async function receiver(store = new MemoryStore(), windowSize = 4, on = stream) {
  if (store.status !== 'open') await store.open();
  const acks: AckBody[] = [];
  const received: InboxEntry[] = [];
  const r = await SubjectReceiver.open(on, { store, windowSize, ack: (_s, a) => acks.push(a), received: (e) => received.push(...e), onError: (e) => { throw e; } });
  const settled = () => until(() => r.idle, 2000, 'the receiver to settle');
  return { r, acks, received, settled, store };
}

describe('a receiver and its sender\'s incarnations', () => {
  it('drops an older incarnation\'s frames without taking their numbers, and starts over for a newer one', async () => {
    const older = newIncarnation(Date.now() - 60_000);
    const current = newIncarnation(Date.now());
    const { r, acks, received, settled, store } = await receiver();
    expect(r.onFrame(1, message('a'), current)).toBe('taken');
    await settled();
    // A replay of the stream's earlier life, under the next number: refused, number untaken.
    expect(r.onFrame(2, message('old'), older)).toBe('olderIncarnation');
    expect(r.onFrame(2, message('b'), current)).toBe('taken');
    await settled();
    expect(received.map((e) => e.message.id)).toEqual(['a', 'b']);
    expect(acks.at(-1)).toEqual({ inc: current, upTo: 2, id: 'b' });

    // The sender lost its store and numbers from 1 again, in a newer incarnation.
    const newer = newIncarnation(Date.now() + 1000);
    expect(r.onFrame(1, message('c'), newer)).toBe('taken');
    await settled();
    expect(received.map((e) => e.message.id)).toEqual(['a', 'b', 'c']);
    expect(acks.at(-1)).toEqual({ inc: newer, upTo: 1, id: 'c' });
    // Opened again from the store, it follows the newer incarnation, and knows what it ACKed.
    const again = await receiver(store);
    expect(again.r.onFrame(1, message('c'), newer)).toBe('duplicate');
    expect(again.acks).toEqual([{ inc: newer, upTo: 1, id: 'c' }]);
    expect(again.r.onFrame(3, message('old'), current)).toBe('olderIncarnation');
  });

  it('forgets an unordered stream\'s numbers when its sender starts over, in the store too', async () => {
    const unordered = streamIdOf('central', 'ship1', 'REQnTestRecord');
    const first = newIncarnation(Date.now() - 1000);
    const { r, received, settled, store } = await receiver(new MemoryStore(), 4, unordered);
    r.onFrame(1, message('a'), first);
    r.onFrame(3, message('c'), first);
    await settled();
    const newer = newIncarnation();
    expect(r.onFrame(3, message('c2'), newer)).toBe('taken');
    await settled();
    expect(received.map((e) => e.message.id)).toEqual(['a', 'c', 'c2']);
    const again = await receiver(store, 4, unordered);
    expect(again.r.onFrame(1, message('a2'), newer)).toBe('taken');
    expect(again.r.onFrame(3, message('c2'), newer)).toBe('duplicate');
    expect(again.r.onFrame(2, message('b'), first)).toBe('olderIncarnation');
  });

  it('takes nothing more than its window ahead, and the number stays free', async () => {
    const inc = newIncarnation();
    const { r, received, settled } = await receiver(new MemoryStore(), 4);
    expect(r.onFrame(5, message('far'), inc)).toBe('tooFarAhead');
    expect(r.onFrame(4, message('d'), inc)).toBe('taken'); // early, inside the window
    for (const [seq, id] of [[1, 'a'], [2, 'b'], [3, 'c']] as const) r.onFrame(seq, message(id), inc);
    await settled();
    expect(r.onFrame(5, message('e'), inc)).toBe('taken');
    await settled();
    expect(received.map((e) => e.message.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});

describe('ACKs that name what they acknowledge', () => {
  async function fleet() {
    const bus = new EmbeddedBus();
    const rec = recorder();
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: rec.methods, defaults: { ACKTimeout: 0.3, retryWait: 0.05 } });
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0, methods: rec.methods });
    nodes.push(central, ship1);
    const ack = bus.transport();
    // Published on ship1's subject: what a broker that confines no one lets anyone do.
    await ack.start('ship1-impostor', () => {});
    return { bus, rec, central, ship1, publishAck: (frame: AckBody) => ack.publish('central.ship1.REQTestRecord.ACK', encodeFrame({ v: 2, type: 'ack', stream, ...frame })) };
  }

  it('drop a message only when they are of its incarnation and name it', async () => {
    const { bus, rec, central, publishAck } = await fleet();
    bus.partition('central', 'ship1');
    const d = await central.send({ toNode: 'ship1', method: 'REQTestRecord', data: 'must arrive', replyMethod: 'none' });
    const inc = (central.senders().get(stream)!.info as { incarnation: string }).incarnation;
    publishAck({ inc: newIncarnation(), upTo: 1, id: d.id });
    publishAck({ inc, upTo: 1, id: 'another-message' });
    publishAck({ inc, upTo: 2 });
    await until(() => (central.senders().get(stream)!.info as { foreignAcks: number }).foreignAcks >= 3, 5000, 'the ACKs judged');
    expect((await central.queue()).map((q) => q.id)).toEqual([d.id]);
    // The one that names it does.
    publishAck({ inc, upTo: 1, id: d.id });
    await d.acked;
    await until(async () => (await central.queue()).length === 0, 5000, 'the outbox row deleted');
    expect(rec.runs.get('ship1')).toBeUndefined();
  });
});
