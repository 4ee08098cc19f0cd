import { generateKeyPairSync, sign } from 'node:crypto';
import { decodeFrame, encodeFrame, type Frame } from '../../src/delivery/frames.ts';
import type { MessageGuard } from '../../src/runtime/Node.ts';
import { deliveryError, frameError, sealFrame, signDelivery } from '../../src/security/deliveryAuth.ts';
import { fingerprintOf, type NodeKeyPair } from '../../src/security/keys.ts';
import type { EmbeddedBus } from '../../src/transport/EmbeddedBus.ts';
import type { Transport } from '../../src/transport/types.ts';
import { publishingThrough } from './publishingThrough.ts';

/**
 * Someone on the bus who captures every frame the nodes publish and publishes them again:
 * as they were, renumbered, and out of order. The nodes it attacks sign their frames
 * (`signedFrameGuard`): the delivery half of a secure node's guard, with keys every node
 * holds from the start; what a message itself says is not checked (the model's messages
 * are the harness's own).
 */

/** Frames kept for replay: the most recent ones. */
const CAPTURE_LIMIT = 400;

export type ReplayMode = 'asIs' | 'renumber' | 'reorder';

const keyPairs = new Map<string, NodeKeyPair>();

/** A node's key pair, made once per process (the harness starts nodes thousands of times). */
function keysOf(node: string): NodeKeyPair {
  let keys = keyPairs.get(node);
  if (!keys) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = Buffer.from((publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url').toString('base64');
    keys = { publicKey: raw, fingerprint: fingerprintOf(raw), sign: (bytes) => sign(null, bytes, privateKey).toString('base64') };
    keyPairs.set(node, keys);
  }
  return keys;
}

/** The guard of `node` in a fleet that signs frames and trusts every node's key. */
export function signedFrameGuard(node: string): MessageGuard {
  const keys = keysOf(node);
  return {
    seal: (m) => m,
    check: () => {},
    signDelivery: (stream, inc, seq, json) => signDelivery(keys, stream, inc, seq, json),
    checkDelivery: (frame, from) => deliveryError(frame, from, keysOf(from).publicKey),
    sealFrame: (frame) => sealFrame(keys, frame),
    checkFrame: (frame, from) => frameError(frame, from, keysOf(from).publicKey),
  };
}

export class FrameAttacker {
  readonly captured: Array<{ subject: string; frame: Frame }> = [];
  readonly stats = { captured: 0, replayed: 0, renumbered: 0 };
  #mallory: Transport | undefined;

  /** Joins the bus as a node of its own, whose frames the bus carries like anyone's. */
  async join(bus: EmbeddedBus): Promise<void> {
    this.#mallory = bus.transport();
    await this.#mallory.start('mallory', () => {});
  }

  /** `transport`, with every frame it publishes captured. */
  tap(transport: Transport): Transport {
    return publishingThrough(transport, (subject, payload) => {
      this.#capture(subject, payload);
      transport.publish(subject, payload);
    });
  }

  #capture(subject: string, payload: Uint8Array): void {
    const frame = decodeFrame(payload);
    if (!frame) return;
    this.stats.captured++;
    this.captured.push({ subject, frame });
    if (this.captured.length > CAPTURE_LIMIT) this.captured.shift();
  }

  /**
   * Publishes the captured frames at `picks` (indices, taken modulo what was captured) again:
   * unchanged, with their sequence numbers moved by `delta`, or all in reverse order.
   */
  replay(picks: readonly number[], mode: ReplayMode, delta: number): void {
    const mallory = this.#mallory;
    if (!mallory || this.captured.length === 0) return;
    const chosen = picks.map((i) => this.captured[i % this.captured.length]!);
    if (mode === 'reorder') chosen.reverse();
    for (const { subject, frame } of chosen) {
      const sent = mode === 'renumber' ? renumbered(frame, delta) : frame;
      if (sent !== frame) this.stats.renumbered++;
      this.stats.replayed++;
      mallory.publish(subject, encodeFrame(sent));
    }
  }

  async close(): Promise<void> {
    await this.#mallory?.close();
  }
}

/** The frame with its sequence numbers moved, its signatures left as they were. */
function renumbered(frame: Frame, delta: number): Frame {
  switch (frame.type) {
    case 'data':
    case 'skip':
      return { ...frame, seq: Math.max(1, frame.seq + delta) };
    case 'ack':
      return frame.upTo !== undefined ? { ...frame, upTo: Math.max(1, frame.upTo + delta) } : { ...frame, seqs: frame.seqs?.map((s) => Math.max(1, s + delta)) };
    case 'resume':
      return frame;
  }
}
