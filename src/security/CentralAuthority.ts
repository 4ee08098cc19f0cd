import { BosunError } from '../errors.ts';
import { applyAclEdit, EMPTY_ACL_CONFIG, nodeAclOf, sameConfig, unknownGroupUses, validateAclConfig, type AclConfig, type AclEdit, type NodeAcl } from './acl.ts';
import { ACL_KIND, documentHash, KEYS_KIND, signDocument, type KeySetDocument, type NodeAclDocument } from './documents.ts';
import { fingerprintOf, isPublicKey, type NodeKeyPair } from './keys.ts';
import type { Ledger } from './Ledger.ts';
import { KeyWaiters, Serial, type Trust } from './Trust.ts';

/** A key central has seen in a hello but no operator has allowed. */
export interface PendingKey {
  key: string;
  firstSeen: number;
  lastSeen: number;
}

export interface KeyListing {
  allowed: Array<{ node: string; fingerprint: string; publicKey: string }>;
  pending: Array<{ node: string; fingerprint: string; publicKey: string; firstSeen: string; lastSeen: string; replacesAllowedKey: boolean }>;
  serial: number;
  hash: string;
}

/** The outcome of an ACL edit or import. */
export interface AclChange {
  /** False when the ACL already was so. */
  changed: boolean;
  /** Nodes (not central) whose rules changed: where the update goes. */
  nodes: string[];
}

/** What central persists: allowed and pending keys, and the ACL with its groups. */
interface CentralState {
  allowed: Record<string, string>;
  pending: Record<string, PendingKey>;
  keysSerial: number;
  acl: AclConfig;
  aclSerial: number;
}

const STATE = 'central';
/** Pending keys kept at most: a flood of hellos under made-up names cannot grow the store without end. */
const MAX_PENDING = 1000;

/**
 * Central's key and ACL authority: keys are only ever learnt as pending (from a hello
 * that proves possession of the key) and become trusted when an operator allows them;
 * every change bumps a serial and is signed for distribution.
 */
export class CentralAuthority implements Trust {
  #state: CentralState = { allowed: {}, pending: {}, keysSerial: 0, acl: EMPTY_ACL_CONFIG, aclSerial: 0 };
  #keyDoc: KeySetDocument | undefined;
  #aclDocs = new Map<string, NodeAclDocument>();
  #serial = new Serial();
  #waiters = new KeyWaiters();

  private constructor(
    readonly central: string,
    private readonly keys: NodeKeyPair,
    private readonly ledger: Ledger,
    private readonly clock: { now(): number },
  ) {}

