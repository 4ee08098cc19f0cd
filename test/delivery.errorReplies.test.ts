import { afterEach, describe, expect, it } from 'vitest';
import type { BosunNode } from '../src/runtime/Node.ts';
import { ERROR_REPLY_MAX_RETRIES } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { until } from './helpers/until.ts';

/**
 * An error reply is resent a bounded number of times, whatever the request asked: the
 * sender of a refused request may not exist at all (a name made up on an open broker),
 * and answering it must not cost the refusing node forever.
 */
const nodes: BosunNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
});

describe('error replies', () => {
  it('give up after a bounded number of resends even when the request asked for resends forever', async () => {
    const bus = new EmbeddedBus();
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0 });
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0 });
    nodes.push(central, ship1);
    // Refused on ship1 (no such method); its error reply can never reach central.
    const d = await central.send({ toNode: 'ship1', method: 'REQTestNoSuchMethod', replyRetries: -1, ACKTimeout: 0.05, retryWait: 0.01 });
    await d.acked;
    bus.partition('central', 'ship1');
    const deadReply = async () => (await ship1.deadLetters()).find((l) => l.message.inReplyTo?.id === d.id);
    await until(async () => (await deadReply()) !== undefined, 10_000, 'the error reply dead-lettered');
    const dead = (await deadReply())!;
    expect(dead.message.error?.code).toBe('BOSUN_UNKNOWN_METHOD');
    expect(dead.message.retries).toBe(ERROR_REPLY_MAX_RETRIES);
    expect(dead.attempts).toBe(ERROR_REPLY_MAX_RETRIES + 1);
  });
});
