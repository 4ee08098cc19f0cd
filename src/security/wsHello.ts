/**
 * Proof of a ws peer's name: the gateway node challenges each hello (see
 * `transport/wsProtocol.ts`), the peer signs the challenge with its node's key, and the
 * gateway checks the signature against the key it holds for that node.
 */
import type { HelloClaim } from '../transport/wsProtocol.ts';
import type { HelloVerdict } from '../transport/WsGateway.ts';
import { documentBytes } from './canonical.ts';
import { fingerprintOf, verifySignature, type NodeKeyPair } from './keys.ts';
import type { Trust } from './Trust.ts';

/**
 * What a hello proof's signature is over: `bosun-ws-hello-v1\n` and the canonical JSON of
 * the claim (challenge, node, gateway). The prefix keeps it from ever verifying as a
 * message's, a frame's or a document's signature, and theirs as it.
 */
export const WS_HELLO_SIGNATURE_VERSION = 'bosun-ws-hello-v1';

export function helloClaimBytes(claim: HelloClaim): Uint8Array {
  return documentBytes(WS_HELLO_SIGNATURE_VERSION, { challenge: claim.challenge, node: claim.node, gateway: claim.gateway });
}

/** The peer's side: its signature over the gateway's challenge. */
export function signHelloClaim(keys: NodeKeyPair, claim: HelloClaim): string {
  return keys.sign(helloClaimBytes(claim));
}

/**
 * The gateway's side: a node whose key `trust` holds (central: its allowed keys; any other
 * node: the key set from central) must sign the challenge with it; a node whose key it
 * does not hold yet (not allowed yet, or this node has no key set yet) is `unknown`.
 */
export function judgeHelloClaim(trust: Pick<Trust, 'keyFor'>, claim: HelloClaim, signature: string | undefined): HelloVerdict {
  const key = trust.keyFor(claim.node);
  if (key === undefined) return { kind: 'unknown' };
  if (signature === undefined) {
    return { kind: 'refused', code: 'BOSUN_BAD_SIGNATURE', reason: `${claim.node}'s hello is not signed, and its key is known here: run it with --secure, on a bosun that speaks ws protocol 2` };
  }
  if (claim.challenge === '' || !verifySignature(key, helloClaimBytes(claim), signature)) {
    return { kind: 'refused', code: 'BOSUN_BAD_SIGNATURE', reason: `${claim.node}'s hello is not signed by its key ${fingerprintOf(key)}` };
  }
  return { kind: 'proven' };
}
