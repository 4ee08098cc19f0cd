import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../src/clock.ts';
import type { Message } from '../src/message.ts';
import type { MethodSpec } from '../src/methods/types.ts';
import type { BosunNode, NodeErrorReport } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { recorder } from './helpers/recorder.ts';

/**
 * A failing handler is a leaf of the supervision tree: its failure is the message's
 * outcome (an error reply, a report), never the node's. A handler that throws gets an
 * error reply; one that hangs is stopped at its `methodTimeout`; meanwhile every other
 * stream and method of the node keeps delivering.
 */

interface Fleet {
  clock: VirtualClock;
  runs: Map<string, string[]>;
  reports: Array<NodeErrorReport & { node: string }>;
  fatal: unknown[];
  nodes: Record<'a' | 'b' | 'c', BosunNode>;
  /** Moves virtual time in 100 ms steps until `cond` holds; fails after `maxMs`. */
  until(cond: () => boolean, maxMs?: number): Promise<void>;
}

/** The nodes' files folders (with a store given, the data dir only places them). */
const FILES_ROOT = path.join(os.tmpdir(), `bosun-supervision-${process.pid}`);

const started: BosunNode[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.crash()));
});
afterAll(() => rm(FILES_ROOT, { recursive: true, force: true }));

/** Records into the recorder's runs map, under the receiving node. */
function record(runs: Map<string, string[]>, node: string, value: string): void {
  let list = runs.get(node);
  if (!list) runs.set(node, (list = []));
  list.push(value);
}

async function fleet(): Promise<Fleet> {
  const clock = new VirtualClock();
  const bus = new EmbeddedBus({ seed: 3, clock });
  const rec = recorder();
  const runs = rec.runs;
  const reports: Fleet['reports'] = [];
  const fatal: unknown[] = [];
  const methods: MethodSpec[] = [
    ...rec.methods,
    {
      name: 'REQTestFlaky',
      summary: 'throws for data "throw", records otherwise (ordered)',
      async handler(ctx) {
        if (ctx.message.data === 'throw') throw new Error(`boom ${ctx.message.id}`);
        record(runs, ctx.node, `flaky ${ctx.message.data}`);
        return { output: `ran ${ctx.message.data}` };
      },
    },
    {
      name: 'REQTestInlineFlaky',
      summary: 'an inline handler that throws synchronously for data "throw"',
      inline: true,
      handler(ctx) {
        if (ctx.message.data === 'throw') throw new Error('inline boom');
        record(runs, ctx.node, `inline ${ctx.message.data}`);
        return Promise.resolve({ output: `ran ${ctx.message.data}` });
      },
    },
    ...(['REQTestHang', 'REQnTestHang'] as const).map(
      (name): MethodSpec => ({
        name,
        summary: 'hangs for data "hang" (ignoring everything but its abort signal), records otherwise',
        async handler(ctx) {
          record(runs, ctx.node, `${name} start ${ctx.message.data}`);
          if (ctx.message.data === 'hang') {
            ctx.signal.addEventListener('abort', () => record(runs, ctx.node, `${name} aborted ${ctx.message.data}`));
            await new Promise<never>(() => {});
          }
          return { output: `ran ${ctx.message.data}` };
        },
      }),
    ),
    {
      name: 'REQTestReply',
      summary: 'records the replies that come back',
      async handler(ctx) {
        record(runs, ctx.node, `reply ${ctx.message.inReplyTo?.id}: ${ctx.message.data}`);
        return {};
      },
    },
  ];
  const nodes = {} as Fleet['nodes'];
  for (const name of ['a', 'b', 'c'] as const) {
    nodes[name] = await startNode({
      node: name,
      central: 'central',
      dataDir: path.join(FILES_ROOT, name),
      store: new MemoryStore({ sync: true }),
      bus,
      clock,
      helloIntervalSeconds: 0,
      enabledMethods: [],
      methods,
      onError: (r) => reports.push({ ...r, node: name }),
      onFatal: (reason) => fatal.push(reason),
    });
    started.push(nodes[name]);
  }
  return {
    clock,
    runs,
    reports,
    fatal,
    nodes,
    async until(cond, maxMs = 60_000) {
      for (let spent = 0; !cond(); spent += 100) {
        if (spent >= maxMs) throw new Error(`not reached within ${maxMs} virtual ms; runs: ${JSON.stringify(Object.fromEntries(runs))}`);
        await clock.advance(100);
      }
    },
  };
}

const base = { ACKTimeout: 1, retryWait: 0.5, retries: -1 };

/** Sends and remembers the reply once it is back. */
async function sendForReply(node: BosunNode, message: Record<string, unknown>): Promise<{ id: string; reply: () => Message | undefined }> {
  const d = await node.send({ ...base, replyMethod: 'REQTestReply', ...message });
  let reply: Message | undefined;
  void d.reply.then((m) => (reply = m));
  return { id: d.id, reply: () => reply };
}

