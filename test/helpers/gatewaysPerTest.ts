import { afterEach } from 'vitest';
import { startTestGateway, type ReceptorTestNode, type TestGateway, type TestGatewayOptions } from './receptorClient.ts';

/** Starts gateways and keeps nodes for one test; both are closed when it ends. */
export interface GatewaysPerTest {
  /** A test gateway, closed after the test. */
  gateway(options?: TestGatewayOptions): Promise<TestGateway>;
  /** Keeps `node` to terminate after the test; returns it. */
  track<N extends ReceptorTestNode>(node: N): N;
  /** Closes `gw` now (the test goes on without it). */
  closeGateway(gw: TestGateway): Promise<void>;
}

/**
 * For a gateway test file: registers the clean-up after each test (nodes terminated
 * first, then gateways closed) and returns what starts and tracks them. Call it at the
 * top of the file.
 */
export function gatewaysPerTest(): GatewaysPerTest {
  const gateways: TestGateway[] = [];
  const nodes: ReceptorTestNode[] = [];
  afterEach(async () => {
    for (const node of nodes.splice(0)) node.terminate();
    await Promise.all(gateways.splice(0).map((gw) => gw.close()));
  });
  return {
    async gateway(options = {}) {
      const gw = await startTestGateway(options);
      gateways.push(gw);
      return gw;
    },
    track(node) {
      nodes.push(node);
      return node;
    },
    async closeGateway(gw) {
      await gw.close();
      gateways.splice(gateways.indexOf(gw), 1);
    },
  };
}
