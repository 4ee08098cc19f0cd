import { createServer } from 'node:net';
import pino, { type Logger } from 'pino';
import type { AcceptingNode } from './messageInput.ts';
import { StreamConnections } from './streamConnection.ts';
import { closeTcp, formatAddress, isLoopback, listenTcp, type TcpAddress } from './tcpListen.ts';

export interface TcpInputOptions {
  listen: TcpAddress;
  log?: Logger;
  /** Largest single JSON value a client may send (default 64 MiB). */
  maxValueBytes?: number;
  /** How long `close` lets a connection finish the messages it already read (default 5 s). */
  closeGraceMs?: number;
}

export interface TcpInput {
  /** Where it listens, with the real port. */
  readonly address: TcpAddress;
  /** Stops taking connections and lets open ones finish what they read. */
  close(): Promise<void>;
}

/**
 * The TCP input (steward's `TCP_LISTENER`): the unix socket's contract over TCP, JSON
 * values in and one JSON line per message out (see `serveStreamConnection`). It has no
 * authentication, so it listens on loopback unless told otherwise, and says so when it
 * does not.
 */
export async function startTcpInput(node: AcceptingNode, options: TcpInputOptions): Promise<TcpInput> {
  const log = (options.log ?? pino({ level: 'silent' })).child({ input: 'tcp' });
  const connections = new StreamConnections(node, log, options.maxValueBytes);
  const server = createServer({ allowHalfOpen: true }, (socket) => connections.track(socket));
  const address = await listenTcp(server, options.listen, 'tcp-listen');
  server.on('error', (err) => log.error({ err }, 'tcp input error'));
  if (!isLoopback(address.host)) {
    log.warn({ address: formatAddress(address) }, 'the TCP input takes messages from the network without authentication');
  }
  return {
    address,
    async close() {
      const closed = closeTcp(server);
      await connections.closeAll(options.closeGraceMs ?? 5000);
      await closed;
    },
  };
}
