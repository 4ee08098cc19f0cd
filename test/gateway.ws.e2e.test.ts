import { afterEach, describe, expect, it } from 'vitest';
import type { BosunNode } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { listenWsGateway, type WsGatewayServer } from '../src/transport/listenWsGateway.ts';
import { RoutedTransport } from '../src/transport/RoutedTransport.ts';
import { WsGateway } from '../src/transport/WsGateway.ts';
import { WsTransport } from '../src/transport/WsTransport.ts';
import { recorder } from './helpers/recorder.ts';
import { sleep, until } from './helpers/until.ts';

const HOST = '127.0.0.1';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('a fleet of a central and a ws-connected ship, without NATS', () => {
  it('runs ordered streams both ways exactly once, in order, through a gateway restart and a ship crash', async () => {
    const rec = recorder();
    /** Faults are set off from inside the stream, when ship1 has run this many of central's messages. */
    const triggers = new Map<number, () => void>();
    const methods = rec.methods.map((method) => ({
      ...method,
      async handler(ctx: Parameters<typeof method.handler>[0]) {
        const result = await method.handler(ctx);
        if (ctx.node === 'ship1') triggers.get(ran('ship1'))?.();
        return result;
      },
    }));
    // a small window keeps most of each stream unsent, so the faults below strike mid-stream
    const common = { helloIntervalSeconds: 0, methods, windowSize: 8, defaults: { ACKTimeout: 0.2, retryWait: 0.05 } };
    const gateway = new WsGateway();
    const central = await startNode({ node: 'central', transport: new RoutedTransport(new EmbeddedBus().transport(), gateway), ...common });
    let listening: WsGatewayServer = await listenWsGateway(gateway, { host: HOST, port: 0 });
    const { port, url } = listening;
    cleanups.push(
      () => central.stop(100),
      () => gateway.close(),
      () => listening.close(),
    );
    let store = new MemoryStore();
    const startShip = () =>
      startNode({ node: 'ship1', transport: new WsTransport({ url, reconnect: { minMs: 20, maxMs: 200 } }), store, ...common });
    let ship1: BosunNode = await startShip();
    cleanups.push(() => ship1.stop(100));

    const record = (toNode: string, prefix: string) =>
      Array.from({ length: 500 }, (_, i) => ({ toNode, method: 'REQTestRecord', data: `${prefix}${i}`, replyMethod: 'none' }));
    const ran = (node: string) => rec.runs.get(node)?.length ?? 0;
    const seen: string[] = [];

    // the gateway's server goes away mid-stream, and comes back on the same port
    const gatewayBack = new Promise<void>((resolve) => {
      triggers.set(100, () => {
        seen.push(`gateway closed at ship1 ${ran('ship1')}, central ${ran('central')}`);
        void listening
          .close()
          .then(() => sleep(300))
          .then(async () => {
            seen.push(`ship1 ${ship1.transport.status} while the gateway was down`);
            listening = await listenWsGateway(gateway, { host: HOST, port });
          })
          .then(resolve);
      });
    });
    // ship1 crashes with work in flight both ways, and restarts on what its store kept
    const shipBack = new Promise<void>((resolve) => {
      triggers.set(300, () => {
        setImmediate(async () => {
          await ship1.crash();
          seen.push(`ship1 crashed at ship1 ${ran('ship1')}, central ${ran('central')}`);
          store = store.crash({ powerLoss: false });
          ship1 = await startShip();
          resolve();
        });
      });
    });

    await until(() => ship1.transport.status === 'connected', 30_000, 'ship1 connected');
    const accepted = await Promise.all([central.accept(record('ship1', 'c')), ship1.accept(record('central', 's'))]);
    expect(accepted.flat().every((r) => 'status' in r && r.status === 'accepted')).toBe(true);
    await gatewayBack;
    await shipBack;
    await until(() => ran('ship1') >= 500 && ran('central') >= 500 && central.idle && ship1.idle, 60_000, 'every message run and acknowledged');
    await sleep(300);

    expect(seen).toEqual([
      expect.stringMatching(/^gateway closed at ship1 100, central [1-9]\d*$/),
      'ship1 disconnected while the gateway was down',
      expect.stringMatching(/^ship1 crashed at ship1 30\d, central [1-9]\d*$/),
    ]);
    expect(ran('central')).toBe(500);
    expect(rec.runs.get('ship1')).toEqual(record('ship1', 'c').map((m) => m.data));
    expect(rec.runs.get('central')).toEqual(record('central', 's').map((m) => m.data));
    expect(gateway.peers()).toEqual(['ship1']);
  });
});
