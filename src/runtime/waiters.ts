import type { Message } from '../message.ts';
import { RELAY_METHODS } from './relay.ts';

interface Waiter {
  acked?: { resolve(): void };
  reply?: { resolve(m: Message): void };
}

/** The promises `send` hands out, kept by message id until their ACK and reply come. */
export class Waiters {
  readonly #byId = new Map<string, Waiter>();

  /** Promises for the ACK and the reply of the message `id`. */
  watch(id: string): { acked: Promise<void>; reply: Promise<Message> } {
    const waiter = this.#byId.get(id) ?? {};
    this.#byId.set(id, waiter);
    const acked = new Promise<void>((resolve) => (waiter.acked = { resolve }));
    const reply = new Promise<Message>((resolve) => (waiter.reply = { resolve }));
    return { acked, reply };
  }

  /** The receiving node has these messages durably. */
  acked(messages: readonly Message[]): void {
    if (this.#byId.size === 0) return;
    for (const m of messages) {
      const waiter = this.#byId.get(m.id);
      if (!waiter) continue;
      waiter.acked?.resolve();
      // Nothing will come back for a message that asked for no reply.
      if (replyMethodOf(m) === 'none') this.#byId.delete(m.id);
    }
  }

  /** A reply ran here: the request's waiter, if any, gets it. */
  replied(reply: Message): void {
    if (!reply.isReply || !reply.inReplyTo) return;
    this.#byId.get(reply.inReplyTo.id)?.reply?.resolve(reply);
    this.#byId.delete(reply.inReplyTo.id);
  }
}

/** The reply method of a message, or of the message a relay envelope carries. */
function replyMethodOf(m: Message): string {
  if (m.replyMethod !== 'none' || !RELAY_METHODS.has(m.method)) return m.replyMethod;
  try {
    return (JSON.parse(m.data ?? '') as { replyMethod?: string }).replyMethod ?? 'none';
  } catch {
    return 'none';
  }
}
