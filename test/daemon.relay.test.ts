import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { nkeys } from 'nats';
import { describe, expect, it } from 'vitest';
import { natsServerConfig } from '../src/security/natsConfig.ts';
import { sendToSocket, waitFor } from './helpers/fleet.ts';
import { useNatsFleet } from './helpers/natsFleet.ts';

/**
 * Relaying between daemon processes on a nats-server confined by `bosun nats-config`:
 * ships may talk to central only, so ship1 reaches ship2 through central (relayViaNode).
 * Central, the relay, is killed with SIGKILL mid-stream and started again.
 */
const NODES = ['central', 'ship1', 'ship2'];
const fleet = useNatsFleet('bosun-relay-', {
  // Every node has its own nkey; the server lets ships talk to central only.
  async prepare(dir) {
    const identities: Record<string, { nkey: string }> = {};
    for (const node of NODES) {
      const user = nkeys.createUser();
      identities[node] = { nkey: user.getPublicKey() };
      await writeFile(path.join(dir, `${node}.seed`), new TextDecoder().decode(user.getSeed()), { mode: 0o600 });
    }
    await writeFile(path.join(dir, 'nats.conf'), natsServerConfig({ nodes: NODES, central: 'central', identities }));
    return { args: ['-c', path.join(dir, 'nats.conf')] };
  },
  daemonArgs: (node, dir) => ['--nats-nkey-seed-file', path.join(dir, `${node}.seed`)],
});


async function lines(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

describe('relayViaNode between daemons on a confined nats-server', () => {
  it('carries ship1\'s commands to ship2 through central, in order and once, across a SIGKILL of central', async () => {
    const central = fleet.daemon('central');
    const ship1 = fleet.daemon('ship1');
    const ship2 = fleet.daemon('ship2');
    await Promise.all([central.start(), ship1.start(), ship2.start()]);
    const effects = path.join(fleet.dir, 'effects.log');
    const command = (i: number) => ({
      toNode: 'ship2',
      relayViaNode: 'central',
      method: 'REQCliCommand',
      methodArgs: ['sh', '-c', `echo ${i} >> ${effects}; echo ran ${i}`],
      fileName: `r${i}.txt`,
      ACKTimeout: 1,
      retryWait: 0.2,
    });

    // The server refuses ship1 a direct publish to ship2: that message waits, undelivered.
    const [direct] = await sendToSocket(ship1.dataDir, { toNode: 'ship2', method: 'REQCliCommand', methodArgs: ['sh', '-c', `echo direct >> ${effects}`] }, 1);
    expect(direct).toMatchObject({ status: 'accepted' });

    const first = await sendToSocket(ship1.dataDir, Array.from({ length: 20 }, (_, i) => command(i)), 20);
    expect(first.every((a) => (a as { status?: string }).status === 'accepted')).toBe(true);
    await waitFor(async () => (await lines(effects)).length >= 5, 30_000, 'the first relayed runs');
    await central.kill();
    const more = await sendToSocket(ship1.dataDir, Array.from({ length: 20 }, (_, i) => command(20 + i)), 20);
    expect(more.every((a) => (a as { status?: string }).status === 'accepted')).toBe(true);
    await central.start();

    await waitFor(async () => (await lines(effects)).length >= 40, 60_000, 'every relayed run');
    const expected = Array.from({ length: 40 }, (_, i) => String(i));
    expect(await lines(effects)).toEqual(expected);
    // Each reply came back to ship1 through central.
    const replies = path.join(ship1.dataDir, 'files', 'REQCliCommand', 'ship2');
    await waitFor(async () => (await lines(path.join(replies, 'r39.txt'))).length > 0, 30_000, 'the last reply on ship1');
    for (const i of [0, 19, 39]) expect(await lines(path.join(replies, `r${i}.txt`))).toEqual([`ran ${i}`]);
    // The direct message is still in ship1's queue, and never ran.
    const queue = (await ship1.debug('queue')) as { messages?: Array<{ id: string; toNode: string; method: string }> } | Array<{ id: string }>;
    const queued = Array.isArray(queue) ? queue : (queue.messages ?? []);
    expect(queued.map((q) => q.id)).toEqual([(direct as { id: string }).id]);
    expect(await lines(effects)).toEqual(expected);
  });
});
