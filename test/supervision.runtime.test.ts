import { afterEach, describe, expect, it } from 'vitest';
import { startNode } from '../src/runtime/startNode.ts';
import type { BosunNode, NodeErrorReport } from '../src/runtime/Node.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import type { Transport } from '../src/transport/types.ts';
import { publishingThrough } from './helpers/publishingThrough.ts';
import { recorder } from './helpers/recorder.ts';
import { until } from './helpers/until.ts';

const nodes: BosunNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100).catch(() => {})));
});


/** A transport whose publish throws for subjects matching `poison`, `times` times. */
function faulty(inner: Transport, poison: RegExp, times: number): Transport & { thrown: number } {
  const t = Object.assign(
    publishingThrough(inner, (subject, payload) => {
      if (poison.test(subject) && t.thrown < times) {
        t.thrown++;
        throw new Error(`injected publish failure on ${subject}`);
      }
      inner.publish(subject, payload);
    }),
    { thrown: 0 },
  );
  return t;
}

describe('the node as a supervision tree', () => {
  it('shows store, error kernel, transport, outbound and inbound under a rest_for_one root', async () => {
    const bus = new EmbeddedBus();
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0 });
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0 });
    nodes.push(central, ship1);
    await (await central.send({ toNode: 'ship1', method: 'REQPing', replyMethod: 'REQPong' })).reply;
    const tree = central.tree();
    expect(tree.id).toBe('central');
    expect(tree.children.map((c) => c.id)).toEqual(['store', 'errorKernel', 'transport', 'outbound', 'inbound']);
    const outbound = tree.children.find((c) => c.id === 'outbound')!;
    expect(outbound.children.map((c) => c.id)).toContain('central~ship1~REQPing');
    expect(outbound.children[0]!.state).toBe('idle');
    const transport = tree.children.find((c) => c.id === 'transport')!;
    expect(transport.children[0]!.state).toBe('connected');
  });

  it('restarts a crashed subject from its outbox and still delivers exactly once', async () => {
    const bus = new EmbeddedBus();
    const rec = recorder();
    const reports: NodeErrorReport[] = [];
    const transport = faulty(bus.transport(), /^ship1\.central\.REQTestRecord\./, 1);
    const central = await startNode({ node: 'central', transport, helloIntervalSeconds: 0, methods: rec.methods, onError: (r) => reports.push(r) });
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0, methods: rec.methods });
    nodes.push(central, ship1);
    await central.accept(['a', 'b', 'c'].map((data) => ({ toNode: 'ship1', method: 'REQTestRecord', data, replyMethod: 'none' })));
    await until(() => (rec.runs.get('ship1')?.length ?? 0) >= 3 && central.idle);
    expect(transport.thrown).toBe(1);
    expect(rec.runs.get('ship1')).toEqual(['a', 'b', 'c']);
    expect(reports.some((r) => r.code === 'BOSUN_SUP_CHILD_CRASHED' && r.source.includes('central~ship1~REQTestRecord'))).toBe(true);
    const subject = central.tree().children.find((c) => c.id === 'outbound')!.children.find((c) => c.id === 'central~ship1~REQTestRecord')!;
    expect(subject.restarts).toBe(1);
  });

  it('escalates a restart storm up the tree as OTP does, and reports it', async () => {
    const bus = new EmbeddedBus();
    const reports: NodeErrorReport[] = [];
    let fatal: unknown;
    const transport = faulty(bus.transport(), /^ship1\.central\.REQNone\./, Infinity);
    const central = await startNode({
      node: 'central',
      transport,
      helloIntervalSeconds: 0,
      onError: (r) => reports.push(r),
      onFatal: (reason) => (fatal = reason),
    });
    nodes.push(central);
    await central.accept({ toNode: 'ship1', method: 'REQNone' });
    await until(() => fatal !== undefined);
    const codes = reports.map((r) => `${r.code} ${r.source}`);
    expect(codes.some((c) => c.startsWith('BOSUN_SUP_MAX_INTENSITY') && c.includes('outbound'))).toBe(true);
    expect(codes.some((c) => c.startsWith('BOSUN_SUP_MAX_INTENSITY central'))).toBe(true);
    expect(fatal).toMatchObject({ kind: 'shutdown' });
  });
});

describe('the store child', () => {
  it('fails when the store is found closed under a running node: the store reopens and the children after it restart', async () => {
    const bus = new EmbeddedBus();
    const reports: NodeErrorReport[] = [];
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, onError: (r) => reports.push(r) });
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0 });
    nodes.push(central, ship1);
    await (await central.send({ toNode: 'ship1', method: 'REQNone', replyMethod: 'none' })).acked;
    // Closed underneath: the next ACK's write finds it closed.
    await central.store.close();
    await ship1.accept({ toNode: 'central', method: 'REQNone', replyMethod: 'none' });
    await until(() => reports.some((r) => r.code === 'BOSUN_SUP_CHILD_CRASHED' && r.source === 'central/store'));
    await until(() => central.store.status === 'open' && central.tree().children.every((c) => c.state !== 'stopped'));
    const restarts = Object.fromEntries(central.tree().children.map((c) => [c.id, c.restarts]));
    expect(restarts).toEqual({ store: 1, errorKernel: 1, transport: 1, outbound: 1, inbound: 1 });
    // It goes on serving.
    await (await central.send({ toNode: 'ship1', method: 'REQNone', replyMethod: 'none' })).acked;
  });
});

describe('fault injection by path', () => {
  it('crashes a stream subject and a method subscriber: each restarts under its own supervisor, and the node goes on', async () => {
    const bus = new EmbeddedBus();
    const reports: NodeErrorReport[] = [];
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, onError: (r) => reports.push(r) });
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0 });
    nodes.push(central, ship1);
    await (await central.send({ toNode: 'ship1', method: 'REQPing', replyMethod: 'REQPong' })).reply;
    expect(await central.crashChild('outbound/central~ship1~REQPing')).toEqual({ crashed: 'central/outbound/central~ship1~REQPing' });
    expect(await central.crashChild('central/inbound/REQPong')).toEqual({ crashed: 'central/inbound/REQPong' });
    await until(() => reports.filter((r) => r.code === 'BOSUN_SUP_CHILD_CRASHED').length === 2);
    expect(reports.map((r) => `${r.source} ${r.action}`)).toEqual(['central/outbound/central~ship1~REQPing restarted', 'central/inbound/REQPong restarted']);
    await (await central.send({ toNode: 'ship1', method: 'REQPing', replyMethod: 'REQPong' })).reply;
    const tree = central.tree();
    const restarts = (parent: string, id: string) => tree.children.find((c) => c.id === parent)!.children.find((c) => c.id === id)!.restarts;
    expect([restarts('outbound', 'central~ship1~REQPing'), restarts('inbound', 'REQPong')]).toEqual([1, 1]);
    expect(tree.children.map((c) => c.restarts)).toEqual([0, 0, 0, 0, 0]);
    await expect(central.crashChild('outbound/nothing')).rejects.toMatchObject({ code: 'BOSUN_NOT_FOUND', message: 'no running child "nothing" under central/outbound' });
  });
});
