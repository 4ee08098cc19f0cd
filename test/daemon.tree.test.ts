/**
 * The daemon is one supervision tree: every long-lived part of a real `bosun start`
 * process (store, error kernel, the NATS connection, both delivery sides, every input,
 * the gateway, the debug socket) is a child that `bosun tree --json` shows with its state
 * and restarts, and whose crash (`crash PATH`, with --debug-faults) its own supervisor
 * handles: restarted by the supervisor's strategy, reported to the error kernel and on to
 * central's error log, while the node goes on serving.
 * Real daemon processes on a real nats-server, on loopback.
 */
import path from 'node:path';
import type { TreeNode } from '../supervisors/types.ts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, removeTempDirs, runBosun, waitFor, waitForFile } from './helpers/daemon.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';

/** The root's children, in start order (rest_for_one: a crash restarts it and those after it). */
const TOP_LEVEL = ['store', 'errorKernel', 'transport', 'outbound', 'inbound', 'inputs', 'services', 'debug'];

let nats: NatsServer;
let central: Daemon;
const ships: Daemon[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  central = await Daemon.start({ node: 'central', args: ['--nats', nats.url], startTimeoutMs: 60_000 });
}, 60_000);

afterEach(async () => {
  await Promise.all(ships.splice(0).map((d) => d.stop()));
});

afterAll(async () => {
  await central?.stop();
  await nats?.stop();
  removeTempDirs();
});

/** A ship with NATS, TCP and HTTP inputs, the gateway and fault injection on. */
async function ship(node: string): Promise<Daemon> {
  const daemon = await Daemon.start({
    node,
    args: ['--nats', nats.url, '--tcp-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--gateway-listen', '127.0.0.1:0', '--debug-faults'],
    // The gateway keeps its registry local: this test is about the tree, not the gateway's NATS.
    env: { RECEPTOR_CONTROLLER_NATS_URL: 'off' },
    startTimeoutMs: 60_000,
  });
  ships.push(daemon);
  return daemon;
}

