import type { Message } from '../message.ts';

/**
 * Puts messages into the outbox in the order they are sent, those sent within one turn
 * of the event loop together: a handler streaming replies (a followed log, a command's
 * output) costs one outbox write per turn instead of one per line. Each `send` resolves
 * once its message is durable, or rejects with the write's error.
 */
export class CoalescedEnqueue {
  #pending: Message[] = [];
  #waiters: Array<{ resolve(): void; reject(error: unknown): void }> = [];
  #scheduled = false;

  constructor(private readonly enqueue: (messages: Message[]) => Promise<void>) {}

  send(message: Message): Promise<void> {
    this.#pending.push(message);
    const sent = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return sent;
  }

  #flush(): void {
    this.#scheduled = false;
    const messages = this.#pending;
    const waiters = this.#waiters;
    this.#pending = [];
    this.#waiters = [];
    this.enqueue(messages).then(
      () => waiters.forEach((w) => w.resolve()),
      (error: unknown) => waiters.forEach((w) => w.reject(error)),
    );
  }
}
