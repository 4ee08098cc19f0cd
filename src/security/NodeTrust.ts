import { BosunError } from '../errors.ts';
import { EMPTY_NODE_ACL, type NodeAcl } from './acl.ts';
import {
  documentHash,
  parseKeySetDocument,
  parseNodeAclDocument,
  verifyDocument,
  type KeySetDocument,
  type NodeAclDocument,
} from './documents.ts';
import { fingerprintOf, type NodeKeyPair } from './keys.ts';
import type { Ledger } from './Ledger.ts';
import { KeyWaiters, Serial, type Trust } from './Trust.ts';

const KEYS = 'keys';
const ACL = 'acl';
const CENTRAL_KEY = 'centralKey';
/** How the pinned central key was learnt: only a key learnt out of band is worth keeping. */
const CENTRAL_KEY_SOURCE = 'centralKeySource';

/**
 * How a node learns central's key, never from the wire alone: the key itself (central's
 * `public.pem`, `--trust-central FILE`) or its fingerprint (`--trust-central-fingerprint`),
 * which the first key set that names a key with that fingerprint, signed by that key, pins.
 */
export interface CentralAnchor {
  key?: string;
  fingerprint?: string;
}

/** The flags that give a node central's key, for messages that say how. */
export const TRUST_CENTRAL_HOWTO =
  "give it central's key: --trust-central FILE (central's <signing-dir>/public.pem, copied out of band) or --trust-central-fingerprint SHA256:… (what `bosun keys show` prints on central)";

/**
 * The trust state of a node that is not central: central's key (given by the operator,
 * or by its fingerprint and pinned from the first key set that matches it), the key set and the node's ACL, both
 * accepted only when signed by that key, never older than what the node has, and never
 * half: an update that fails any check changes nothing.
 */
export class NodeTrust implements Trust {
  #centralKey: string | undefined;
  /** Central's key's fingerprint, until a key set with a key of that fingerprint pins the key. */
  #expectedFingerprint: string | undefined;
  #keyDoc: KeySetDocument | undefined;
  #aclDoc: NodeAclDocument | undefined;
  #serial = new Serial();
  #waiters = new KeyWaiters();

  private constructor(
    readonly node: string,
    readonly central: string,
    private readonly keys: NodeKeyPair,
    private readonly ledger: Ledger,
  ) {}

  /**
   * Loads what the node has. `anchor` is how the operator gave central's key: the key
   * (pinned, and it wins over a key pinned before) or its fingerprint (a key pinned before
   * with that fingerprint stands; otherwise the first key set naming such a key pins it).
   * Without one, a key pinned out of band at an earlier start stands; a node with none
   * refuses to start: a key learnt from the wire could be anyone's. Stored documents are
   * verified again: a store edited by hand is no way around the signature.
   */
  static async load(node: string, central: string, keys: NodeKeyPair, ledger: Ledger, anchor: CentralAnchor = {}): Promise<NodeTrust> {
    const trust = new NodeTrust(node, central, keys, ledger);
    const pinned = await ledger.get<string>(CENTRAL_KEY);
    const source = await ledger.get<string>(CENTRAL_KEY_SOURCE);
    if (anchor.key !== undefined) {
      if (anchor.fingerprint !== undefined && fingerprintOf(anchor.key) !== anchor.fingerprint) {
        throw new BosunError('BOSUN_BAD_CONFIG', `central's key file has fingerprint ${fingerprintOf(anchor.key)}, not the ${anchor.fingerprint} given`);
      }
      trust.#centralKey = anchor.key;
      if (anchor.key !== pinned || source !== 'operator') await trust.#pin(anchor.key);
    } else if (anchor.fingerprint !== undefined) {
      if (pinned !== undefined && source === 'operator' && fingerprintOf(pinned) === anchor.fingerprint) trust.#centralKey = pinned;
      else trust.#expectedFingerprint = anchor.fingerprint;
    } else if (pinned !== undefined && source === 'operator') {
      trust.#centralKey = pinned;
    } else {
      throw new BosunError('BOSUN_BAD_CONFIG', `${node} runs with --secure but does not know central's key; ${TRUST_CENTRAL_HOWTO}`);
    }
    const keyText = await ledger.get<string>(KEYS);
    const aclText = await ledger.get<string>(ACL);
    try {
      if (keyText !== undefined) trust.#keyDoc = trust.#verifiedKeys(keyText);
    } catch {
      trust.#keyDoc = undefined; // signed by another central than the pinned one: wait for a new set
    }
    try {
      if (aclText !== undefined) trust.#aclDoc = trust.#verifiedAcl(aclText);
    } catch {
      trust.#aclDoc = undefined;
    }
    return trust;
  }

  // ---- Trust -----------------------------------------------------------------------------

  keyFor(node: string): string | undefined {
    if (node === this.node) return this.keys.publicKey;
    if (node === this.central) return this.#centralKey;
    const keys = this.#keyDoc?.body.keys;
    return keys && Object.hasOwn(keys, node) ? keys[node] : undefined;
  }