async function treeOf(daemon: Daemon): Promise<TreeNode> {
  const result = await runBosun(['tree', '--json', '--data-dir', daemon.dataDir]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as TreeNode;
}

function child(tree: TreeNode, ...ids: string[]): TreeNode {
  let node = tree;
  for (const id of ids) {
    const next = node.children.find((c) => c.id === id);
    if (!next) throw new Error(`no child ${ids.join('/')} in ${JSON.stringify(node.children.map((c) => c.id))}`);
    node = next;
  }
  return node;
}

/** A command run on the ship through its HTTP input; resolves once its reply file is there. */
async function stillServes(daemon: Daemon, label: string): Promise<void> {
  const message = { toNode: daemon.node, method: 'REQCliCommand', methodArgs: ['echo', label], replyMethod: 'REQToFile', fileName: `${label}.txt` };
  const response = await fetch(`http://${String(daemon.started.http)}/api/v1/messages`, { method: 'POST', headers: daemon.httpHeaders, body: JSON.stringify(message) });
  expect(response.status).toBe(200);
  const file = path.join(daemon.dataDir, 'files', 'REQCliCommand', daemon.node, `${label}.txt`);
  expect(await waitForFile(file, 20_000)).toBe(`${label}\n`);
}

function centralErrorLog(): string {
  return path.join(central.dataDir, 'files', 'errorLog', 'error.log');
}

describe('the daemon as one supervision tree', () => {
  it('shows every child with its state and restarts: store, error kernel, NATS connection, outbound, inbound, inputs, gateway, debug', async () => {
    const daemon = await ship('treeship');
    await stillServes(daemon, 'first');
    const tree = await treeOf(daemon);
    expect(tree.id).toBe('treeship');
    expect(tree.children.map((c) => c.id)).toEqual(TOP_LEVEL);
    const visit = (node: TreeNode): void => {
      expect(typeof node.state, node.id).toBe('string');
      expect(node.restarts, node.id).toBe(0);
      node.children.forEach(visit);
    };
    visit(tree);
    expect(child(tree, 'store').state).toBe('open');
    expect(child(tree, 'errorKernel').state).toBe('forwarding');
    expect(child(tree, 'transport', 'connection:nats').state).toBe('connected');
    expect(child(tree, 'outbound').children.map((c) => c.id)).toContain('treeship~treeship~REQToFile');
    expect(child(tree, 'inbound', 'REQCliCommand').info).toMatchObject({ queued: 0, running: 0 });
    expect(child(tree, 'inputs').children.map((c) => c.id).sort()).toEqual(['http', 'inputFile', 'socket', 'startup', 'tcp']);
    for (const input of ['socket', 'tcp', 'http', 'inputFile']) expect(child(tree, 'inputs', input).state).toBe('listening');
    expect(child(tree, 'services', 'gateway').state).toBe('listening');
    expect(child(tree, 'services', 'gateway', 'receptor-gateway').kind).toBe('supervisor');
    expect(child(tree, 'debug').state).toBe('listening');
  }, 120_000);

  it.each(TOP_LEVEL)('restarts a crashed %s under the root, reports it to the error kernel and central, and goes on serving', async (id) => {
    const node = `crash-${id}`;
    const daemon = await ship(node);
    expect(await daemon.debug(`crash ${node}/${id}`)).toEqual({ crashed: `${node}/${id}` });

    // rest_for_one: the crashed child and every child after it restart, those before it do not.
    const after = await waitFor(
      async () => {
        const tree = await treeOf(daemon).catch(() => undefined);
        return tree && child(tree, id).restarts === 1 && tree.state === 'running' ? tree : undefined;
      },
      30_000,
      `${id} restarted`,
    );
    const index = TOP_LEVEL.indexOf(id);
    expect(TOP_LEVEL.map((c) => child(after, c).restarts)).toEqual(TOP_LEVEL.map((_, i) => (i >= index ? 1 : 0)));

    // The error kernel logged the supervisor's report ...
    const report = await daemon.waitForLog((l) => l.code === 'BOSUN_SUP_CHILD_CRASHED' && l.source === `${node}/${id}`, 20_000);
    expect(report.action).toBe('restarted');
    // ... and forwarded it to central, whose error log has it.
    const errorLog = await waitForFile(centralErrorLog(), 30_000, (text) => text.includes(`${node} BOSUN_SUP_CHILD_CRASHED ${node}/${id}:`));
    expect(errorLog).toContain(`fault injected by "crash ${node}/${id}"`);

    await stillServes(daemon, `after-${id}`);
  }, 180_000);

  it('restarts a crashed input under the inputs supervisor alone', async () => {
    const daemon = await ship('inputship');
    expect(await daemon.debug('crash inputs/tcp')).toEqual({ crashed: 'inputship/inputs/tcp' });
    const tree = await waitFor(
      async () => {
        const t = await treeOf(daemon);
        return child(t, 'inputs', 'tcp').restarts === 1 && child(t, 'inputs', 'tcp').state === 'listening' ? t : undefined;
      },
      20_000,
      'tcp restarted',
    );
    expect(child(tree, 'inputs').restarts).toBe(0);
    expect(TOP_LEVEL.map((c) => child(tree, c).restarts)).toEqual(TOP_LEVEL.map(() => 0));
    // The TCP input listens where it did, and takes messages again.
    const { connect } = await import('node:net');
    const answer = await new Promise<string>((resolve, reject) => {
      const [host, port] = String(daemon.started.tcp).split(':');
      // A TCP client's first line is the daemon's input token.
      const socket = connect({ host, port: Number(port) }, () => socket.end(`${daemon.inputToken}\n${JSON.stringify({ toNode: 'inputship', method: 'REQNone' })}`));
      let text = '';
      socket.setEncoding('utf8').on('data', (t: string) => (text += t));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(JSON.parse(answer)).toMatchObject({ status: 'accepted', toNode: 'inputship' });
  }, 120_000);

  it('restarts one child cleanly on "restart PATH", without a crash report or a count against the restart intensity', async () => {
    const daemon = await ship('restartship');
    expect(await daemon.debug('restart restartship/inputs/http')).toEqual({ restarted: 'restartship/inputs/http' });
    const tree = await treeOf(daemon);
    expect(child(tree, 'inputs', 'http').state).toBe('listening');
    expect(child(tree, 'inputs', 'http').restarts).toBe(1);
    expect(child(tree, 'inputs').info).toMatchObject({ recentRestarts: 0 });
    expect(daemon.logs.some((l) => l.code === 'BOSUN_SUP_CHILD_CRASHED')).toBe(false);
    await stillServes(daemon, 'after-restart');
  }, 120_000);

  it('offers crash only with --debug-faults, and names a path that is not there', async () => {
    const daemon = await Daemon.start({ node: 'plainship', args: ['--nats', nats.url] });
    ships.push(daemon);
    expect(await daemon.debug('crash plainship/store')).toEqual({
      error: { code: 'BOSUN_UNKNOWN_COMMAND', message: expect.stringContaining('needs the daemon started with --debug-faults') },
    });
    expect(await daemon.debug('restart plainship/nothing')).toEqual({
      error: { code: 'BOSUN_NOT_FOUND', message: 'no running child "nothing" under plainship' },
    });
    expect(child(await treeOf(daemon), 'store').restarts).toBe(0);
  }, 60_000);
});
