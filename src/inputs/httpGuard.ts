import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { BosunError } from '../errors.ts';
import { unauthenticated, type InputToken } from './inputToken.ts';

/** Who may reach the HTTP input, besides holding the token. */
export interface HttpAccess {
  token: InputToken;
  /** Origins (`https://ui.example:8443`) whose pages may call the API; none by default. */
  allowedOrigins: readonly string[];
  /** Host names, besides IP addresses and `localhost`, that clients may use to reach it. */
  allowedHosts: readonly string[];
}

/** Why a request is refused before its body is read, with its HTTP status. */
export interface HttpRefusal {
  status: 401 | 403 | 415;
  error: BosunError;
}

/**
 * Checks a request against the web's ways in, cheapest first:
 * - `Host`: a DNS-rebinding page reaches 127.0.0.1 under its own name, which the `Host`
 *   header still carries. An IP address cannot be rebound, so IP literals and
 *   `localhost` pass; other names must be allowed.
 * - `Origin`: browsers send it on cross-site requests; no page is allowed by default.
 *   Clients that are not browsers send none.
 *
 * Health checks need only these two; the messages endpoint also needs the token and a
 * JSON content type (`messageEndpoint`). A browser cannot send `application/json`
 * across sites without a preflight, which this server never approves.
 */
export function refuseRequest(req: IncomingMessage, access: HttpAccess, messageEndpoint: boolean): HttpRefusal | undefined {
  const host = hostName(req.headers.host);
  if (host === undefined || !(isIP(host) !== 0 || host === 'localhost' || access.allowedHosts.includes(host))) {
    const error = new BosunError('BOSUN_FORBIDDEN_HOST', `the Host "${req.headers.host ?? ''}" is not this daemon's address or an allowed name (http-allowed-hosts)`);
    return { status: 403, error };
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !access.allowedOrigins.includes(origin)) {
    return { status: 403, error: new BosunError('BOSUN_FORBIDDEN_ORIGIN', `requests from pages of ${origin} are not allowed (http-allowed-origins)`) };
  }
  if (!messageEndpoint) return undefined;
  if (!access.token.authorizes(req.headers.authorization)) {
    return { status: 401, error: unauthenticated(`send "Authorization: Bearer <token>", the token being in ${access.token.file}`) };
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    const error = new BosunError('BOSUN_UNSUPPORTED_MEDIA_TYPE', `the body must be sent as Content-Type: application/json, not ${type === '' ? 'without a type' : type}`);
    return { status: 415, error };
  }
  return undefined;
}

/** The host part of a `Host` header, brackets of an IPv6 address removed, lower case. */
function hostName(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:]+)(?::\d{1,5})?$/.exec(header.trim());
  return match ? match[1]!.replace(/^\[(.*)\]$/, '$1').toLowerCase() : undefined;
}
