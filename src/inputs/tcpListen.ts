import type { Server } from 'node:net';
import { BosunError } from '../errors.ts';

/** Where a TCP server listens; port 0 lets the kernel choose. */
export interface TcpAddress {
  host: string;
  port: number;
}

/** `127.0.0.1:8080`, `[::1]:8080`. */
export function formatAddress(address: TcpAddress): string {
  return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

/**
 * True for addresses only this host can reach. Anything else exposes an unauthenticated
 * input to the network, which deserves a warning.
 */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * Makes `server` (net or http) listen on `address`; resolves with the address it got
 * (the real port when 0 was asked). A port in use, a host that is not this machine's or
 * a privileged port is a `BOSUN_BAD_CONFIG` naming the setting.
 */
export function listenTcp(server: Server, address: TcpAddress, setting: string): Promise<TcpAddress> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(listenError(err, address, setting));
    server.once('error', onError);
    server.listen({ host: address.host, port: address.port }, () => {
      server.off('error', onError);
      const bound = server.address();
      resolve(bound !== null && typeof bound === 'object' ? { host: address.host, port: bound.port } : address);
    });
  });
}

/** Stops taking connections; resolves once the server is closed. */
export function closeTcp(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function listenError(err: NodeJS.ErrnoException, address: TcpAddress, setting: string): Error {
  const where = `${setting} ${formatAddress(address)}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return new BosunError('BOSUN_BAD_CONFIG', `${where}: the port is in use by another process`, { cause: err });
    case 'EADDRNOTAVAIL':
      return new BosunError('BOSUN_BAD_CONFIG', `${where}: ${address.host} is not an address of this host`, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new BosunError('BOSUN_BAD_CONFIG', `${where}: no permission to listen there (ports below 1024 need privileges)`, { cause: err });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new BosunError('BOSUN_BAD_CONFIG', `${where}: cannot resolve the host name ${address.host}`, { cause: err });
    default:
      return err;
  }
}
