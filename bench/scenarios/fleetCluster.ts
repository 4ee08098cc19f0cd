import { startNatsServer, type NatsServer } from '../../test/helpers/natsServer.ts';
import { freePort } from '../../test/helpers/ports.ts';
import { trackPid, untrackPid } from '../harness/cleanup.ts';
import { runFleet, serverMessagesIn } from './fleet.ts';
import type { Scenario } from './types.ts';

const SERVERS = ['A', 'B', 'C'];

interface ClusterServer {
  server: NatsServer;
  monitorPort: number;
}

/**
 * Three nats-servers in one cluster (full-mesh routes) on loopback, each with a monitoring
 * port; their PIDs are tracked so the harness kills them however the run ends.
 */
async function startCluster(): Promise<ClusterServer[]> {
  const routePorts = await Promise.all(SERVERS.map(() => freePort()));
  const cluster: ClusterServer[] = [];
  try {
    for (const [i, name] of SERVERS.entries()) {
      const monitorPort = await freePort();
      const routes = routePorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`);
      const server = await startNatsServer({
        args: ['-m', String(monitorPort), '-n', name, '--cluster_name', 'bosun-bench', '--cluster', `nats://127.0.0.1:${routePorts[i]}`, '--routes', routes.join(',')],
      });
      trackPid(server.pid, `nats-server ${name}`);
      cluster.push({ server, monitorPort });
    }
    await waitForRoutes(cluster);
    return cluster;
  } catch (error) {
    await stopCluster(cluster);
    throw error;
  }
}

async function waitForRoutes(cluster: ClusterServer[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (const { monitorPort } of cluster) {
    for (;;) {
      const routez = (await (await fetch(`http://127.0.0.1:${monitorPort}/routez`)).json()) as { num_routes: number };
      if (routez.num_routes === cluster.length - 1) break;
      if (Date.now() > deadline) throw new Error('the bench cluster did not form its routes within 15 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function stopCluster(cluster: ClusterServer[]): Promise<void> {
  await Promise.all(
    cluster.map(async ({ server }) => {
      const pid = server.pid;
      await server.stop();
      untrackPid(pid);
    }),
  );
}

/** `fleet` on a 3-server cluster: central on A, the simulated nodes spread over A, B and C. */
export const fleetCluster: Scenario = {
  name: 'fleet-cluster',
  summary: 'nodes spread over a 3-server NATS cluster, each sending REQHello every second to central on one of them: central CPU and RSS, messages through the cluster',
  async run(ctx) {
    const cluster = await startCluster();
    try {
      return await runFleet(ctx, {
        name: 'fleet-cluster',
        summary: fleetCluster.summary,
        count: 5000,
        quickCount: 600,
        // --quick: three workers of 200, one per server
        ...(ctx.quick ? { nodesPerWorker: 200 } : {}),
        brokers: {
          central: cluster[0]!.server.url,
          serversOf: (worker) => cluster[worker % cluster.length]!.server.url,
          messagesIn: async () => (await Promise.all(cluster.map((c) => serverMessagesIn(c.monitorPort)))).reduce((a, b) => a + b, 0),
          natsPid: cluster[0]!.server.pid,
          description: 'a 3-server cluster (full-mesh routes); central on A, the fleet\'s workers round-robin over A, B, C; nats-server figures are A\'s',
        },
      });
    } finally {
      await stopCluster(cluster);
    }
  },
};
