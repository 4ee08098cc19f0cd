import { afterEach, describe, expect, it } from 'vitest';
import { ackSubject, dataSubject, encodeFrame, publisherOf, streamIdOf, newIncarnation } from '../src/delivery/frames.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { testMessage } from './support/methods.ts';
import { recorder } from './helpers/recorder.ts';
import { until } from './helpers/until.ts';

const INC = newIncarnation();

/**
 * Subjects name their publisher (`<addressee>.<publisher>.<method>.<kind>`), and a node
 * drops a frame whose subject names anyone but the stream's other node: a third node can
 * neither burn a stream's sequence numbers nor ACK its messages away.
 */
const nodes: BosunNode[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function fleet() {
  const bus = new EmbeddedBus();
  const rec = recorder();
  const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: rec.methods, defaults: { ACKTimeout: 0.3, retryWait: 0.05 } });
  const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0, methods: rec.methods });
  nodes.push(central, ship1);
  const mallory = bus.transport();
  await mallory.start('mallory', () => {});
  closers.push(() => mallory.close());
  return { bus, rec, central, ship1, mallory };
}

describe('subjects that name their publisher', () => {
  it('put the addressee first and the publisher second', () => {
    const ids = { fromNode: 'central', toNode: 'ship1', method: 'REQCliCommand' };
    expect(dataSubject(ids)).toBe('ship1.central.REQCliCommand.CommandACK');
    expect(ackSubject(ids)).toBe('central.ship1.REQCliCommand.ACK');
    expect(publisherOf(dataSubject(ids))).toBe('central');
    expect(publisherOf('central')).toBeUndefined();
    expect(publisherOf('central.REQHello')).toBeUndefined();
  });

  it('keep a third node from taking a stream\'s next sequence number', async () => {
    const { rec, central, ship1, mallory } = await fleet();
    const stream = streamIdOf('central', 'ship1', 'REQTestRecord');
    const forged = testMessage({ id: 'forged', fromNode: 'central', toNode: 'ship1', method: 'REQTestRecord', data: 'forged', replyMethod: 'none' });
    // Sequence 1 of central's stream, published by mallory on a subject that names mallory.
    mallory.publish('ship1.mallory.REQTestRecord.EventACK', encodeFrame({ v: 2, type: 'data', inc: INC, stream, seq: 1, message: forged }));
    await until(() => ship1.counters.badFrames >= 1, 5000, 'the forged frame dropped');
    await central.accept({ toNode: 'ship1', method: 'REQTestRecord', data: 'genuine', replyMethod: 'none' });
    await until(() => (rec.runs.get('ship1')?.length ?? 0) >= 1, 5000, 'the genuine run');
    expect(rec.runs.get('ship1')).toEqual(['genuine']);
  });

  it('keep a third node from ACKing a message away', async () => {
    const { bus, rec, central, ship1, mallory } = await fleet();
    bus.partition('central', 'ship1');
    const d = await central.send({ toNode: 'ship1', method: 'REQTestRecord', data: 'must arrive', replyMethod: 'none' });
    const stream = streamIdOf('central', 'ship1', 'REQTestRecord');
    mallory.publish('central.mallory.REQTestRecord.ACK', encodeFrame({ v: 2, type: 'ack', inc: INC, stream, upTo: 1 }));
    await until(() => central.counters.badFrames >= 1, 5000, 'the forged ACK dropped');
    expect((await central.queue()).map((q) => q.id)).toEqual([d.id]);
    bus.heal();
    await d.acked;
    await until(() => (rec.runs.get('ship1')?.length ?? 0) >= 1, 5000, 'the run');
    expect(rec.runs.get('ship1')).toEqual(['must arrive']);
    expect(ship1.counters.badFrames).toBe(0);
  });
});
