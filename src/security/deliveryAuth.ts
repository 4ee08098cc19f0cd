import { BosunError } from '../errors.ts';
import { messageTextOf, type DataFrame, type SignedFrame } from '../delivery/frames.ts';
import { deliveryBytes, frameBytes } from './canonical.ts';
import { fingerprintOf, verifySignature, type NodeKeyPair } from './keys.ts';

/**
 * The signatures that bind frames to their delivery (`delivery/frames.ts`): a data
 * frame's delivery signature by the node that publishes it, and the signature of a skip,
 * ACK or resume frame by the node that sends it. Which key a frame must verify with is
 * the guard's to say; these only sign and verify.
 */

/** The delivery signature of a data frame carrying `messageJson` as `seq` of incarnation `inc`. */
export function signDelivery(keys: NodeKeyPair, stream: string, inc: string, seq: number, messageJson: string): string {
  return keys.sign(deliveryBytes(stream, inc, seq, messageJson));
}

/** Why `frame` is not `from`'s delivery of its message under its number, checked with `key`; undefined when it is. */
export function deliveryError(frame: DataFrame, from: string, key: string | undefined): BosunError | undefined {
  if (key === undefined) return new BosunError('BOSUN_UNKNOWN_KEY', `this node holds no key for ${from}`);
  if (typeof frame.sig !== 'string') return new BosunError('BOSUN_BAD_SIGNATURE', `data frame ${frame.seq} of stream ${frame.stream} has no delivery signature`);
  if (!verifySignature(key, deliveryBytes(frame.stream, frame.inc, frame.seq, messageTextOf(frame.message) ?? JSON.stringify(frame.message)), frame.sig)) {
    return new BosunError(
      'BOSUN_BAD_SIGNATURE',
      `data frame ${frame.seq} of stream ${frame.stream} is not ${from}'s delivery of that message under that number (replayed, renumbered or forged)`,
    );
  }
  return undefined;
}

/** A skip, ACK or resume frame, signed. */
export function sealFrame<F extends SignedFrame>(keys: NodeKeyPair, frame: F): F {
  return { ...frame, signature: keys.sign(frameBytes(frame)) };
}

/** Why `frame` is not signed by `from`'s `key`; undefined when it is. */
export function frameError(frame: SignedFrame, from: string, key: string): BosunError | undefined {
  if (typeof frame.signature !== 'string') {
    return new BosunError('BOSUN_BAD_SIGNATURE', `the ${frame.type} frame of stream ${frame.stream} is not signed`);
  }
  if (!verifySignature(key, frameBytes(frame), frame.signature)) {
    return new BosunError('BOSUN_BAD_SIGNATURE', `the ${frame.type} frame of stream ${frame.stream} is not signed by ${from}'s key ${fingerprintOf(key)}`);
  }
  return undefined;
}
