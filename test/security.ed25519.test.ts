import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ed25519, nodeEd25519, sodiumEd25519 } from '../src/security/ed25519.ts';

const raw = (publicKey: ReturnType<typeof generateKeyPairSync>['publicKey']) => Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');

describe('ed25519', () => {
  it('is libsodium here (sodium-native is installed with the project), node:crypto where it does not load', () => {
    expect(sodiumEd25519).toBeDefined();
    expect(ed25519.name).toBe('libsodium');
  });

  it('makes the same signatures with libsodium as with node:crypto, each accepts the other\'s, and neither accepts a changed byte', () => {
    const sodium = sodiumEd25519!;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(), (bytes, flip) => {
        const { publicKey, privateKey } = generateKeyPairSync('ed25519');
        const key = raw(publicKey);
        const bySodium = sodium.signer(privateKey)(bytes);
        const byNode = nodeEd25519.signer(privateKey)(bytes);
        expect(bySodium.equals(byNode)).toBe(true);
        expect(sodium.verify(key, bytes, byNode)).toBe(true);
        expect(nodeEd25519.verify(key, bytes, bySodium)).toBe(true);
        const changed = Buffer.from(bySodium);
        changed[flip % changed.length]! ^= 1 << (flip % 8);
        expect(sodium.verify(key, bytes, changed)).toBe(false);
        expect(nodeEd25519.verify(key, bytes, changed)).toBe(false);
        if (bytes.length > 0) {
          const other = Buffer.from(bytes);
          other[flip % other.length]! ^= 1;
          expect(sodium.verify(key, other, bySodium)).toBe(false);
          expect(nodeEd25519.verify(key, other, bySodium)).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('refuses keys and signatures of the wrong length without throwing', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const signature = ed25519.signer(privateKey)(Buffer.from('x'));
    for (const impl of [nodeEd25519, sodiumEd25519!]) {
      expect(impl.verify(raw(publicKey).subarray(0, 31), Buffer.from('x'), signature)).toBe(false);
      expect(impl.verify(raw(publicKey), Buffer.from('x'), signature.subarray(0, 63))).toBe(false);
      expect(impl.verify(Buffer.alloc(32), Buffer.from('x'), signature)).toBe(false);
    }
  });
});
