import { afterEach, describe, expect, it } from 'vitest';
import type { MethodSpec } from '../src/methods/types.ts';
import type { Message } from '../src/message.ts';
import { startNode } from '../src/runtime/startNode.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { until } from './helpers/until.ts';
import { replyCollector } from './helpers/recorder.ts';

const nodes: BosunNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
});


const inbox = () => {
  const { method, replies } = replyCollector('REQTestInbox');
  return { method, got: replies };
};

describe('replies', () => {
  it('arrive in the order a streaming handler emitted them, the first one included', async () => {
    const bus = new EmbeddedBus();
    const box = inbox();
    const talker: MethodSpec = {
      name: 'REQnTestTalk',
      summary: 'emits lines',
      idempotent: true,
      async handler(ctx) {
        for (let i = 0; i < 20; i++) await ctx.emit(String(i));
        return { output: 'done' };
      },
    };
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: [box.method] });
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0, methods: [talker] });
    nodes.push(central, ship1);
    await central.accept({ toNode: 'ship1', method: 'REQnTestTalk', replyMethod: 'REQTestInbox' });
    await until(() => box.got.length >= 21);
    expect(box.got.map((m) => m.data)).toEqual([...Array.from({ length: 20 }, (_, i) => String(i)), 'done']);
  });

  it('carry the error of a failed run as a field, not only as text', async () => {
    const bus = new EmbeddedBus();
    const box = inbox();
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: [box.method] });
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0 });
    nodes.push(central, ship1);
    await central.accept({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['sh', '-c', 'exit 3'], replyMethod: 'REQTestInbox' });
    await until(() => box.got.length >= 1);
    expect(box.got[0]!.error).toMatchObject({ code: 'BOSUN_METHOD_FAILED' });
    expect(box.got[0]!.fileName).toBe('REQCliCommand.result.error');
  });

  it('cut output larger than a frame may be, and say so', async () => {
    const bus = new EmbeddedBus();
    const box = inbox();
    const big: MethodSpec = { name: 'REQTestBig', summary: 'big output', async handler() { return { output: 'x'.repeat(3 * 1024 * 1024) }; } };
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: [box.method] });
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0, methods: [big] });
    nodes.push(central, ship1);
    await central.accept({ toNode: 'ship1', method: 'REQTestBig', replyMethod: 'REQTestInbox' });
    await until(() => box.got.length >= 1);
    expect(box.got[0]!.error).toMatchObject({ code: 'BOSUN_TOO_LARGE' });
    expect(Buffer.byteLength(box.got[0]!.data!)).toBeLessThan(1024 * 1024);
    expect(box.got[0]!.data).toMatch(/output cut at \d+ of 3145728 bytes/);
  });
});

describe('stopping', () => {
  it('stops a handler that outlives the grace period, and reports it interrupted at the next start', async () => {
    const bus = new EmbeddedBus();
    const { MemoryStore } = await import('../src/store/MemoryStore.ts');
    const store = new MemoryStore();
    let aborted = false;
    const stuck: MethodSpec = {
      name: 'REQTestStuck',
      summary: 'waits for its signal',
      handler: (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => { aborted = true; resolve({}); })),
    };
    const reports: string[] = [];
    const opts = { bus, helloIntervalSeconds: 0, methods: [stuck], onError: (r: { code: string }) => reports.push(r.code) };
    const central = await startNode({ node: 'central', ...opts });
    const ship1 = await startNode({ node: 'ship1', store, ...opts });
    nodes.push(central);
    await central.accept({ toNode: 'ship1', method: 'REQTestStuck', methodTimeout: -1, replyMethod: 'none' });
    await until(() => (ship1.subscribers().get('REQTestStuck')?.info as { running: number } | undefined)?.running === 1);
    const started = Date.now();
    await ship1.stop(200);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(aborted).toBe(true);

    const again = await startNode({ node: 'ship1', store: store.crash({ powerLoss: false }), ...opts });
    nodes.push(again);
    await until(() => reports.includes('BOSUN_INTERRUPTED'));
  });
});
