import type { Message } from '../message.ts';
import type { DataFrame, SignedFrame } from '../delivery/frames.ts';

/**
 * Message security, plugged into every path: `seal` sees every message this node sends
 * (from any input, replies, error reports) before it is stored; `check` sees every
 * message before it runs here, and refuses it by throwing a `BosunError`.
 *
 * A file of its own so that the frame authentication and the node both depend on it, and
 * not on each other.
 */
export interface MessageGuard {
  seal(message: Message): Message;
  /** `delivery` says which stream and sequence number the message came as (0: made here). */
  check(message: Message, delivery?: { stream: string; seq: number }): void | Promise<void>;
  /**
   * A data frame's message, before its receiver takes the frame's sequence number: the
   * error when the message is not the stream's (not signed by a key this node holds for
   * its sender, or not for this stream), undefined otherwise — `check` decides the rest
   * when it runs. Synchronous and cheap: it sees every frame from the wire.
   */
  screen?(message: Message, stream: string): Error | undefined;
  /** Signs a skip, ACK or resume frame this node sends. */
  sealFrame?<F extends SignedFrame>(frame: F): F;
  /** The delivery signature of a data frame this node publishes (see `delivery/frames.ts`). */
  signDelivery?(stream: string, inc: string, seq: number, messageJson: string): string;
  /** A data frame's delivery signature, by `from` (its publisher): the error when it does not hold. */
  checkDelivery?(frame: DataFrame, from: string): Error | undefined;
  /**
   * A skip, ACK or resume frame that says it comes from `from`: the error when it is not
   * signed by from's key, undefined when it is (ACKs and resumes also when from's key is
   * not known yet: they change nothing a sender did not open itself).
   */
  checkFrame?(frame: SignedFrame, from: string): Error | undefined;
}
