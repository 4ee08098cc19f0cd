import { BosunError } from '../errors.ts';
import { isValidName } from '../message.ts';
import { validateNodeAcl, type NodeAcl } from './acl.ts';
import { documentBytes, sha256Hex } from './canonical.ts';
import { isPublicKey, verifySignature, type NodeKeyPair } from './keys.ts';

/**
 * What central distributes: documents it signs with its node key, verified by every
 * node against central's pinned key before anything of them is used. The signature is
 * over `<kind>\n<canonical JSON of body>`, so a document can be checked on its own,
 * whoever carried it; the hash of the same bytes is what nodes compare to see whether
 * they are current.
 */
export const KEYS_KIND = 'bosun-keys-v1';
export const ACL_KIND = 'bosun-acl-v1';

export interface KeySetBody {
  central: string;
  /** Central's public key: pinned by a node on first contact, then compared. */
  centralKey: string;
  /** node → public key, for every allowed node (central included). */
  keys: Record<string, string>;
  /** Grows with every change: a node never goes back to an older set. */
  serial: number;
  issuedAt: number;
}

export interface NodeAclBody {
  central: string;
  /** The node the rules are for. */
  node: string;
  acl: NodeAcl;
  serial: number;
  issuedAt: number;
}

export interface SignedDocument<K extends string, B> {
  kind: K;
  body: B;
  signature: string;
}

export type KeySetDocument = SignedDocument<typeof KEYS_KIND, KeySetBody>;
export type NodeAclDocument = SignedDocument<typeof ACL_KIND, NodeAclBody>;

export function signDocument<K extends string, B>(kind: K, body: B, keys: NodeKeyPair): SignedDocument<K, B> {
  return { kind, body, signature: keys.sign(documentBytes(kind, body)) };
}

export function verifyDocument(doc: SignedDocument<string, unknown>, publicKey: string): boolean {
  return verifySignature(publicKey, documentBytes(doc.kind, doc.body), doc.signature);
}

export function documentHash(doc: SignedDocument<string, unknown> | undefined): string {
  return doc ? sha256Hex(documentBytes(doc.kind, doc.body)) : '';
}

/** Parses and shape-checks a key set; throws `BOSUN_BAD_MESSAGE`, never returns half of one. */
export function parseKeySetDocument(text: string | undefined): KeySetDocument {
  const doc = envelope(text, KEYS_KIND);
  const b = object(doc.body, 'body');
  const central = name(b.central, 'body.central');
  if (!isPublicKey(b.centralKey)) throw bad('body.centralKey is not an ed25519 public key');
  const keys: Record<string, string> = {};
  for (const [node, key] of Object.entries(object(b.keys, 'body.keys'))) {
    name(node, 'a node in body.keys');
    if (!isPublicKey(key)) throw bad(`the key of ${node} is not an ed25519 public key`);
    keys[node] = key;
  }
  if (keys[central] !== undefined && keys[central] !== b.centralKey) throw bad('body.keys gives central another key than body.centralKey');
  return { kind: KEYS_KIND, body: { central, centralKey: b.centralKey, keys, serial: counter(b.serial), issuedAt: counter(b.issuedAt) }, signature: doc.signature };
}

/** Parses and shape-checks a node's ACL document; throws `BOSUN_BAD_MESSAGE`. */
export function parseNodeAclDocument(text: string | undefined): NodeAclDocument {
  const doc = envelope(text, ACL_KIND);
  const b = object(doc.body, 'body');
  return {
    kind: ACL_KIND,
    body: {
      central: name(b.central, 'body.central'),
      node: name(b.node, 'body.node'),
      acl: validateNodeAcl(b.acl),
      serial: counter(b.serial),
      issuedAt: counter(b.issuedAt),
    },
    signature: doc.signature,
  };
}

function envelope(text: string | undefined, kind: string): { body: unknown; signature: string } {
  let value: unknown;
  try {
    value = JSON.parse(text ?? '');
  } catch {
    throw bad(`the ${kind} update is not JSON`);
  }
  const doc = object(value, 'the update');
  if (doc.kind !== kind) throw bad(`the update is not a ${kind} document`);
  if (typeof doc.signature !== 'string' || doc.signature === '') throw bad('the update carries no signature');
  return { body: doc.body, signature: doc.signature };
}

function object(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function name(v: unknown, what: string): string {
  if (typeof v !== 'string' || !isValidName(v)) throw bad(`${what} is not a node name`);
  return v;
}

function counter(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad('serial and issuedAt must be whole numbers');
  return v;
}

function bad(message: string): BosunError {
  return new BosunError('BOSUN_BAD_MESSAGE', `malformed update, nothing changed: ${message}`);
}
