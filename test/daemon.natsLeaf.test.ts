import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, runBosun, talk, tempDir, waitFor } from './helpers/daemon.ts';
import { startMonitored, stopAll, waitForLeafLink, type TopologyServer } from './helpers/natsTopology.ts';
import { freePort } from './helpers/ports.ts';
import { startTcpProxy, type TcpProxy } from './helpers/tcpProxy.ts';

/**
 * A ship behind a poor link, with real daemons: central on the hub, ship1 and ship2 on the
 * ship's own leaf server, whose link to the hub runs through a TCP proxy. The servers run
 * the configurations `bosun nats-config` wrote for this layout, and each node logs in with
 * the nkey `--make-keys` made for it, so every frame crosses the confinement too. The link
 * is cut for 30 s: messages between ship1 and ship2 keep flowing, messages to central wait
 * in the senders' outboxes, and once the link is back every message is delivered once, in
 * order, on every stream.
 */
const PER_PHASE = 200;
const CUT_MS = 30_000;
/** Small, so the messages queued during the cut go at the next retry once the link is back. */
const ACK_TIMEOUT_S = 2;

interface Stream {
  from: Daemon;
  to: Daemon;
  fileName: string;
}

let dir: string;
let hub: TopologyServer;
let leaf: TopologyServer;
let link: TcpProxy | undefined;
let central: Daemon;
let ship1: Daemon;
let ship2: Daemon;
const daemons: Daemon[] = [];

beforeAll(async () => {
  dir = await tempDir('bosun-leaf-');
  const [hubPort, hubLeafPort, shipPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const keys = path.join(dir, 'keys');
  const conf = path.join(dir, 'conf');
  const args = ['--make-keys', keys, '--nodes', 'central,ship1,ship2', '--link', 'ship1:ship2', '--output-dir', conf];
  args.push('--server', `hub=127.0.0.1:${hubPort}`, '--leafnodes', `hub=127.0.0.1:${hubLeafPort}`, '--leaf', `ship=127.0.0.1:${shipPort}`, '--site', 'ship=ship1,ship2');
  const generated = await runBosun(['nats-config', ...args]);
  expect(generated.code, generated.stderr).toBe(0);

  // The ship's link runs through the proxy, and the hub says so to its leaves (else a leaf
  // whose link is cut would dial the hub's own address instead).
  link = await startTcpProxy({ targetPort: hubLeafPort });
  const proxied = `127.0.0.1:${link.port}`;
  await edit(path.join(conf, 'ship.conf'), (text) => text.replaceAll(`@127.0.0.1:${hubLeafPort}`, `@${proxied}`));
  await edit(path.join(conf, 'hub.conf'), (text) => text.replace(`listen: "127.0.0.1:${hubLeafPort}"`, `listen: "127.0.0.1:${hubLeafPort}"\n  advertise: "${proxied}"`));
  hub = await startMonitored('hub', ['-c', path.join(conf, 'hub.conf')], hubPort);
  leaf = await startMonitored('ship', ['-c', path.join(conf, 'ship.conf')], shipPort);
  await waitForLeafLink(hub);

  const start = async (node: string, server: TopologyServer) => {
    const daemon = await Daemon.start({ node, dataDir: path.join(dir, node), args: ['--nats', server.url, '--nats-nkey-seed-file', path.join(keys, `${node}.nk`)] });
    daemons.push(daemon);
    return daemon;
  };
  [central, ship1, ship2] = await Promise.all([start('central', hub), start('ship1', leaf), start('ship2', leaf)]);
  for (const [daemon, on] of [[central, hub.hostPort], [ship1, leaf.hostPort], [ship2, leaf.hostPort]] as const) {
    await waitFor(async () => (await serverInTree(daemon)) === on, 15_000, `${daemon.node} on its server`);
  }
}, 60_000);

async function edit(file: string, change: (text: string) => string): Promise<void> {
  const before = await readFile(file, 'utf8');
  const after = change(before);
  expect(after, `the change to ${file}`).not.toBe(before);
  await writeFile(file, after);
}

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.kill()));
  await stopAll([hub, leaf]);
  await link?.close();
});

async function serverInTree(daemon: Daemon): Promise<string | undefined> {
  const tree = await runBosun(['tree', '--data-dir', daemon.dataDir]);
  return /connection:nats .*\bserver=(\S+)/.exec(tree.stdout)?.[1];
}

function fileOf(s: Stream): string {
  return path.join(s.to.dataDir, 'files', 'leaf', s.from.node, s.fileName);
}

