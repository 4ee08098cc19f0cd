import { readFile } from 'node:fs/promises';
import { startNatsServer, type NatsServer } from './natsServer.ts';
import { freePort } from './ports.ts';

/**
 * Real nats-server processes on loopback for tests of several servers (a cluster, a hub and
 * a leaf), started from the configurations a test wrote. Each has a monitoring port, so a
 * test waits until routes and leaf links are up instead of sleeping. Every server comes
 * from `startNatsServer`, so each is killed with its test process however that ends;
 * callers still stop them by PID in `afterAll` (`stopAll`).
 */
export interface TopologyServer extends NatsServer {
  readonly name: string;
  /** `127.0.0.1:<port>`, as a node's transport names the server it is on. */
  readonly hostPort: string;
  readonly monitorPort: number;
  /** The server's log file, when it was started with `-l`: a failed wait quotes its end. */
  readonly log?: string;
}

const HOST = '127.0.0.1';

/** Resolves once every server has a route to each of the others. */
export async function waitForRoutes(servers: TopologyServer[], timeoutMs = 15_000): Promise<void> {
  await Promise.all(servers.map((s) => waitForMonitor(s, 'routez', (z) => z.num_routes === servers.length - 1, `${s.name}'s routes`, timeoutMs)));
}

/** Resolves once the hub has a leaf connection; a timeout quotes both servers' logs (give `leaf` for its). */
export function waitForLeafLink(hub: TopologyServer, leaf?: TopologyServer, timeoutMs = 30_000): Promise<void> {
  return waitForMonitor(hub, 'leafz', (z) => Number(z.leafnodes) >= 1, 'the leaf link', timeoutMs, leaf ? [leaf] : []);
}

/** Stops every server that still runs, SIGKILL after a grace period; each by its own PID. */
export async function stopAll(servers: Array<NatsServer | undefined>): Promise<void> {
  await Promise.all(servers.map((s) => s?.stop()));
}

/** A server started with a monitoring port, on `port` (the one its configuration names) or a free one. */
export async function startMonitored(name: string, args: string[], port?: number): Promise<TopologyServer> {
  // A free port can be taken by another test's process before the server binds it: the
  // server then exits at once, and a fresh monitoring port (and a fresh client port, when
  // the configuration does not name one) is tried again.
  const logFile = args.includes('-l') ? args[args.indexOf('-l') + 1] : undefined;
  for (let attempt = 1; ; attempt++) {
    const monitorPort = await freePort();
    try {
      const server = await startNatsServer({ args: ['-m', String(monitorPort), ...args], ...(port !== undefined ? { port } : {}) });
      // a view of the server, not a copy: its `pid` and `running` getters must stay live
      return Object.assign(Object.create(server) as NatsServer, { name, hostPort: `${HOST}:${server.port}`, monitorPort, ...(logFile ? { log: logFile } : {}) });
    } catch (error) {
      const said = String((error as Error).message) + (logFile ? await readFile(logFile, 'utf8').catch(() => '') : '');
      const portTaken = said.includes('address already in use');
      const oursToChange = said.includes(`:${monitorPort}`) || port === undefined;
      if (!portTaken || !oursToChange || attempt >= 3) throw error;
    }
  }
}

async function waitForMonitor(
  server: TopologyServer,
  endpoint: string,
  ok: (body: Record<string, unknown>) => boolean,
  what: string,
  timeoutMs = 15_000,
  others: TopologyServer[] = [],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const response = await fetch(`http://${HOST}:${server.monitorPort}/${endpoint}`);
      last = await response.json();
      if (ok(last as Record<string, unknown>)) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const logs = await Promise.all([server, ...others].map(logTail));
      throw new Error(`timed out waiting for ${what}; last /${endpoint}: ${JSON.stringify(last)?.slice(0, 500)}${logs.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The last lines of a server's log, for an error that says why a wait failed. */
async function logTail(server: TopologyServer): Promise<string> {
  if (!server.log) return '';
  const text = await readFile(server.log, 'utf8').catch((e: Error) => `(unreadable: ${e.message})`);
  return `\n--- ${server.name}'s log, last lines:\n${text.split('\n').slice(-15).join('\n')}`;
}
