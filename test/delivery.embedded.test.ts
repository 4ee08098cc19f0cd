import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { startNode } from '../src/runtime/startNode.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { recorder } from './helpers/recorder.ts';
import { until } from './helpers/until.ts';

const nodes: BosunNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
});


describe('delivery over the embedded bus', () => {
  it('runs an ordered stream once each, in order', async () => {
    const bus = new EmbeddedBus();
    const rec = recorder();
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: rec.methods });
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0, methods: rec.methods });
    nodes.push(central, ship1);
    const msgs = Array.from({ length: 2000 }, (_, i) => ({ toNode: 'ship1', method: 'REQTestRecord', data: String(i), replyMethod: 'none' }));
    const results = await central.accept(msgs);
    expect(results.every((r) => 'status' in r)).toBe(true);
    await until(() => (rec.runs.get('ship1')?.length ?? 0) >= 2000);
    await until(() => central.idle);
    expect(rec.runs.get('ship1')).toEqual(msgs.map((m) => m.data));
  });

  it('delivers the reply to the sender', async () => {
    const bus = new EmbeddedBus();
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0 });
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0 });
    nodes.push(central, ship1);
    const d = await central.send({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['echo', 'hi'] });
    await d.acked;
    const reply = await d.reply;
    expect(reply.data).toBe('hi\n');
    expect(reply.fromNode).toBe('ship1');
  });

  it('survives drops, duplicates and reordering', async () => {
    const bus = new EmbeddedBus({ seed: 7 });
    bus.setFaults({ drop: 0.2, duplicate: 0.2, reorder: 0.2 });
    const rec = recorder();
    const opts = { bus, helloIntervalSeconds: 0, methods: rec.methods, defaults: { ACKTimeout: 0.05, retryWait: 0.01 } };
    const central = await startNode({ node: 'central', ...opts });
    const ship1 = await startNode({ node: 'ship1', ...opts });
    nodes.push(central, ship1);
    const ordered = Array.from({ length: 300 }, (_, i) => ({ toNode: 'ship1', method: 'REQTestRecord', data: `o${i}`, replyMethod: 'none' }));
    const unordered = Array.from({ length: 300 }, (_, i) => ({ toNode: 'ship1', method: 'REQnTestRecord', data: `u${i}`, replyMethod: 'none' }));
    await central.accept([...ordered, ...unordered]);
    await until(() => central.idle && ship1.idle && (rec.runs.get('ship1')?.length ?? 0) >= 600, 30_000);
    const ran = rec.runs.get('ship1')!;
    expect(ran.filter((x) => x.startsWith('o'))).toEqual(ordered.map((m) => m.data));
    expect(new Set(ran).size).toBe(ran.length);
    expect(ran.filter((x) => x.startsWith('u')).sort()).toEqual(unordered.map((m) => m.data).sort());
  });

  it('keeps messages for a node that is down and delivers them when it starts', async () => {
    const bus = new EmbeddedBus();
    const rec = recorder();
    const opts = { bus, helloIntervalSeconds: 0, methods: rec.methods, defaults: { ACKTimeout: 0.05, retryWait: 0.05 } };
    const central = await startNode({ node: 'central', ...opts });
    nodes.push(central);
    await central.accept(Array.from({ length: 50 }, (_, i) => ({ toNode: 'ship1', method: 'REQTestRecord', data: String(i), replyMethod: 'none' })));
    await new Promise((r) => setTimeout(r, 300));
    expect(rec.runs.get('ship1')).toBeUndefined();
    const ship1 = await startNode({ node: 'ship1', ...opts });
    nodes.push(ship1);
    await until(() => (rec.runs.get('ship1')?.length ?? 0) >= 50);
    expect(rec.runs.get('ship1')).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
  });

  it('dead-letters a message that runs out of retries and moves the ordered stream on', async () => {
    const bus = new EmbeddedBus();
    const rec = recorder();
    const errors: string[] = [];
    const opts = { bus, helloIntervalSeconds: 0, methods: rec.methods };
    const central = await startNode({ node: 'central', ...opts, onError: (r) => errors.push(r.code) });
    nodes.push(central);
    await central.accept([
      { toNode: 'ship1', method: 'REQTestRecord', data: 'doomed', ACKTimeout: 0.05, retries: 1, retryWait: 0.01, replyMethod: 'none' },
    ]);
    await until(() => errors.includes('BOSUN_DEAD_LETTER'));
    await central.accept([{ toNode: 'ship1', method: 'REQTestRecord', data: 'next', replyMethod: 'none' }]);
    const ship1 = await startNode({ node: 'ship1', ...opts });
    nodes.push(ship1);
    await until(() => (rec.runs.get('ship1')?.length ?? 0) >= 1);
    await until(() => central.idle);
    expect(rec.runs.get('ship1')).toEqual(['next']);
  });

  it('recovers the outbox after a sender crash', async () => {
    const bus = new EmbeddedBus();
    const rec = recorder();
    const store = new MemoryStore();
    const opts = { bus, helloIntervalSeconds: 0, methods: rec.methods, defaults: { ACKTimeout: 0.05, retryWait: 0.01 } };
    const central = await startNode({ node: 'central', store, ...opts });
    await central.accept(Array.from({ length: 100 }, (_, i) => ({ toNode: 'ship1', method: 'REQTestRecord', data: String(i), replyMethod: 'none' })));
    const survived = store.crash({ powerLoss: false });
    await central.transport.close();
    const again = await startNode({ node: 'central', store: survived, ...opts });
    const ship1 = await startNode({ node: 'ship1', ...opts });
    nodes.push(again, ship1);
    await until(() => (rec.runs.get('ship1')?.length ?? 0) >= 100);
    expect(rec.runs.get('ship1')).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
  });
});

describe('outbox beyond the window', () => {
  it('streams a backlog far larger than the window without skipping or repeating', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-window-'));
    try {
      const bus = new EmbeddedBus();
      const rec = recorder();
      const opts = { bus, helloIntervalSeconds: 0, methods: rec.methods, windowSize: 7 };
      const central = await startNode({ node: 'central', dataDir: path.join(dir, 'c'), ...opts });
      const ship1 = await startNode({ node: 'ship1', dataDir: path.join(dir, 's'), ...opts });
      nodes.push(central, ship1);
      const sent: string[] = [];
      for (let b = 0; b < 5; b++) {
        const batch = Array.from({ length: 100 }, (_, i) => ({ toNode: 'ship1', method: 'REQTestRecord', data: `${b}-${i}`, replyMethod: 'none' }));
        sent.push(...batch.map((m) => m.data));
        await central.accept(batch);
      }
      await until(() => (rec.runs.get('ship1')?.length ?? 0) >= 500 && central.idle);
      expect(rec.runs.get('ship1')).toEqual(sent);
    } finally {
      await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