async function lines(s: Stream): Promise<number[]> {
  const text = await readFile(fileOf(s), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

/** Accepts messages `first`… of the stream on its sender: ordered appends, retried forever. */
async function send(s: Stream, first: number, count: number): Promise<void> {
  const messages = Array.from({ length: count }, (_, k) => ({
    toNode: s.to.node,
    method: 'REQToFileAppend',
    data: String(first + k),
    directory: 'leaf',
    fileName: s.fileName,
    ACKTimeout: ACK_TIMEOUT_S,
    retryWait: 0.5,
    retries: -1,
    replyMethod: 'none',
  }));
  const answers = await talk(s.from.socketPath, JSON.stringify(messages));
  expect(answers.filter((a) => a.status === 'accepted').length, JSON.stringify(answers.filter((a) => a.status !== 'accepted').slice(0, 3))).toBe(count);
}

async function queuedFor(daemon: Daemon, node: string): Promise<number> {
  return ((await daemon.debug(`queue ${JSON.stringify({ node })}`)) as unknown[]).length;
}

describe('a ship on its own leaf server', () => {
  it('keeps ship-local traffic flowing through a 30 s cut of its link to the hub, queues traffic to central, then delivers all once, in order', async () => {
    const local: Stream[] = [
      { from: ship1, to: ship2, fileName: 'ship1-to-ship2.log' },
      { from: ship2, to: ship1, fileName: 'ship2-to-ship1.log' },
    ];
    const toCentral: Stream[] = [
      { from: ship1, to: central, fileName: 'ship1-to-central.log' },
      { from: ship2, to: central, fileName: 'ship2-to-central.log' },
    ];
    const all = [...local, ...toCentral];
    const upTo = (n: number) => Array.from({ length: n }, (_, i) => i);

    // Link up: every stream flows.
    await Promise.all(all.map((s) => send(s, 0, PER_PHASE)));
    for (const s of all) await waitFor(async () => (await lines(s)).length >= PER_PHASE, 30_000, `${s.fileName} before the cut`);
    // Run on central is not yet ACKed on the ship: wait for the ACKs too, so that what
    // is queued during the cut is exactly what was sent during it.
    for (const ship of [ship1, ship2]) await waitFor(async () => (await queuedFor(ship, 'central')) === 0, 30_000, 'the ACKs from central before the cut');

    // The cut: the link is reset and refused until it is restored.
    link!.block();
    link!.cut();
    const cutAt = Date.now();
    await waitFor(async () => {
      const leafz = (await (await fetch(`http://127.0.0.1:${hub.monitorPort}/leafz`)).json()) as { leafnodes: number };
      return leafz.leafnodes === 0;
    }, 10_000, 'the hub to lose its leaf');
    await Promise.all(all.map((s) => send(s, PER_PHASE, PER_PHASE)));

    for (const s of local) await waitFor(async () => (await lines(s)).length >= 2 * PER_PHASE, CUT_MS - 5_000, `${s.fileName} during the cut`);
    expect(Date.now() - cutAt, 'ship-local traffic went on while the link was down').toBeLessThan(CUT_MS);
    expect(await queuedFor(ship1, 'central')).toBe(PER_PHASE);
    expect(await queuedFor(ship2, 'central')).toBe(PER_PHASE);

    await new Promise((r) => setTimeout(r, CUT_MS - (Date.now() - cutAt)));
    for (const s of toCentral) expect(await lines(s), `nothing of ${s.fileName} crossed the cut link`).toEqual(upTo(PER_PHASE));
    expect(await queuedFor(ship1, 'central')).toBe(PER_PHASE);
    expect(link!.stats.refused, 'the leaf kept trying its link').toBeGreaterThan(0);

    // The link is back: what waited is delivered, once, in order.
    link!.unblock();
    await waitForLeafLink(hub);
    for (const s of toCentral) await waitFor(async () => (await lines(s)).length >= 2 * PER_PHASE, 30_000, `${s.fileName} after the cut`);
    await waitFor(async () => (await queuedFor(ship1, 'central')) === 0 && (await queuedFor(ship2, 'central')) === 0, 10_000, 'the outboxes to empty');
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would land now
    for (const s of all) expect(await lines(s), s.fileName).toEqual(upTo(2 * PER_PHASE));
    console.log(`leaf link cut for ${CUT_MS} ms: ${PER_PHASE} messages on each of 2 ship-local streams flowed during the cut; ${PER_PHASE} per stream to central were queued and delivered after it`);
  }, 120_000);
});
