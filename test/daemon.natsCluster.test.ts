import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, runBosun, talk, tempDir, waitFor } from './helpers/daemon.ts';
import { startMonitored, stopAll, waitForRoutes, type TopologyServer } from './helpers/natsTopology.ts';
import { freePort } from './helpers/ports.ts';
import { startTcpProxy, type TcpProxy } from './helpers/tcpProxy.ts';

/**
 * A fleet on a 3-server NATS cluster (full-mesh routes), with real daemons: central on A,
 * ship1 on B, ship2 on C. The servers run the configurations `bosun nats-config` wrote,
 * and each node logs in with the nkey `--make-keys` made for it. Each node is given one server only, so the servers it moves to
 * are those the cluster announced. A server is SIGKILLed (its own PID) while a
 * 2,000-message ordered stream runs from central to ship1: the node on it moves to another
 * server and every message runs once, in order.
 *
 * The stream's ACK timeout is 60 s and each stream must finish within 45 s of the kill, so
 * it passes only if both sides resend at once on the reconnect, not at the next timeout.
 * ship1 reaches B through a proxy that holds each chunk 300 ms, as a distant link would:
 * it learns of B's death that late, so what central sends meanwhile is lost for certain (on
 * bare loopback the node is back within a millisecond or two, and nothing may be lost).
 */
const COUNT = 2000;
const BATCH = 100;
const ACK_TIMEOUT_S = 60;
const AFTER_KILL_MS = 45_000;

let dir: string;
let servers: TopologyServer[] = [];
let central: Daemon;
let ship1: Daemon;
let ship2: Daemon;
let linkToB: TcpProxy | undefined;
const daemons: Daemon[] = [];

beforeAll(async () => {
  dir = await tempDir('bosun-cluster-');
  // The servers run the configurations nats-config writes, each node with its made nkey.
  const keys = path.join(dir, 'keys');
  const conf = path.join(dir, 'conf');
  const ports: Record<string, number> = {};
  const args = ['--make-keys', keys, '--nodes', 'central,ship1,ship2', '--output-dir', conf];
  for (const name of ['A', 'B', 'C']) {
    ports[name] = await freePort();
    args.push('--server', `${name}=127.0.0.1:${ports[name]}`, '--routes', `${name}=127.0.0.1:${await freePort()}`);
  }
  const generated = await runBosun(['nats-config', ...args]);
  expect(generated.code, generated.stderr).toBe(0);
  for (const name of ['A', 'B', 'C']) servers.push(await startMonitored(name, ['-c', path.join(conf, `${name}.conf`)], ports[name]));
  await waitForRoutes(servers);
  const [a, b, c] = servers as [TopologyServer, TopologyServer, TopologyServer];
  linkToB = await startTcpProxy({ targetPort: b.port });
  linkToB.delay(300);
  const start = async (node: string, url: string) => {
    const seed = path.join(dir, 'keys', `${node}.nk`);
    const daemon = await Daemon.start({ node, dataDir: path.join(dir, node), args: ['--nats', url, '--nats-nkey-seed-file', seed, '--hello-interval', '1'] });
    daemons.push(daemon);
    return daemon;
  };
  [central, ship1, ship2] = await Promise.all([start('central', a.url), start('ship1', linkToB.url), start('ship2', c.url)]);
  // A frame sent before its receiver ever subscribed waits out its ACK timeout: start
  // streaming only once every node is on its server.
  for (const [daemon, on] of [[central, a.hostPort], [ship1, viaLinkToB()], [ship2, c.hostPort]] as const) {
    await waitFor(async () => (await serverInTree(daemon)) === on, 15_000, `${daemon.node} on its server`);
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.kill()));
  await stopAll(servers);
  await linkToB?.close();
});

/** `127.0.0.1:<port>` of ship1's link to B, the server ship1 names while it is on B. */
function viaLinkToB(): string {
  return `127.0.0.1:${linkToB!.port}`;
}

/** The `server=` of the node's NATS connection in `bosun tree`, or undefined while it has none. */
async function serverInTree(daemon: Daemon): Promise<string | undefined> {
  const tree = await runBosun(['tree', '--data-dir', daemon.dataDir]);
  expect(tree.code, tree.stderr).toBe(0);
  return /connection:nats .*\bserver=(\S+)/.exec(tree.stdout)?.[1];
}