  acl(): NodeAcl {
    return this.#aclDoc?.body.acl ?? EMPTY_NODE_ACL;
  }

  awaitingKeys(): boolean {
    return this.#keyDoc === undefined;
  }

  waitForKey(node: string, ms: number): Promise<boolean> {
    return this.#waiters.wait(() => this.keyFor(node) !== undefined, ms);
  }

  get centralKey(): string | undefined {
    return this.#centralKey;
  }

  get keysHash(): string {
    return documentHash(this.#keyDoc);
  }

  get aclHash(): string {
    return documentHash(this.#aclDoc);
  }

  /**
   * The central key a key set carries, on first contact with a node given only central's
   * fingerprint: the key, when its fingerprint is the one given.
   */
  expectedCentralKeyIn(text: string | undefined): string | undefined {
    if (this.#centralKey !== undefined || this.#expectedFingerprint === undefined) return undefined;
    try {
      const key = parseKeySetDocument(text).body.centralKey;
      return fingerprintOf(key) === this.#expectedFingerprint ? key : undefined;
    } catch {
      return undefined;
    }
  }

  async #pin(key: string): Promise<void> {
    await this.ledger.put(CENTRAL_KEY, key);
    await this.ledger.put(CENTRAL_KEY_SOURCE, 'operator');
  }

  // ---- updates ---------------------------------------------------------------------------

  /** Applies a key set from central; throws (and changes nothing) unless it is valid and new. */
  applyKeys(text: string | undefined): Promise<string> {
    return this.#serial.run(async () => {
      const firstContact = this.#centralKey === undefined;
      const doc = this.#verifiedKeys(text);
      if (this.#keyDoc && doc.body.serial < this.#keyDoc.body.serial) {
        throw new BosunError('BOSUN_REPLAYED', `key set ${doc.body.serial} is older than the one this node has (${this.#keyDoc.body.serial}); ignored`);
      }
      if (firstContact) await this.#pin(doc.body.centralKey);
      await this.ledger.put(KEYS, JSON.stringify(doc));
      this.#centralKey = doc.body.centralKey;
      this.#expectedFingerprint = undefined;
      this.#keyDoc = doc;
      this.#waiters.changed();
      const pinned = firstContact ? `; pinned central's key ${fingerprintOf(doc.body.centralKey)}` : '';
      return `key set ${doc.body.serial} with ${Object.keys(doc.body.keys).length} keys${pinned}`;
    });
  }

  /** Applies this node's ACL from central; throws (and changes nothing) unless valid and new. */
  applyAcl(text: string | undefined): Promise<string> {
    return this.#serial.run(async () => {
      const doc = this.#verifiedAcl(text);
      if (this.#aclDoc && doc.body.serial < this.#aclDoc.body.serial) {
        throw new BosunError('BOSUN_REPLAYED', `ACL ${doc.body.serial} is older than the one this node has (${this.#aclDoc.body.serial}); ignored`);
      }
      await this.ledger.put(ACL, JSON.stringify(doc));
      this.#aclDoc = doc;
      return `ACL ${doc.body.serial}`;
    });
  }

  #verifiedKeys(text: string | undefined): KeySetDocument {
    const doc = parseKeySetDocument(text);
    if (doc.body.central !== this.central) {
      throw new BosunError('BOSUN_NOT_ALLOWED', `the key set is from central "${doc.body.central}"; this node's central is "${this.central}"`);
    }
    const key = this.#centralKey ?? this.expectedCentralKeyIn(text);
    if (key === undefined) {
      throw new BosunError(
        'BOSUN_UNKNOWN_KEY',
        `the key set names central's key ${fingerprintOf(doc.body.centralKey)}, not the ${this.#expectedFingerprint ?? '(none)'} this node was given; ignored`,
      );
    }
    if (doc.body.centralKey !== key) {
      throw new BosunError(
        'BOSUN_BAD_SIGNATURE',
        `the key set names central's key ${fingerprintOf(doc.body.centralKey)}, but this node pinned ${fingerprintOf(key)}; ignored (if central's key really changed, restart this node with --trust-central FILE naming the new key)`,
      );
    }
    if (!verifyDocument(doc, key)) throw new BosunError('BOSUN_BAD_SIGNATURE', 'the key set is not signed by central; ignored');
    return doc;
  }

  #verifiedAcl(text: string | undefined): NodeAclDocument {
    const doc = parseNodeAclDocument(text);
    if (doc.body.central !== this.central || doc.body.node !== this.node) {
      throw new BosunError('BOSUN_NOT_ALLOWED', `the ACL is for ${doc.body.node} from central "${doc.body.central}"; ignored`);
    }
    if (this.#centralKey === undefined) throw new BosunError('BOSUN_UNKNOWN_KEY', "central's key is not known yet; the ACL cannot be checked");
    if (!verifyDocument(doc, this.#centralKey)) throw new BosunError('BOSUN_BAD_SIGNATURE', 'the ACL is not signed by central; ignored');
    return doc;
  }
}
