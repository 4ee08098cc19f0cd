import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';

/**
 * The ed25519 that signs and checks every message, frame and document. libsodium's
 * (`sodium-native`, an optional dependency with prebuilt binaries) where it loads: on this
 * project's machines it checks a signature in about 50 µs and makes one in about 18 µs,
 * where node:crypto takes about 106 and 36; a secure node does two of each per message.
 * node:crypto where it does not (a platform without a prebuilt binary). ed25519 signatures
 * are deterministic, so nodes with either make and accept the same ones.
 */
export interface Ed25519 {
  readonly name: 'libsodium' | 'node:crypto';
  /** A signing function for `privateKey` (an ed25519 KeyObject), made once per key. */
  signer(privateKey: KeyObject): (bytes: Uint8Array) => Buffer;
  /** Checks a 64-byte signature with a 32-byte raw public key; false for any bad input. */
  verify(publicKey: Buffer, bytes: Uint8Array, signature: Buffer): boolean;
}

const KEY_CACHE_SIZE = 4096;

/** node:crypto's ed25519, with the public keys it parsed kept (4,096 at most). */
export const nodeEd25519: Ed25519 = (() => {
  const keyObjects = new Map<string, KeyObject>();
  return {
    name: 'node:crypto',
    signer: (privateKey) => (bytes) => sign(null, bytes, privateKey),
    verify(publicKey, bytes, signature) {
      const id = publicKey.toString('base64');
      let key = keyObjects.get(id);
      try {
        if (!key) {
          key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey.toString('base64url') }, format: 'jwk' });
          if (keyObjects.size >= KEY_CACHE_SIZE) keyObjects.delete(keyObjects.keys().next().value!);
          keyObjects.set(id, key);
        }
        return verify(null, bytes, key, signature);
      } catch {
        return false;
      }
    },
  };
})();

/** The part of sodium-native this uses. */
interface Sodium {
  crypto_sign_BYTES: number;
  crypto_sign_PUBLICKEYBYTES: number;
  crypto_sign_SECRETKEYBYTES: number;
  crypto_sign_seed_keypair(publicKey: Buffer, secretKey: Buffer, seed: Buffer): void;
  crypto_sign_detached(signature: Buffer, message: Uint8Array, secretKey: Buffer): void;
  crypto_sign_verify_detached(signature: Buffer, message: Uint8Array, publicKey: Buffer): boolean;
}

function loadSodium(): Sodium | undefined {
  try {
    return createRequire(import.meta.url)('sodium-native') as Sodium;
  } catch {
    return undefined;
  }
}

function sodiumEd25519Of(sodium: Sodium): Ed25519 {
  return {
    name: 'libsodium',
    signer(privateKey) {
      const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
      const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES);
      const secretKey = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES);
      sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed);
      seed.fill(0);
      return (bytes) => {
        const signature = Buffer.alloc(sodium.crypto_sign_BYTES);
        sodium.crypto_sign_detached(signature, bytes, secretKey);
        return signature;
      };
    },
    verify(publicKey, bytes, signature) {
      if (publicKey.length !== sodium.crypto_sign_PUBLICKEYBYTES || signature.length !== sodium.crypto_sign_BYTES) return false;
      try {
        return sodium.crypto_sign_verify_detached(signature, bytes, publicKey);
      } catch {
        return false;
      }
    },
  };
}

const sodium = loadSodium();

/** libsodium's ed25519, when sodium-native loads here. */
export const sodiumEd25519: Ed25519 | undefined = sodium ? sodiumEd25519Of(sodium) : undefined;

/** The ed25519 this process uses. */
export const ed25519: Ed25519 = sodiumEd25519 ?? nodeEd25519;
