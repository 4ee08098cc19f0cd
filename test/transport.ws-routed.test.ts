import { describe, expect, it } from 'vitest';
import { settle } from '../src/clock.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { RoutedTransport } from '../src/transport/RoutedTransport.ts';
import { WsGateway } from '../src/transport/WsGateway.ts';
import { transportConformanceSuite } from './transport.conformance.ts';

// A gateway node's transport is a transport like any other to its runtime.
transportConformanceSuite('routed over embedded', () => {
  const bus = new EmbeddedBus({ seed: 3 });
  return {
    createTransport: () => new RoutedTransport(bus.transport(), new WsGateway()),
    async disrupt() {
      bus.pause();
      bus.restart();
    },
    async restore() {
      bus.resume();
    },
  };
});

describe('embedded bus routes', () => {
  async function wire() {
    const bus = new EmbeddedBus({ seed: 4 });
    const gw = bus.transport();
    const other = bus.transport();
    const atGw: string[] = [];
    await gw.start('gw', (subject) => atGw.push(subject));
    await other.start('other', () => {});
    return { bus, gw, other, atGw };
  }

  it('delivers a routed node’s subjects to the routing transport, and only those, until the route is removed', async () => {
    const { bus, gw, other, atGw } = await wire();
    const unroute = gw.route!('peer');
    other.publish('peer.m.k', Uint8Array.of(1));
    other.publish('peerx.m.k', Uint8Array.of(2));
    other.publish('gw.m.k', Uint8Array.of(3));
    await settle();
    expect(atGw).toEqual(['peer.m.k', 'gw.m.k']);
    unroute();
    other.publish('peer.m.k', Uint8Array.of(4));
    await settle();
    expect(atGw).toEqual(['peer.m.k', 'gw.m.k']);
    expect(bus.stats.unroutable).toBe(2);
  });

  it('counts routes to the same node, and forgets them all on close', async () => {
    const { bus, gw, other, atGw } = await wire();
    const first = gw.route!('peer');
    const second = gw.route!('peer');
    first();
    first();
    other.publish('peer.m.k', Uint8Array.of(1));
    await settle();
    expect(atGw).toEqual(['peer.m.k']);
    second();
    gw.route!('peer');
    await gw.close();
    other.publish('peer.m.k', Uint8Array.of(2));
    await settle();
    expect(atGw).toEqual(['peer.m.k']);
    expect(bus.stats.unroutable).toBe(1);
  });

  it('tells a routing transport of a bus restart once, and refuses a route before start or to a bad name', async () => {
    const { bus, gw } = await wire();
    gw.route!('p1');
    gw.route!('p2');
    const seen: string[] = [];
    gw.onStatus((s) => seen.push(s));
    bus.restart();
    await settle();
    expect(seen).toEqual(['disconnected', 'connected']);
    expect(() => bus.transport().route!('peer')).toThrow(expect.objectContaining({ code: 'BOSUN_TRANSPORT' }));
    expect(() => gw.route!('a.b')).toThrow(expect.objectContaining({ code: 'BOSUN_BAD_CONFIG' }));
  });
});

describe('routed transport', () => {
  it('refuses a gateway that already serves another node', async () => {
    const bus = new EmbeddedBus();
    const gateway = new WsGateway();
    const first = new RoutedTransport(bus.transport(), gateway);
    await first.start('gw1', () => {});
    await expect(new RoutedTransport(bus.transport(), gateway).start('gw2', () => {})).rejects.toMatchObject({ code: 'BOSUN_TRANSPORT' });
    await first.close();
    expect(gateway.bound).toBe(false);
    expect(first.status).toBe('closed');
    expect(first.kind).toBe('embedded');
  });
});
