import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { BosunError } from '../errors.ts';
import type { WsGateway } from './WsGateway.ts';

export interface ListenWsGatewayOptions {
  /** Address to listen on, e.g. `0.0.0.0` or `127.0.0.1`. */
  host: string;
  /** Port to listen on; 0 lets the system choose (see `port` of the result). */
  port: number;
  /** Websocket path; default `/bosun`. */
  path?: string;
}

/** An HTTP server of its own that serves a `WsGateway`. */
export interface WsGatewayServer {
  readonly server: Server;
  readonly host: string;
  /** The port actually bound. */
  readonly port: number;
  /** What peers dial: `ws://host:port/path`. */
  readonly url: string;
  /**
   * Stops listening and cuts every connection, websockets included (an HTTP server's own
   * `close` leaves upgraded sockets open). The gateway itself stays usable.
   */
  close(): Promise<void>;
}

/**
 * Serves `gateway` on a new HTTP server, for a gateway node that shares its port with
 * nothing else; otherwise call `gateway.attach(server)` on the shared server, or route its
 * upgrades to `gateway.handleUpgrade`.
 */
export async function listenWsGateway(gateway: WsGateway, options: ListenWsGatewayOptions): Promise<WsGatewayServer> {
  const path = options.path ?? '/bosun';
  const server = createServer((_request, response) => {
    response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' }).end(`bosun ws gateway: open a websocket to ${path}\n`);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const detach = gateway.attach(server, path);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    detach();
    throw new BosunError('BOSUN_TRANSPORT', `cannot listen on ${options.host}:${options.port}: ${(error as Error).message}`, { cause: error });
  }
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const urlHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  let closing: Promise<void> | undefined;
  return {
    server,
    host: options.host,
    port,
    url: `ws://${urlHost}:${port}${path}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        detach();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
