import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MethodSpec } from '../src/methods/types.ts';
import type { BosunNode, NodeErrorReport } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { tempDir } from './helpers/daemon.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';
import { freePort } from './helpers/ports.ts';
import { recorder, replyCollector } from './helpers/recorder.ts';
import { until } from './helpers/until.ts';

/**
 * Frame sizes over a real nats-server, which drops a payload over its `max_payload` (1 MiB
 * by default). Whatever a node makes itself — a reply, escaped once more in a relay
 * envelope — fits; what it is handed that cannot fit is refused when it is accepted, and
 * never resent forever.
 */

const MiB = 1024 * 1024;
const FAST = { ACKTimeout: 1, retryWait: 0.2 };

let nats: NatsServer;
const nodes: BosunNode[] = [];
const servers: NatsServer[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
});
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await nats?.stop();
});

/** Prints `methodArgs[0]` repeated `methodArgs[1]` times. */
const repeat: MethodSpec = {
  name: 'REQTestRepeat',
  summary: 'prints a text many times',
  async handler(ctx) {
    return { output: ctx.message.methodArgs[0]!.repeat(Number(ctx.message.methodArgs[1])) };
  },
};

async function fleet(url = nats.url) {
  const box = replyCollector('REQTestInbox');
  const rec = recorder();
  const reports: NodeErrorReport[] = [];
  const start = (node: string) =>
    startNode({ node, nats: { servers: url }, helloIntervalSeconds: 0, defaults: FAST, methods: [repeat, box.method, ...rec.methods], onError: (r) => reports.push(r) });
  const [central, hub, ship] = await Promise.all([start('central'), start('hub'), start('ship')]);
  nodes.push(central, hub, ship);
  return { box, rec, reports, central, hub, ship };
}

describe('a reply', { timeout: 60_000 }, () => {
  it('is cut to fit its frame when its output escapes to several times its size, through a relay too', async () => {
    const { box, central } = await fleet();
    await until(() => central.transport.status === 'connected');
    // Each escapes to 2, 4, 6 or 7 bytes in the frame: 900 KiB of them would never fit.
    const cases = [
      { text: '"', via: 'hub' },
      { text: '\\', via: 'hub' },
      { text: '\u0001', via: undefined },
      { text: '\u0001', via: 'hub' },
      { text: 'é"', via: 'hub' },
    ];
    for (const [i, c] of cases.entries()) {
      const count = Math.floor((900 * 1024) / c.text.length);
      const [result] = await central.accept({
        id: `big${i}`,
        toNode: 'ship',
        method: 'REQTestRepeat',
        methodArgs: [c.text, String(count)],
        replyMethod: 'REQTestInbox',
        ...(c.via ? { relayViaNode: c.via } : {}),
      });
      expect(result).toMatchObject({ status: 'accepted' });
    }
    await until(() => box.replies.length >= cases.length, 30_000, 'every reply');
    for (const [i, c] of cases.entries()) {
      const reply = box.replies.find((r) => r.inReplyTo?.id === `big${i}`)!;
      expect(reply.error).toMatchObject({ code: 'BOSUN_TOO_LARGE' });
      expect(reply.relayViaNode).toBe(c.via);
      const match = /^([^]*)\n\[bosun: output cut at (\d+) of (\d+) bytes\]$/.exec(reply.data!);
      expect(match).not.toBeNull();
      const [, kept, keptBytes, size] = match!;
      expect(Number(size)).toBe(Buffer.byteLength(c.text.repeat(Math.floor((900 * 1024) / c.text.length))));
      expect(Number(keptBytes)).toBe(Buffer.byteLength(kept!));
      expect(kept!.replaceAll(c.text, '')).toBe(kept!.length % c.text.length === 0 ? '' : c.text.slice(0, kept!.length % c.text.length));
      // As much as fits: no less than a seventh of the frame.
      expect(Buffer.byteLength(kept!)).toBeGreaterThan(MiB / 8);
    }
  });

  it('that fits is not cut', async () => {
    const { box, central } = await fleet();
    await central.accept({ toNode: 'ship', relayViaNode: 'hub', method: 'REQTestRepeat', methodArgs: ['x', String(900 * 1024)], replyMethod: 'REQTestInbox' });
    await until(() => box.replies.length >= 1, 30_000, 'the reply');
    expect(box.replies[0]!.error).toBeUndefined();
    expect(box.replies[0]!.data).toBe('x'.repeat(900 * 1024));
  });
});

describe('a message', { timeout: 60_000 }, () => {
  it('whose frame the broker cannot carry is refused at accept, with the reason; a relayed one is measured in its envelope', async () => {
    const { central, box } = await fleet();
    await until(() => central.transport.status === 'connected');
    const [direct] = await central.accept({ id: 'huge', toNode: 'ship', method: 'REQTestRecord', data: 'x'.repeat(MiB - 100) });
    expect(direct).toEqual({
      error: { code: 'BOSUN_MESSAGE_TOO_LARGE', message: expect.stringMatching(/^message huge to ship is \d+ bytes as a frame; the nats transport carries at most 1048576 /) },
    });
    // 300 KiB of quotes: 600 KiB in a frame, but 1.2 MiB in a relay envelope's.
    const quotes = '"'.repeat(300 * 1024);
    const [relayed] = await central.accept({ id: 'quoted', toNode: 'ship', relayViaNode: 'hub', method: 'REQTestRecord', data: quotes });
    expect(relayed).toEqual({
      error: { code: 'BOSUN_MESSAGE_TOO_LARGE', message: expect.stringMatching(/^message quoted to ship is \d+ bytes as a frame in its envelope to relay hub; /) },
    });
    const sent = await central.send({ toNode: 'ship', method: 'REQTestRepeat', methodArgs: ['ok', '1'], data: quotes, replyMethod: 'REQTestInbox' });
    expect((await sent.reply).data).toBe('ok');
    expect(box.replies).toHaveLength(1);
    await until(async () => (await central.queue()).length === 0, 10_000, "central's queue to empty");
  });

  it('queued before the broker told its smaller limit is dead-lettered at once, and the stream goes on', async () => {
    const dir = await tempDir('bosun-frames-');
    const conf = path.join(dir, 'small.conf');
    await writeFile(conf, 'max_payload: 65536\n');
    const port = await freePort();
    // The nodes start while the server is down: until it answers, they assume NATS's default.
    const { central, rec, reports } = await fleet(`nats://127.0.0.1:${port}`);
    const big = await central.accept({ id: 'big', toNode: 'ship', method: 'REQTestRecord', data: 'x'.repeat(100 * 1024) });
    expect(big).toMatchObject([{ status: 'accepted' }]);
    servers.push(await startNatsServer({ port, args: ['-c', conf] }));
    await until(async () => (await central.deadLetters()).length === 1, 30_000, 'the dead letter');
    expect(reports.find((r) => r.code === 'BOSUN_TOO_LARGE')?.message).toMatch(/^message big \(REQTestRecord to ship\) is \d+ bytes as a frame, and the nats transport carries at most 65536; /);
    // Now the limit is known, accepting refuses the same; the stream's next message runs.
    const again = await central.accept({ toNode: 'ship', method: 'REQTestRecord', data: 'x'.repeat(100 * 1024) });
    expect(again).toMatchObject([{ error: { code: 'BOSUN_MESSAGE_TOO_LARGE' } }]);
    await central.accept({ toNode: 'ship', method: 'REQTestRecord', data: 'small' });
    await until(() => rec.runs.get('ship')?.includes('small') === true, 30_000, 'the next message to run');
    expect(rec.runs.get('ship')).toEqual(['small']);
  });
});