async function lines(file: string): Promise<number[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

/** Accepts messages `first`…`first + count - 1` of the ordered stream from central to ship1, in batches. */
async function feed(fileName: string, first: number, count: number): Promise<void> {
  for (let from = first; from < first + count; from += BATCH) {
    const batch = Array.from({ length: BATCH }, (_, k) => ({
      toNode: 'ship1',
      method: 'REQToFileAppend',
      data: String(from + k),
      directory: 'cluster',
      fileName,
      ACKTimeout: ACK_TIMEOUT_S,
      retries: -1,
      replyMethod: 'none',
    }));
    const answers = await talk(central.socketPath, JSON.stringify(batch));
    expect(answers.filter((a) => a.status === 'accepted').length, JSON.stringify(answers.filter((a) => a.status !== 'accepted').slice(0, 3))).toBe(BATCH);
  }
}

/**
 * Runs the stream, SIGKILLs `victim` mid-stream, and checks every message ran once, in
 * order. The first half is fed before the kill, the second right after it, while the
 * node that was on the victim is still away: those frames are lost and must be resent.
 */
async function streamThroughKill(victim: TopologyServer, moved: Daemon, fileName: string, wasOn: string): Promise<string> {
  const file = path.join(ship1.dataDir, 'files', 'cluster', 'central', fileName);
  await feed(fileName, 0, COUNT / 2);
  await waitFor(async () => (await lines(file)).length >= 300, 30_000, 'the stream to get going');
  await victim.kill();
  const killedAt = Date.now();
  expect((await lines(file)).length, 'the stream is still running when the server dies').toBeLessThan(COUNT / 2);
  await feed(fileName, COUNT / 2, COUNT / 2);

  const now = await waitFor(async () => {
    const server = await serverInTree(moved);
    return server !== undefined && server !== wasOn && server !== victim.hostPort ? server : undefined;
  }, 15_000, `${moved.node} to move off ${victim.name}`);
  await waitFor(async () => (await lines(file)).length >= COUNT, AFTER_KILL_MS - (Date.now() - killedAt), `all ${COUNT} messages within ${AFTER_KILL_MS} ms of the kill`);
  await new Promise((r) => setTimeout(r, 300)); // a duplicate would land now
  const ran = await lines(file);
  expect(ran).toEqual(Array.from({ length: COUNT }, (_, i) => i));
  console.log(`${victim.name} killed: ${moved.node} moved to ${now}; ${COUNT} messages ran once, in order, ${Date.now() - killedAt} ms after the kill`);
  return now;
}

describe('a fleet on a 3-server NATS cluster', () => {
  it('shows each node on its own server, and central lists every node whichever server it is on', async () => {
    const [a, , c] = servers as [TopologyServer, TopologyServer, TopologyServer];
    expect(await serverInTree(central)).toBe(a.hostPort);
    expect(await serverInTree(ship1)).toBe(viaLinkToB());
    expect(await serverInTree(ship2)).toBe(c.hostPort);

    const seen = await waitFor(async () => {
      const result = await runBosun(['nodes', '--data-dir', central.dataDir, '--json']);
      const nodes = JSON.parse(result.stdout) as Array<{ node: string; capabilities?: { server?: string } }>;
      const on = Object.fromEntries(nodes.map((n) => [n.node, n.capabilities?.server]));
      return on.ship1 === viaLinkToB() && on.ship2 === c.hostPort ? on : undefined;
    }, 20_000, 'hellos of ship1 (on B) and ship2 (on C) at central (on A)');
    expect(seen).toEqual({ ship1: viaLinkToB(), ship2: c.hostPort });
    const table = await runBosun(['nodes', '--data-dir', central.dataDir]);
    expect(table.stdout).toMatch(new RegExp(`^ship2\\s+\\S+\\s+${c.hostPort}\\s`, 'm'));
  });

  it("moves ship1 to another server when B is SIGKILLed mid-stream; the stream runs once, in order", async () => {
    const [, b] = servers as [TopologyServer, TopologyServer, TopologyServer];
    const now = await streamThroughKill(b, ship1, 'b-killed.log', viaLinkToB());
    expect(now, 'ship1 was given B only: it moved to a server the cluster announced').not.toBe(b.hostPort);
  }, 120_000);

  it("moves central to another server when A is SIGKILLed mid-stream; the stream runs once, in order", async () => {
    const [a, b] = servers as [TopologyServer, TopologyServer, TopologyServer];
    // B is back first, so A dies out of a full cluster of three again
    await b.restart();
    await waitForRoutes(servers);
    const now = await streamThroughKill(a, central, 'a-killed.log', a.hostPort);
    expect(now).not.toBe(a.hostPort);
  }, 120_000);
});
