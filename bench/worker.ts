/**
 * A bench worker: a child process the harness (`bench/run.ts`) drives over IPC. It runs
 * plain nats.js roles for the baselines, or bosun nodes, and answers for its own CPU time
 * and peak RSS. It exits when told to, or as soon as the harness goes away.
 */
import type { Command, Reply, Request, WorkerEvent } from './harness/protocol.ts';
import { wallNow } from './harness/time.ts';
import { NodeHost } from './worker/nodeHost.ts';
import * as raw from './worker/rawNats.ts';
import * as js from './worker/rawJetStream.ts';
import { levelBatches, levelPutLatency } from './worker/rawLevel.ts';
import { spawnMany, writeLines } from './worker/rawSpawn.ts';
import { UsageTracker } from './worker/usage.ts';

if (!process.send) {
  console.error('bench/worker.ts is started by bench/run.ts, with an IPC channel');
  process.exit(2);
}

const usage = new UsageTracker();
const host = new NodeHost();

function send(message: Reply | WorkerEvent): void {
  if (process.connected) process.send!(message);
}

async function handle(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case 'usage':
      return usage.now();
    case 'exit':
      setImmediate(() => void shutdown(0));
      return null;
    case 'raw.responder':
      return raw.responder(c.servers, c.subject);
    case 'raw.echo':
      return raw.echo(c.servers, c.subject);
    case 'raw.requestWindow':
      return raw.requestWindow(c.servers, c.subject, c.count, c.window, c.payloadBytes);
    case 'raw.publishEcho':
      return raw.publishEcho(c.servers, c.subject, c.count, c.window, c.payloadBytes);
    case 'raw.latency':
      return raw.latency(c.servers, c.subject, c.count, c.warmup, c.payloadBytes);
    case 'raw.level':
      return levelBatches(c.dir, c.count, c.batch, c.lanes, c.valueBytes);
    case 'raw.levelPutLatency':
      return levelPutLatency(c.dir, c.count, c.valueBytes);
    case 'raw.jsSetUp':
      return js.setUpStream(c.servers, c.stream, c.subject);
    case 'raw.jsPublish':
      return js.publishLines(c.servers, c.subject, c.count, c.window);
    case 'raw.jsConsume':
      return js.consumeToFile(c.servers, c.stream, c.file, c.count);
    case 'raw.spawn':
      return spawnMany(c.command, c.args, c.count, c.concurrency);
    case 'raw.writeLines':
      return writeLines(c.file, c.count, c.chunk);
    case 'node.start':
      return host.start(c.spec);
    case 'node.accept':
      return host.accept(c.node, c.plan);
    case 'node.acceptFanout':
      return host.acceptFanout(c.node, c.toNodes, c.method, c.timeoutMs);
    case 'node.waitExecuted':
      return host.waitExecuted(c.node, c.count, c.timeoutMs, c.stallMs, c.source);
    case 'node.waitIdle':
      return host.waitIdle(c.node, c.timeoutMs);
    case 'node.ping':
      return host.ping(c.node, c.toNode, c.count, c.warmup);
    case 'node.status':
      return host.status(c.node);
    case 'node.armNextExecution':
      host.armNextExecution(c.node, (at, data) => send({ event: 'nextExecution', node: c.node, at, data }));
      return null;
    case 'node.stop':
      return host.stop(c.node);
    case 'fleet.start':
      return host.startFleet(c.servers, c.names, c.helloIntervalSeconds, c.spreadMs);
    case 'fleet.status':
      return host.fleetStatus();
  }
}

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Bounded: a node that will not stop must not keep the bench waiting.
  const force = setTimeout(() => process.exit(code), 5000);
  force.unref();
  await Promise.allSettled([host.stopAll(), raw.closeRawNats(), js.closeJetStream()]);
  process.exit(code);
}

process.on('message', (message: Request) => {
  const { id } = message;
  handle(message).then(
    (result) => send({ id, ok: true, result: result ?? null }),
    (error: unknown) => send({ id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
process.on('disconnect', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
send({ event: 'ready', at: wallNow() });