describe('reliability: a failing handler is the message’s failure, not the node’s', () => {
  it('answers a handler that throws with an error reply and keeps delivering the stream and the node', async () => {
    const f = await fleet();
    const { a, b, c } = f.nodes;
    const thrown: Array<Awaited<ReturnType<typeof sendForReply>>> = [];
    for (let i = 0; i < 15; i++) thrown.push(await sendForReply(a, { toNode: 'b', method: 'REQTestFlaky', data: 'throw' }));
    const after = await sendForReply(a, { toNode: 'b', method: 'REQTestFlaky', data: 'after' });
    const inlineThrown = await sendForReply(a, { toNode: 'b', method: 'REQTestInlineFlaky', data: 'throw' });
    const inlineAfter = await sendForReply(a, { toNode: 'b', method: 'REQTestInlineFlaky', data: 'after' });
    await c.accept({ ...base, toNode: 'b', method: 'REQTestRecord', data: 'c1', replyMethod: 'none' });

    await f.until(() => [...thrown, after, inlineThrown, inlineAfter].every((s) => s.reply() !== undefined));

    for (const s of thrown) {
      expect(s.reply()!.data).toMatch(new RegExp(`^error BOSUN_[A-Z_]+: .*boom ${s.id}`));
      expect(s.reply()!.fileName).toMatch(/\.error$/);
    }
    expect(inlineThrown.reply()!.data).toMatch(/^error BOSUN_[A-Z_]+: .*inline boom/);
    expect(after.reply()!.data).toBe('ran after');
    expect(inlineAfter.reply()!.data).toBe('ran after');
    expect(f.runs.get('b')).toEqual(expect.arrayContaining(['flaky after', 'inline after', 'c1']));
    // Each failure was reported once, as the message's, and nothing was restarted for it.
    expect(f.reports.filter((r) => r.node === 'b' && r.source.includes('REQTestFlaky'))).toHaveLength(15);
    expect(f.reports.filter((r) => r.code.startsWith('BOSUN_SUP_'))).toEqual([]);
    expect(f.fatal).toEqual([]);
    expect(b.status).toBe('running');
  });

  it('stops a handler that hangs at its methodTimeout and moves its ordered stream on', async () => {
    const f = await fleet();
    const { a, c } = f.nodes;
    const hung = await sendForReply(a, { toNode: 'b', method: 'REQTestHang', data: 'hang', methodTimeout: 5 });
    const next = await sendForReply(a, { toNode: 'b', method: 'REQTestHang', data: 'next', methodTimeout: 5 });

    // While it hangs, its stream waits (it is ordered) and everything else is delivered.
    await c.accept([
      { ...base, toNode: 'b', method: 'REQTestRecord', data: 'c-ordered', replyMethod: 'none' },
      { ...base, toNode: 'b', method: 'REQnTestRecord', data: 'c-unordered', replyMethod: 'none' },
    ]);
    await a.accept({ ...base, toNode: 'b', method: 'REQTestRecord', data: 'a-ordered', replyMethod: 'none' });
    await f.until(() => (f.runs.get('b') ?? []).length >= 4, 3_000);
    expect(f.runs.get('b')).toEqual(expect.arrayContaining(['REQTestHang start hang', 'c-ordered', 'c-unordered', 'a-ordered']));
    expect(f.runs.get('b')).not.toContain('REQTestHang start next');
    expect(f.clock.now() - 1_700_000_000_000).toBeLessThan(5_000);

    await f.until(() => hung.reply() !== undefined && next.reply() !== undefined, 10_000);
    expect(hung.reply()!.data).toMatch(/^error BOSUN_METHOD_TIMEOUT: /);
    expect(next.reply()!.data).toBe('ran next');
    const hangRuns = f.runs.get('b')!.filter((r) => r.startsWith('REQTestHang'));
    // The hung run was told to stop (its signal aborted) before the next one started.
    expect(hangRuns).toEqual(['REQTestHang start hang', 'REQTestHang aborted hang', 'REQTestHang start next']);
    expect(f.reports.filter((r) => r.code === 'BOSUN_METHOD_TIMEOUT')).toHaveLength(1);
    expect(f.fatal).toEqual([]);
  });

  it('lets the other runs of an unordered method go on while one of them hangs', async () => {
    const f = await fleet();
    const { a } = f.nodes;
    const hung = await sendForReply(a, { toNode: 'b', method: 'REQnTestHang', data: 'hang', methodTimeout: 5 });
    const others: Array<Awaited<ReturnType<typeof sendForReply>>> = [];
    for (let i = 0; i < 5; i++) others.push(await sendForReply(a, { toNode: 'b', method: 'REQnTestHang', data: `u${i}`, methodTimeout: 5 }));
    await f.until(() => others.every((s) => s.reply() !== undefined), 3_000);
    expect(hung.reply()).toBeUndefined();
    await f.until(() => hung.reply() !== undefined, 10_000);
    expect(hung.reply()!.data).toMatch(/^error BOSUN_METHOD_TIMEOUT: /);
    expect(f.runs.get('b')).toContain('REQnTestHang aborted hang');
  });
});
