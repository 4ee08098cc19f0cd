import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, runBosun, talk, tempDir, waitFor } from './helpers/daemon.ts';
import { startNatsCluster, stopAll, waitForRoutes, type TopologyServer } from './helpers/natsTopology.ts';
import { startTcpProxy, type TcpProxy } from './helpers/tcpProxy.ts';

/**
 * A fleet on a 3-server NATS cluster (full-mesh routes), with real daemons: central on A,
 * ship1 on B, ship2 on C. Each node is given one server only, so the servers it moves to
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
const BATCH = 50;
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
  servers = await startNatsCluster(['A', 'B', 'C']);
  const [a, b, c] = servers as [TopologyServer, TopologyServer, TopologyServer];
  linkToB = await startTcpProxy({ targetPort: b.port });
  linkToB.delay(300);
  const start = async (node: string, url: string) => {
    const daemon = await Daemon.start({ node, dataDir: path.join(dir, node), args: ['--nats', url, '--hello-interval', '1'] });
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

/**
 * Feeds COUNT ordered REQToFileAppend messages from central to ship1 in batches, so the
 * stream is still being fed when the kill comes. Resolves when every batch was accepted.
 */
async function feed(fileName: string): Promise<void> {
  for (let first = 0; first < COUNT; first += BATCH) {
    const batch = Array.from({ length: BATCH }, (_, k) => ({
      toNode: 'ship1',
      method: 'REQToFileAppend',
      data: String(first + k),
      directory: 'cluster',
      fileName,
      ACKTimeout: ACK_TIMEOUT_S,
      retries: -1,
      replyMethod: 'none',
    }));
    const answers = await talk(central.socketPath, JSON.stringify(batch));
    expect(answers.filter((a) => a.status === 'accepted')).toHaveLength(BATCH);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs the stream, SIGKILLs `victim` mid-stream, and checks every message ran once, in order. */
async function streamThroughKill(victim: TopologyServer, moved: Daemon, fileName: string, wasOn: string): Promise<string> {
  const file = path.join(ship1.dataDir, 'files', 'cluster', 'central', fileName);
  let fed = false;
  const feeding = feed(fileName).then(() => (fed = true));
  await waitFor(async () => (await lines(file)).length >= 300, 30_000, 'the stream to get going');
  expect(fed, 'the stream is still being fed when the server dies').toBe(false);
  await victim.kill();
  const killedAt = Date.now();

  const now = await waitFor(async () => {
    const server = await serverInTree(moved);
    return server !== undefined && server !== wasOn && server !== victim.hostPort ? server : undefined;
  }, 15_000, `${moved.node} to move off ${victim.name}`);
  await feeding;
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
