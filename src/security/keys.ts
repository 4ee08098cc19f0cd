import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BosunError } from '../errors.ts';
import { ed25519 } from './ed25519.ts';

/** The private key file in a key folder; readable by its owner only (0600). */
export const PRIVATE_KEY_FILE = 'private.pem';
export const PUBLIC_KEY_FILE = 'public.pem';

/**
 * A node's ed25519 signing identity. Public keys travel as the base64 of their 32 raw
 * bytes: short enough for hellos and key sets, and what fingerprints are taken of.
 */
export interface NodeKeyPair {
  /** base64 of the 32 raw bytes of the public key. */
  readonly publicKey: string;
  /** `SHA256:<base64>` of the raw public key, as `bosun keys` shows it. */
  readonly fingerprint: string;
  /** Signs `bytes`; the signature is base64. */
  sign(bytes: Uint8Array): string;
}

/**
 * Loads the key pair from `keyDir`, or creates it there on first start: `private.pem`
 * (PKCS#8, mode 0600) and `public.pem` (SPKI). A private key others may read is refused,
 * as ssh refuses one: it may already be someone else's.
 */
export async function loadOrCreateKeys(keyDir: string): Promise<NodeKeyPair> {
  const privatePath = path.join(keyDir, PRIVATE_KEY_FILE);
  const publicPath = path.join(keyDir, PUBLIC_KEY_FILE);
  await mkdir(keyDir, { recursive: true, mode: 0o700 });
  let privateKey: KeyObject;
  let pem: string | undefined;
  try {
    pem = await readFile(privatePath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw keyFileError(privatePath, e);
  }
  if (pem === undefined) {
    const pair = generateKeyPairSync('ed25519');
    privateKey = pair.privateKey;
    try {
      // `wx`: two processes starting at once must not overwrite each other's key.
      await writeFile(privatePath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateKeys(keyDir);
      throw keyFileError(privatePath, e);
    }
  } else {
    const mode = (await stat(privatePath)).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new BosunError(
        'BOSUN_BAD_KEY_FILE',
        `${privatePath} may be read by others (mode ${mode.toString(8).padStart(4, '0')}); make it private (chmod 600) or remove it to make a new key`,
      );
    }
    try {
      privateKey = createPrivateKey(pem);
    } catch (e) {
      throw new BosunError('BOSUN_BAD_KEY_FILE', `${privatePath} is not a PEM private key: ${(e as Error).message}`, { cause: e });
    }
    if (privateKey.asymmetricKeyType !== 'ed25519') {
      throw new BosunError('BOSUN_BAD_KEY_FILE', `${privatePath} holds a ${privateKey.asymmetricKeyType} key; bosun signs with ed25519`);
    }
  }
  const publicObject = createPublicKey(privateKey);
  const publicPem = publicObject.export({ type: 'spki', format: 'pem' }) as string;
  // public.pem is derived: rewrite it when missing or not matching the private key.
  const current = await readFile(publicPath, 'utf8').catch(() => undefined);
  if (current !== publicPem) {
    await writeFile(publicPath, publicPem, { mode: 0o644 });
    await chmod(publicPath, 0o644);
  }
  const publicKey = rawPublicKey(publicObject);
  const signer = ed25519.signer(privateKey);
  return {
    publicKey,
    fingerprint: fingerprintOf(publicKey),
    sign: (bytes) => signer(bytes).toString('base64'),
  };
}

/** Reads a public key file (`public.pem`, or a bare base64 key) as a base64 raw key. */
export async function readPublicKeyFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw keyFileError(file, e);
  }
  const key = parsePublicKey(text.trim());
  if (!key) throw new BosunError('BOSUN_BAD_KEY_FILE', `${file} holds no ed25519 public key (PEM or base64)`);
  return key;
}

/** A PEM (SPKI) or base64 raw ed25519 public key as base64 raw; undefined if it is neither. */
export function parsePublicKey(text: string): string | undefined {
  if (text.includes('-----BEGIN')) {
    try {
      const key = createPublicKey(text);
      return key.asymmetricKeyType === 'ed25519' ? rawPublicKey(key) : undefined;
    } catch {
      return undefined;
    }
  }
  return isPublicKey(text) ? text : undefined;
}

/** True for the base64 of exactly 32 bytes (the canonical encoding, so one key has one text). */
export function isPublicKey(value: unknown): value is string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(value)) return false;
  return Buffer.from(value, 'base64').toString('base64') === value;
}

export function fingerprintOf(publicKey: string): string {
  return `SHA256:${createHash('sha256').update(Buffer.from(publicKey, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

/** Verifies an ed25519 signature; false (never a throw) for any malformed input. */
export function verifySignature(publicKey: string, bytes: Uint8Array, signature: string): boolean {
  if (!isPublicKey(publicKey) || typeof signature !== 'string' || !/^[A-Za-z0-9+/]{86}==$/.test(signature)) return false;
  return ed25519.verify(Buffer.from(publicKey, 'base64'), bytes, Buffer.from(signature, 'base64'));
}

function rawPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' }) as { x?: string };
  return Buffer.from(jwk.x!, 'base64url').toString('base64');
}

function keyFileError(file: string, e: unknown): BosunError {
  return new BosunError('BOSUN_BAD_KEY_FILE', `cannot use ${file}: ${(e as Error).message}`, { cause: e });
}
