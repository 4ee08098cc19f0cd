import type { NodeAcl } from './acl.ts';

/** What the guard asks of a node's trust state, on central and on every other node alike. */
export interface Trust {
  /** The key `node`'s messages must be signed with, if it is trusted. */
  keyFor(node: string): string | undefined;
  /** The ACL rules that apply on this node. */
  acl(): NodeAcl;
  /**
   * Whether a message from an unknown sender is worth waiting for: true only on a node
   * that has no key set from central yet (its first update may be just behind).
   */
  awaitingKeys(): boolean;
  /**
   * A node given only central's fingerprint: the central key a key set names, when its
   * fingerprint is the one given and no key is pinned yet.
   */
  expectedCentralKeyIn?(text: string | undefined): string | undefined;
  /** Central: the key `node` presented and an operator has not allowed yet. */
  pendingKeyFor?(node: string): string | undefined;
  /** Resolves true once a key for `node` is known, false after `ms`. */
  waitForKey(node: string, ms: number): Promise<boolean>;
}

/** Waiters for keys, woken whenever the key set changes. */
export class KeyWaiters {
  #waiting = new Set<() => void>();

  wait(ready: () => boolean, ms: number): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    if (ms <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = () => {
        if (!ready()) return;
        clearTimeout(timer);
        this.#waiting.delete(wake);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#waiting.delete(wake);
        resolve(false);
      }, ms);
      timer.unref?.();
      this.#waiting.add(wake);
    });
  }

  changed(): void {
    for (const wake of [...this.#waiting]) wake();
  }
}

/** Runs async changes one at a time, in call order: state changes never interleave. */
export class Serial {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(change: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(change, change);
    this.#tail = next.catch(() => {});
    return next;
  }
}
