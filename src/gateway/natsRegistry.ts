/**
 * The connection registry shared by every gateway instance, in a NATS KV bucket.
 *
 * Entries are leases: the bucket's max age is the lease, and the instance holding a
 * session rewrites its entry every refresh period (drawn between a min and a max, so
 * instances do not refresh in step). An instance that dies stops refreshing and its
 * entries expire. The rewrite is conditional on the revision this instance last wrote:
 * if it fails, another instance registered a newer session of the node (newest wins)
 * and this one's session is handed to `onLost` to be closed as a duplicate.
 *
 * A bucket that is gone (a nats-server restarted without its JetStream storage) is made
 * again at the next use that misses it, and the leases this instance holds are written
 * into it at their next refresh.
 */
import type { KV, KvEntry, NatsConnection } from 'nats';
import type { Clock, TimerHandle } from '../clock.ts';
import { canonicalAccount } from './account.ts';
import type { GatewayConfig } from './config.ts';
import { type ConnectionEntry, type ConnectionRegistry, sortEntries } from './registry.ts';

export const REGISTRY_BUCKET = 'bosun_receptor_connections';

/** KV keys allow `[-/_=.a-zA-Z0-9]` and use `.` between tokens: anything else is `=XX`-escaped. */
export function kvToken(name: string): string {
  return Array.from(Buffer.from(name, 'utf8'))
    .map((byte) => {
      const c = String.fromCharCode(byte);
      return /[A-Za-z0-9_-]/.test(c) ? c : `=${byte.toString(16).padStart(2, '0')}`;
    })
    .join('');
}

function entryKey(account: string, nodeId: string): string {
  return `${kvToken(canonicalAccount(account))}.${kvToken(nodeId)}`;
}

function decode(entry: KvEntry | null): ConnectionEntry | undefined {
  if (!entry || entry.operation !== 'PUT' || entry.value.length === 0) return undefined;
  return entry.json<ConnectionEntry>();
}

interface Owned {
  entry: ConnectionEntry;
  revision: number;
}

export class NatsKvRegistry implements ConnectionRegistry {
  /** Told about a session of this instance that lost its entry to a newer one. */
  onLost: (entry: ConnectionEntry) => void = () => {};
  #kv: KV;
  readonly #open: () => Promise<KV>;
  readonly #clock: Clock;
  readonly #config: GatewayConfig;
  readonly #owned = new Map<string, Owned>();
  #timer: TimerHandle | undefined;
  #closed = false;

  private constructor(kv: KV, open: () => Promise<KV>, clock: Clock, config: GatewayConfig) {
    this.#kv = kv;
    this.#open = open;
    this.#clock = clock;
    this.#config = config;
  }

  static async open(nc: NatsConnection, clock: Clock, config: GatewayConfig, bucket = REGISTRY_BUCKET): Promise<NatsKvRegistry> {
    // Binds to the bucket, creating it when missing.
    const open = () => nc.jetstream().views.kv(bucket, { ttl: config.leaseMs, history: 1 });
    const registry = new NatsKvRegistry(await open(), open, clock, config);
    registry.#schedule();
    return registry;
  }

  async register(entry: ConnectionEntry): Promise<ConnectionEntry | undefined> {
    const key = entryKey(entry.account, entry.nodeId);
    const previous = decode(await this.#withBucket((kv) => kv.get(key)));
    const revision = await this.#kv.put(key, JSON.stringify(entry));
    this.#owned.set(key, { entry, revision });
    return previous && previous.sessionId !== entry.sessionId ? previous : undefined;
  }

  /**
   * Runs `use` on the bucket. When it fails, the bucket may be gone with the server's
   * storage (a read then times out, a write finds no responders): it is bound again,
   * and made if missing, and `use` runs once more. When NATS is away the binding fails
   * too, and the first failure is what the caller sees.
   */
  async #withBucket<T>(use: (kv: KV) => Promise<T>): Promise<T> {
    try {
      return await use(this.#kv);
    } catch (error) {
      try {
        this.#kv = await this.#open();
      } catch {
        throw error;
      }
      return use(this.#kv);
    }
  }

  async unregister(account: string, nodeId: string, sessionId: string): Promise<boolean> {
    const key = entryKey(account, nodeId);
    const owned = this.#owned.get(key);
    if (owned?.entry.sessionId !== sessionId) return false;
    this.#owned.delete(key);
    try {
      await this.#kv.delete(key, { previousSeq: owned.revision });
      return true;
    } catch {
      return false; // a newer session of the node wrote the entry since: it is not ours to delete
    }
  }

  async lookup(account: string, nodeId: string): Promise<ConnectionEntry | undefined> {
    return decode(await this.#withBucket((kv) => kv.get(entryKey(account, nodeId))));
  }

  async list(account?: string): Promise<ConnectionEntry[]> {
    const keys: string[] = [];
    for await (const key of await this.#kv.keys(account === undefined ? '>' : `${kvToken(canonicalAccount(account))}.*`)) keys.push(key);
    const entries = await Promise.all(keys.map(async (key) => decode(await this.#kv.get(key))));
    return sortEntries(entries.filter((e): e is ConnectionEntry => e !== undefined));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    this.#owned.clear();
  }

  #schedule(): void {
    if (this.#closed) return;
    const { refreshMinMs, refreshMaxMs } = this.#config;
    const delay = refreshMinMs + Math.random() * (refreshMaxMs - refreshMinMs);
    this.#timer = this.#clock.setTimer(delay, () => void this.refresh().finally(() => this.#schedule()));
  }

  /** Renews every lease this instance holds (the refresh timer calls it). */
  async refresh(): Promise<void> {
    await Promise.all([...this.#owned].map(([key, owned]) => this.#renew(key, owned)));
  }

  async #renew(key: string, owned: Owned): Promise<void> {
    try {
      owned.revision = await this.#kv.update(key, JSON.stringify(owned.entry), owned.revision);
      return;
    } catch {
      // Someone else wrote the key since, or it expired: find out which.
    }
    if (this.#owned.get(key) !== owned) return;
    try {
      const raw = await this.#withBucket((kv) => kv.get(key));
      const current = decode(raw);
      if (current === undefined) {
        owned.revision = await this.#kv.create(key, JSON.stringify(owned.entry));
      } else if (current.sessionId === owned.entry.sessionId) {
        owned.revision = raw!.revision;
      } else {
        this.#owned.delete(key);
        this.onLost(owned.entry);
      }
    } catch {
      // NATS is unreachable; the next refresh tries again before the lease runs out.
    }
  }
}
