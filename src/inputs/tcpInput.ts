import { createServer } from 'node:net';
import pino, { type Logger } from 'pino';
import { repeatedErrorLog } from './repeatedErrorLog.ts';
import type { InputLimits } from './inputBudget.ts';
import type { InputToken } from './inputToken.ts';
import type { AcceptingNode } from './messageInput.ts';
import { StreamConnections } from './streamConnection.ts';
import { closeTcp, formatAddress, isLoopback, listenTcp, type TcpAddress } from './tcpListen.ts';

export interface TcpInputOptions {
  listen: TcpAddress;
  /** A client's first line must be this token. */
  token: InputToken;
  /** The memory budget, connection limit and idle timeout (default: the defaults, with a budget of their own). */
  limits?: InputLimits;
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
 * values in and one JSON line per message out (see `serveStreamConnection`), after a
 * first line holding the input token. Loopback is shared by every account on the host,
 * so the token is required there too. The token is no encryption: off loopback, it and
 * the messages cross the network in clear, which the start-up warning says.
 */
export async function startTcpInput(node: AcceptingNode, options: TcpInputOptions): Promise<TcpInput> {
  const log = (options.log ?? pino({ level: 'silent' })).child({ input: 'tcp' });
  const connections = new StreamConnections(node, log, {
    input: 'tcp',
    token: options.token,
    ...(options.maxValueBytes !== undefined ? { maxValueBytes: options.maxValueBytes } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
  });
  const server = createServer({ allowHalfOpen: true }, (socket) => connections.track(socket));
  const address = await listenTcp(server, options.listen, 'tcp-listen');
  server.on('error', repeatedErrorLog(log, 'tcp input error'));
  if (!isLoopback(address.host)) {
    log.warn({ address: formatAddress(address) }, 'the TCP input takes messages from the network; its token and messages cross it unencrypted');
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
