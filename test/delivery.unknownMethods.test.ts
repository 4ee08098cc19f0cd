import { afterEach, describe, expect, it } from 'vitest';
import { debugCommand } from '../src/inputs/debugSocket.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { recorder, replyCollector } from './helpers/recorder.ts';
import { until } from './helpers/until.ts';

/**
 * Method names come from senders. A sender that makes up a new one for every message
 * (REQx1, REQx2, …) must not make the receiving node keep a receiver and a subscriber for
 * each: every message is answered BOSUN_UNKNOWN_METHOD, and what the node holds in memory
 * goes back to what it was. The streams stay correct: a method the operator starts later
 * takes up its stream where it was.
 */

const nodes: BosunNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
});

const FAST = { ACKTimeout: 1, retryWait: 0.1 };

async function fleet() {
  const bus = new EmbeddedBus();
  const rec = recorder();
  const box = replyCollector('REQTestInbox');
  const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, defaults: FAST, methods: [box.method] });
  // REQCliCommand is switched off here: unknown until an operator starts it.
  const ship = await startNode({ node: 'ship', bus, helloIntervalSeconds: 0, defaults: FAST, methods: rec.methods, enabledMethods: ['REQOpCommand', 'REQErrorLog'] });
  nodes.push(central, ship);
  return { bus, rec, box, central, ship };
}

/** The ship's inbound subtree: its supervised subscribers (and the receivers the tree lists). */
const inboundChildren = (node: BosunNode) => node.tree().children.find((c) => c.id === 'inbound')!.children.length;

describe('messages for methods a node does not serve', { timeout: 120_000 }, () => {
  it('are each answered BOSUN_UNKNOWN_METHOD, and leave no receiver or subscriber behind', async () => {
    const { box, rec, central, ship } = await fleet();
    // The first known message opens what a served method keeps: the baseline.
    await central.send({ toNode: 'ship', method: 'REQTestRecord', data: 'first', replyMethod: 'REQTestInbox' }).then((d) => d.reply);
    await until(() => ship.idle, 10_000, 'ship idle');
    const baseline = { live: ship.live, children: inboundChildren(ship) };
    expect(baseline.live.receivers).toBe(1);

    const total = 2000;
    const wave = 250;
    for (let start = 0; start < total; start += wave) {
      const messages = Array.from({ length: wave }, (_, k) => {
        const i = start + k;
        // Ordered and unordered streams alike.
        return { id: `u${i}`, toNode: 'ship', method: i % 2 === 0 ? `REQUnknown${i}` : `REQnUnknown${i}`, replyMethod: 'REQTestInbox' };
      });
      const results = await central.accept(messages);
      expect(results.every((r) => 'status' in r)).toBe(true);
      await until(() => box.replies.length >= 1 + start + wave, 60_000, `the replies to messages ${start}…${start + wave - 1}`);
      await until(() => ship.idle, 10_000, 'ship idle');
      // Each wave leaves the ship as it found it: nothing accumulates.
      await until(() => ship.live.receivers === baseline.live.receivers && ship.live.subscribers === baseline.live.subscribers, 10_000, 'the ship to let go');
      await until(() => inboundChildren(ship) === baseline.children, 10_000, 'the inbound subtree to shrink back');
    }
    const answers = box.replies.filter((r) => r.inReplyTo!.id.startsWith('u'));
    expect(answers).toHaveLength(total);
    expect(new Set(answers.map((r) => r.inReplyTo!.id)).size).toBe(total);
    for (const r of answers) expect(r.error?.code).toBe('BOSUN_UNKNOWN_METHOD');

    // A served method still works.
    const later = await central.send({ toNode: 'ship', method: 'REQTestRecord', data: 'later', replyMethod: 'REQTestInbox' });
    expect((await later.reply).data).toBe('ran later');
    expect(rec.runs.get('ship')).toEqual(['first', 'later']);
    // The debug socket's `stats` says what the node holds.
    expect(JSON.parse(await debugCommand(ship, 'stats')).live).toEqual(ship.live);
  });

  it('keep their stream: a duplicate is not run again, and a method an operator starts takes up where its stream was', async () => {
    const { bus, box, central, ship } = await fleet();
    const reply = async (message: object) => (await central.send({ toNode: 'ship', replyMethod: 'REQTestInbox', ...message })).reply;
    const before = await reply({ method: 'REQCliCommand', methodArgs: ['echo', 'before'] });
    expect(before.error?.code).toBe('BOSUN_UNKNOWN_METHOD');
    await until(() => ship.receivers().size === 0 && !ship.subscribers().has('REQCliCommand'), 10_000, 'the ship to let go');

    // Every frame arrives twice: the second finds the stream's position in the store.
    bus.setFaults({ duplicate: 1 });
    const dup = await reply({ method: 'REQCliCommand', methodArgs: ['echo', 'twice'] });
    expect(dup.error?.code).toBe('BOSUN_UNKNOWN_METHOD');
    bus.setFaults({});
    await until(() => ship.idle && central.idle, 10_000, 'both idle');
    expect(box.replies.filter((r) => r.inReplyTo!.id === dup.inReplyTo!.id)).toHaveLength(1);

    const started = await reply({ method: 'REQOpCommand', methodArgs: [JSON.stringify({ opCmd: 'startProc', opArg: { method: 'REQCliCommand' } })] });
    expect(started.error).toBeUndefined();
    const after = await reply({ method: 'REQCliCommand', methodArgs: ['echo', 'after'] });
    expect(after).toMatchObject({ data: 'after\n' });
    expect(after.error).toBeUndefined();
  });

  it('keep their stream across a restart of the node', async () => {
    const bus = new EmbeddedBus();
    const box = replyCollector('REQTestInbox');
    const store = new MemoryStore();
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, defaults: FAST, methods: [box.method] });
    const options = { node: 'ship', bus, store, helloIntervalSeconds: 0, defaults: FAST };
    let ship = await startNode({ ...options, enabledMethods: ['REQErrorLog'] });
    nodes.push(central);
    const reply = async (data: string) => (await central.send({ toNode: 'ship', method: 'REQCliCommand', methodArgs: ['echo', data], replyMethod: 'REQTestInbox' })).reply;
    expect((await reply('one')).error?.code).toBe('BOSUN_UNKNOWN_METHOD');
    expect((await reply('two')).error?.code).toBe('BOSUN_UNKNOWN_METHOD');
    await until(() => ship.idle, 10_000, 'ship idle');
    await ship.stop(100);
    // Back with the method switched on: the stream goes on at its third message, which runs.
    ship = await startNode({ ...options });
    nodes.push(ship);
    expect(await reply('three')).toMatchObject({ data: 'three\n' });
  });
});
