/**
 * Where each node is connected: (account, node id) → the gateway instance holding its
 * socket, the session, and the capabilities from its HI.
 *
 * A node that reconnects replaces its own entry: the newest session wins, and `register`
 * returns the entry it displaced so the caller can close that older socket. The Go
 * gateway did the opposite (first wins), so a node reconnecting before its stale entry
 * expired was refused until a poller cleaned up.
 */
import { prefixRange, regKey } from '../store/keys.ts';
import type { Store } from '../store/types.ts';
import { canonicalAccount } from './account.ts';

export interface ConnectionEntry {
  /** As the node's identity spelled it; looked up by `canonicalAccount`. */
  account: string;
  nodeId: string;
  /** The gateway instance that holds the socket. */
  instance: string;
  /** Unique per websocket session; tells a node's old session from its new one. */
  sessionId: string;
  /** `meta.capabilities` of the node's HI, as `/connection/status` serves it. */
  capabilities: unknown;
  connectedAt: number;
}

export interface ConnectionRegistry {
  /** Records the session; resolves with the entry of another session it replaced. */
  register(entry: ConnectionEntry): Promise<ConnectionEntry | undefined>;
  /** Removes the entry only if it still belongs to `sessionId`; resolves whether it did. */
  unregister(account: string, nodeId: string, sessionId: string): Promise<boolean>;
  lookup(account: string, nodeId: string): Promise<ConnectionEntry | undefined>;
  /** Every entry, or one account's, sorted by account then node id. */
  list(account?: string): Promise<ConnectionEntry[]>;
  close(): Promise<void>;
}

/** Keeps `!` (the store's separator) and `%` out of key segments, reversibly. */
export function keySegment(name: string): string {
  return name.replace(/[%!]/g, (c) => (c === '%' ? '%25' : '%21'));
}

const CONNECTIONS = 'receptor!conn';

function entryKey(account: string, nodeId: string): string {
  return regKey(`${CONNECTIONS}!${keySegment(canonicalAccount(account))}!${keySegment(nodeId)}`);
}

function mapKey(account: string, nodeId: string): string {
  return `${canonicalAccount(account)}\u0000${nodeId}`;
}

export function sortEntries(entries: ConnectionEntry[]): ConnectionEntry[] {
  return entries.sort((a, b) => {
    const [x, y] = [canonicalAccount(a.account), canonicalAccount(b.account)];
    return x === y ? cmp(a.nodeId, b.nodeId) : cmp(x, y);
  });
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The registry of a single gateway (embedded mode). The map in memory is the truth; each
 * change is mirrored into the node's store under `reg!receptor!conn!…` so tools reading
 * the store see the fleet. Entries left by a previous run are stale (their sockets died
 * with that process) and `open` removes them.
 */
export class LocalRegistry implements ConnectionRegistry {
  readonly #store: Store;
  readonly #entries = new Map<string, ConnectionEntry>();

  constructor(store: Store) {
    this.#store = store;
  }

  async open(): Promise<void> {
    const stale = await this.#store.range({ ...prefixRange(regKey(CONNECTIONS)) });
    if (stale.length > 0) await this.#store.write(stale.map(([key]) => ({ type: 'del' as const, key })));
  }

  async register(entry: ConnectionEntry): Promise<ConnectionEntry | undefined> {
    const key = mapKey(entry.account, entry.nodeId);
    const previous = this.#entries.get(key);
    this.#entries.set(key, entry);
    await this.#store.write([{ type: 'put', key: entryKey(entry.account, entry.nodeId), value: entry }]);
    return previous && previous.sessionId !== entry.sessionId ? previous : undefined;
  }

  async unregister(account: string, nodeId: string, sessionId: string): Promise<boolean> {
    const key = mapKey(account, nodeId);
    if (this.#entries.get(key)?.sessionId !== sessionId) return false;
    this.#entries.delete(key);
    await this.#store.write([{ type: 'del', key: entryKey(account, nodeId) }]);
    return true;
  }

  async lookup(account: string, nodeId: string): Promise<ConnectionEntry | undefined> {
    return this.#entries.get(mapKey(account, nodeId));
  }

  async list(account?: string): Promise<ConnectionEntry[]> {
    const all = [...this.#entries.values()];
    const wanted = account === undefined ? undefined : canonicalAccount(account);
    return sortEntries(wanted === undefined ? all : all.filter((e) => canonicalAccount(e.account) === wanted));
  }

  /** Forgets every entry, in the store too: a registry the gateway moved away from, or stopped, holds nothing. */
  async close(): Promise<void> {
    const held = [...this.#entries.values()];
    this.#entries.clear();
    if (held.length > 0) await this.#store.write(held.map((e) => ({ type: 'del' as const, key: entryKey(e.account, e.nodeId) })));
  }
}
