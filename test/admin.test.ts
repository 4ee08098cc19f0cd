import { afterEach, describe, expect, it } from 'vitest';
import { startNode } from '../src/runtime/startNode.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { recorder } from './helpers/recorder.ts';
import { until } from './helpers/until.ts';

const nodes: BosunNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
});


const slow = { ACKTimeout: 0.05, retryWait: 0.05, replyMethod: 'none' };

describe('queue management', () => {
  it('lists queued messages and withdraws them by id and by node, leaving the stream able to move on', async () => {
    const bus = new EmbeddedBus();
    const rec = recorder();
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: rec.methods });
    nodes.push(central);
    await central.accept([
      { id: 'keep-1', toNode: 'ship1', method: 'REQTestRecord', data: 'keep-1', ...slow },
      { id: 'drop-1', toNode: 'ship1', method: 'REQTestRecord', data: 'drop-1', ...slow },
      { id: 'keep-2', toNode: 'ship1', method: 'REQTestRecord', data: 'keep-2', ...slow },
      { id: 'other', toNode: 'ship2', method: 'REQTestRecord', data: 'other', ...slow },
    ]);
    expect((await central.queue()).map((q) => q.id)).toEqual(['keep-1', 'drop-1', 'keep-2', 'other']);
    expect((await central.queue({ node: 'ship2' })).map((q) => q.id)).toEqual(['other']);

    expect((await central.removeQueued({ id: 'drop-1' })).map((q) => q.id)).toEqual(['drop-1']);
    expect((await central.removeQueued({ node: 'ship2' })).map((q) => q.id)).toEqual(['other']);
    expect((await central.queue()).map((q) => q.id)).toEqual(['keep-1', 'keep-2']);
    await expect(central.removeQueued({})).rejects.toThrow(/say which messages/);

    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0, methods: rec.methods });
    nodes.push(ship1);
    await until(() => central.senders().get('central~ship1~REQTestRecord')!.drained && (rec.runs.get('ship1')?.length ?? 0) >= 2);
    expect(rec.runs.get('ship1')).toEqual(['keep-1', 'keep-2']);
    // ship2 is down: the place of its withdrawn message waits for it as a skip marker.
    expect(await central.queue({ node: 'ship2' })).toEqual([]);
  });
});

describe('dead letters', () => {
  it('lists, resends and purges messages that ran out of retries', async () => {
    const bus = new EmbeddedBus();
    const rec = recorder();
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: rec.methods });
    nodes.push(central);
    await central.accept([
      { id: 'd1', toNode: 'ship1', method: 'REQTestRecord', data: 'd1', retries: 0, ...slow },
      { id: 'd2', toNode: 'ship1', method: 'REQTestRecord', data: 'd2', retries: 0, ...slow },
    ]);
    await until(async () => (await central.deadLetters()).length === 2);
    expect((await central.deadLetters()).map((d) => d.message.id).sort()).toEqual(['d1', 'd2']);

    expect((await central.purgeDead(['d2'])).map((d) => d.message.id)).toEqual(['d2']);
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0, methods: rec.methods });
    nodes.push(ship1);
    const resent = await central.resendDead();
    expect(resent).toEqual([{ id: 'd1', toNode: 'ship1', status: 'accepted' }]);
    await until(() => (rec.runs.get('ship1')?.length ?? 0) >= 1);
    expect(rec.runs.get('ship1')).toEqual(['d1']);
    expect(await central.deadLetters()).toEqual([]);
  });
});

describe('audit log', () => {
  it('records every message a node ran, with its outcome, queryable by method and time', async () => {
    const bus = new EmbeddedBus();
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0 });
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0 });
    nodes.push(central, ship1);
    const before = Date.now();
    const ok = await central.send({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['echo', 'audited'] });
    await ok.reply;
    const bad = await central.send({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['false'] });
    await bad.reply;
    const runs = await ship1.audit({ method: 'REQCliCommand', sinceMs: before - 1 });
    expect(runs.map((r) => [r.message.id, r.outcome.ok])).toEqual([
      [ok.id, true],
      [bad.id, false],
    ]);
    expect(runs[0]!.message.methodArgs).toEqual(['echo', 'audited']);
    expect(runs[1]!.outcome).toMatchObject({ code: 'BOSUN_METHOD_FAILED' });
    // central ran the replies
    await until(async () => (await central.audit({ method: 'REQToFileAppend' })).length === 2);
  });
});

describe('hello', () => {
  it('central keeps each node’s last contact and capabilities', async () => {
    const bus = new EmbeddedBus();
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0 });
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 60 });
    nodes.push(central, ship1);
    await until(() => central.nodes().length === 1);
    const [seen] = central.nodes();
    expect(seen!.node).toBe('ship1');
    expect(seen!.capabilities!.methods).toContain('REQCliCommand');
    expect(seen!.capabilities!.cpus).toBeGreaterThan(0);
    expect(typeof seen!.capabilities!.bosun).toBe('string');
    expect(Date.parse(seen!.lastSeen)).toBeLessThanOrEqual(Date.now());
  });
});
