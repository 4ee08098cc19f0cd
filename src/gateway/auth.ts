/**
 * Who is calling: a 3scale identity (`x-rh-identity`, base64 JSON) or an internal
 * service's pre-shared key (three `x-rh-receptor-controller-*` headers). The account a
 * caller may act for comes from here, never from the request body.
 *
 * TRUST: `x-rh-identity` is NOT checked here. It carries no signature: anyone who can
 * reach the gateway port can write any account into it. As in receptor-controller, it is
 * only as good as the proxy in front (3scale, an API gateway) that authenticates the
 * caller, removes whatever `x-rh-identity` the caller sent and sets its own. Without
 * such a proxy, keep the gateway port unreachable from untrusted networks, require a node
 * key (`RECEPTOR_CONTROLLER_NODE_PSK`, `x-bosun-node-psk`) for node connections, and let
 * node ids be bound to their accounts (`nodeOwners.ts`).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface Caller {
  account: string;
  via: 'identity' | 'psk';
  /** The PSK client id. */
  clientId?: string;
}

export type AuthResult = { ok: true; caller: Caller } | { ok: false; status: 400 | 401; detail: string };

export const IDENTITY_HEADER = 'x-rh-identity';
export const PSK_CLIENT_HEADER = 'x-rh-receptor-controller-client-id';
export const PSK_ACCOUNT_HEADER = 'x-rh-receptor-controller-account';
export const PSK_HEADER = 'x-rh-receptor-controller-psk';
/** The key a receptor node sends when the gateway requires one (`RECEPTOR_CONTROLLER_NODE_PSK`). */
export const NODE_PSK_HEADER = 'x-bosun-node-psk';

const AUTHENTICATION_FAILED = 'Authentication failed';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Reads the account from an identity header. Every generation of Red Hat's identity
 * middleware is accepted as long as it names an account (bosun routes by account):
 * `type` and `org_id` are not required.
 */
export function parseIdentity(encoded: string): { ok: true; account: string } | { ok: false; detail: string } {
  const text = encoded.trim();
  if (!BASE64.test(text)) return { ok: false, detail: 'x-rh-identity is not base64' };
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(text, 'base64').toString('utf8'));
  } catch {
    return { ok: false, detail: 'x-rh-identity is not base64-encoded JSON' };
  }
  const identity = (decoded as { identity?: { account_number?: unknown } } | null)?.identity;
  const account = identity?.account_number;
  if (typeof account !== 'string' || account === '' || account === '-1') {
    return { ok: false, detail: 'x-rh-identity has no identity.account_number' };
  }
  return { ok: true, account };
}

/**
 * Compares pre-shared keys in constant time. `timingSafeEqual` throws on inputs of
 * different lengths (which would leak the length), so both sides are first reduced to
 * HMAC digests of equal size under a key drawn at start-up.
 */
export class PskChecker {
  readonly #digests = new Map<string, Buffer>();
  readonly #key = randomBytes(32);
  /** Compared against when the client id is unknown, so that case takes the same time. */
  readonly #decoy: Buffer;

  constructor(credentials: ReadonlyMap<string, string>) {
    for (const [client, psk] of credentials) this.#digests.set(client, this.#digest(psk));
    this.#decoy = this.#digest(randomBytes(16).toString('hex'));
  }

  check(clientId: string, psk: string): boolean {
    const expected = this.#digests.get(clientId);
    const same = timingSafeEqual(this.#digest(psk), expected ?? this.#decoy);
    return same && expected !== undefined;
  }

  #digest(value: string): Buffer {
    return createHmac('sha256', this.#key).update(value, 'utf8').digest();
  }
}

/**
 * An identity header, when present, decides alone (a malformed one is a 400, as the Go
 * middleware answered); otherwise all three PSK headers must be there and match.
 */
export function authenticate(headers: IncomingHttpHeaders, psk: PskChecker): AuthResult {
  const identity = header(headers, IDENTITY_HEADER);
  if (identity !== undefined) {
    const parsed = parseIdentity(identity);
    return parsed.ok ? { ok: true, caller: { account: parsed.account, via: 'identity' } } : { ok: false, status: 400, detail: parsed.detail };
  }
  const clientId = header(headers, PSK_CLIENT_HEADER);
  const account = header(headers, PSK_ACCOUNT_HEADER);
  const key = header(headers, PSK_HEADER);
  if (clientId === undefined || account === undefined || key === undefined || !psk.check(clientId, key)) {
    return { ok: false, status: 401, detail: AUTHENTICATION_FAILED };
  }
  return { ok: true, caller: { account, via: 'psk', clientId } };
}