  static async load(central: string, keys: NodeKeyPair, ledger: Ledger, clock: { now(): number }): Promise<CentralAuthority> {
    const authority = new CentralAuthority(central, keys, ledger, clock);
    const saved = await ledger.get<CentralState>(STATE);
    if (saved) {
      authority.#state = {
        allowed: Object.fromEntries(Object.entries(saved.allowed ?? {}).filter(([, k]) => isPublicKey(k))),
        pending: Object.fromEntries(Object.entries(saved.pending ?? {}).filter(([, p]) => isPublicKey(p?.key))),
        keysSerial: saved.keysSerial ?? 0,
        // A stored ACL that no longer validates is kept out rather than half-used.
        acl: (() => {
          try {
            return validateAclConfig(saved.acl ?? EMPTY_ACL_CONFIG);
          } catch {
            return EMPTY_ACL_CONFIG;
          }
        })(),
        aclSerial: saved.aclSerial ?? 0,
      };
    }
    // Central's own key is always in the set; a new key (a new key folder) is a change.
    if (authority.#state.allowed[central] !== keys.publicKey) {
      authority.#state.allowed[central] = keys.publicKey;
      authority.#state.keysSerial++;
      await authority.#save();
    }
    return authority;
  }

  // ---- Trust -----------------------------------------------------------------------------

  keyFor(node: string): string | undefined {
    return Object.hasOwn(this.#state.allowed, node) ? this.#state.allowed[node] : undefined;
  }

  /** The key `node` presented last and an operator has not allowed yet, if any. */
  pendingKeyFor(node: string): string | undefined {
    return Object.hasOwn(this.#state.pending, node) ? this.#state.pending[node]!.key : undefined;
  }

  acl(): NodeAcl {
    return this.nodeAclDocument(this.central).body.acl;
  }

  awaitingKeys(): boolean {
    return false;
  }

  waitForKey(node: string, ms: number): Promise<boolean> {
    return this.#waiters.wait(() => this.keyFor(node) !== undefined, ms);
  }

  // ---- keys ------------------------------------------------------------------------------

  /**
   * A node presented `key` (in a hello or a key request) and proved it holds it.
   * `allowed`: it is the node's allowed key. `pending`: kept for an operator to allow.
   * `changed`: the node has another allowed key; the new one is pending, the old stays.
   */
  notePresented(node: string, key: string): Promise<'allowed' | 'pending' | 'changed'> {
    if (this.keyFor(node) === key) return Promise.resolve('allowed');
    return this.#serial.run(async () => {
      const now = this.clock.now();
      const verdict = this.keyFor(node) === undefined ? 'pending' : 'changed';
      const known = this.#state.pending[node];
      if (known?.key === key) {
        known.lastSeen = now;
        return verdict;
      }
      this.#state.pending[node] = { key, firstSeen: now, lastSeen: now };
      const names = Object.keys(this.#state.pending);
      if (names.length > MAX_PENDING) {
        const oldest = names.sort((a, b) => this.#state.pending[a]!.lastSeen - this.#state.pending[b]!.lastSeen)[0]!;
        delete this.#state.pending[oldest];
      }
      await this.#save();
      return verdict;
    });
  }

  /**
   * Allows the pending keys of `nodes`; an entry `node=FINGERPRINT` allows only a key with
   * that fingerprint (compare it with `bosun keys show` on the node). All or nothing.
   */
  allow(entries: string[]): Promise<string[]> {
    return this.#serial.run(async () => {
      if (entries.length === 0) throw new BosunError('BOSUN_BAD_MESSAGE', 'say which nodes to allow');
      const next = structuredClone(this.#state);
      const done: string[] = [];
      for (const entry of entries) {
        const at = entry.indexOf('=');
        const node = at < 0 ? entry : entry.slice(0, at);
        const fingerprint = at < 0 ? undefined : entry.slice(at + 1);
        const pending = next.pending[node];
        if (!pending) {
          const allowed = next.allowed[node];
          if (allowed && (fingerprint === undefined || fingerprintOf(allowed) === fingerprint)) {
            done.push(`${node} was already allowed (${fingerprintOf(allowed)})`);
            continue;
          }
          throw new BosunError('BOSUN_UNKNOWN_KEY', `no pending key for ${node}: it has to say hello first`);
        }
        if (fingerprint !== undefined && fingerprintOf(pending.key) !== fingerprint) {
          throw new BosunError('BOSUN_UNKNOWN_KEY', `the pending key of ${node} is ${fingerprintOf(pending.key)}, not ${fingerprint}; nothing was allowed`);
        }
        if (node === this.central) throw new BosunError('BOSUN_NOT_ALLOWED', `${node} is central; its key is its own key folder's`);
        next.allowed[node] = pending.key;
        delete next.pending[node];
        done.push(`allowed ${node} (${fingerprintOf(pending.key)})`);
      }
      next.keysSerial++;
      this.#state = next;
      this.#keyDoc = undefined;
      this.#aclDocs.clear();
      await this.#save();
      this.#waiters.changed();
      return done;
    });
  }

  /** Removes the keys of `nodes` (allowed or pending): their messages are refused everywhere. */
  revoke(nodes: string[]): Promise<string[]> {
    return this.#serial.run(async () => {
      if (nodes.length === 0) throw new BosunError('BOSUN_BAD_MESSAGE', 'say which nodes to revoke');
      const next = structuredClone(this.#state);
      const done: string[] = [];
      for (const node of nodes) {
        if (node === this.central) throw new BosunError('BOSUN_NOT_ALLOWED', 'central cannot revoke its own key');
        const had = next.allowed[node] ?? next.pending[node]?.key;
        if (had === undefined) throw new BosunError('BOSUN_UNKNOWN_KEY', `${node} has no key to revoke; nothing was revoked`);
        delete next.allowed[node];
        delete next.pending[node];
        done.push(`revoked ${node} (${fingerprintOf(had)})`);
      }
      next.keysSerial++;
      this.#state = next;
      this.#keyDoc = undefined;
      this.#aclDocs.clear();
      await this.#save();
      return done;
    });
  }

  list(): KeyListing {
    const iso = (ms: number) => new Date(ms).toISOString();
    return {
      allowed: Object.entries(this.#state.allowed)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([node, publicKey]) => ({ node, fingerprint: fingerprintOf(publicKey), publicKey })),
      pending: Object.entries(this.#state.pending)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([node, p]) => ({
          node,
          fingerprint: fingerprintOf(p.key),
          publicKey: p.key,
          firstSeen: iso(p.firstSeen),
          lastSeen: iso(p.lastSeen),
          replacesAllowedKey: this.#state.allowed[node] !== undefined,
        })),
      serial: this.#state.keysSerial,
      hash: documentHash(this.keySetDocument()),
    };
  }

  /** Every allowed node but central: where updates are pushed. */
  allowedNodes(): string[] {
    return Object.keys(this.#state.allowed).filter((n) => n !== this.central).sort();
  }

  /** The allowed key set, signed by central. */
  keySetDocument(): KeySetDocument {
    this.#keyDoc ??= signDocument(
      KEYS_KIND,
      { central: this.central, centralKey: this.keys.publicKey, keys: { ...this.#state.allowed }, serial: this.#state.keysSerial, issuedAt: this.clock.now() },
      this.keys,
    );
    return this.#keyDoc;
  }

  // ---- ACL -------------------------------------------------------------------------------

  aclConfig(): AclConfig {
    return structuredClone(this.#state.acl);
  }

  /**
   * Applies one edit. `changed` is false when the ACL already was so (an add of a rule it
   * has); `nodes` are the nodes whose rules changed, where updates go.
   */
  editAcl(edit: AclEdit): Promise<AclChange> {
    return this.#replaceAcl((acl) => applyAclEdit(acl, edit));
  }

  /**
   * Replaces the whole ACL with an exported one; a malformed one, or one whose rules name
   * groups it does not define, changes nothing.
   */
  importAcl(value: unknown): Promise<AclChange> {
    return this.#replaceAcl(() => {
      const config = validateAclConfig(value);
      const dangling = unknownGroupUses(config)[0];
      if (dangling) throw new BosunError('BOSUN_BAD_MESSAGE', `the ACL names ${dangling.group} (${dangling.text}), which it does not define as a ${dangling.kind} group; nothing changed`);
      return config;
    });
  }

  /** The rules for `node`, signed by central. */
  nodeAclDocument(node: string): NodeAclDocument {
    let doc = this.#aclDocs.get(node);
    if (!doc) {
      doc = signDocument(
        ACL_KIND,
        { central: this.central, node, acl: nodeAclOf(this.#state.acl, node), serial: this.#state.aclSerial, issuedAt: this.clock.now() },
        this.keys,
      );
      this.#aclDocs.set(node, doc);
    }
    return doc;
  }

  #replaceAcl(change: (acl: AclConfig) => AclConfig): Promise<AclChange> {
    return this.#serial.run(async () => {
      const before = this.#state.acl;
      const after = change(before);
      // An unchanged ACL keeps its serial: nodes have nothing new to take.
      if (sameConfig(before, after)) return { changed: false, nodes: [] };
      const nodes = [this.central, ...this.allowedNodes()];
      const changed = nodes.filter((n) => JSON.stringify(nodeAclOf(before, n)) !== JSON.stringify(nodeAclOf(after, n)));
      this.#state = { ...this.#state, acl: after, aclSerial: this.#state.aclSerial + 1 };
      this.#aclDocs.clear();
      await this.#save();
      return { changed: true, nodes: changed.filter((n) => n !== this.central) };
    });
  }

  async #save(): Promise<void> {
    await this.ledger.put(STATE, this.#state);
  }
}
