import { BosunError, type ErrorCode } from '../errors.ts';
import type { Message } from '../message.ts';

/** One chunk sent to the destination: which file, where in it, and its sha256. */
export interface SentChunk {
  file: number;
  offset: number;
  bytes: number;
  sha256: string;
}

/**
 * What the source of one running copy knows about the destination: which chunks and
 * file ends it has confirmed (their replies, the receipts) and whether it refused one.
 * The copy's handler waits on it and takes what was confirmed to make it durable;
 * `REQCopyReceipt` feeds it.
 */
export class CopyTracker {
  /** Bytes the destination has written. */
  confirmedBytes = 0;
  readonly #chunks = new Map<string, SentChunk>();
  readonly #ends = new Map<string, { file: number; bytes: number; result?: string }>();
  #confirmed: SentChunk[] = [];
  #ended: Array<{ file: number; bytes: number }> = [];
  #failure: BosunError | undefined;
  #waiters = new Set<() => void>();

  constructor(readonly destinationNode: string) {}

  /** Chunks sent and not confirmed yet. */
  get inFlight(): number {
    return this.#chunks.size;
  }

  /** True once every file end sent has been confirmed. */
  get allEnded(): boolean {
    for (const end of this.#ends.values()) if (end.result === undefined) return false;
    return true;
  }

  expectChunk(id: string, chunk: SentChunk): void {
    this.#chunks.set(id, chunk);
  }

  /** A chunk the destination confirmed before a restart, counted without sending it. */
  alreadyHeld(bytes: number): void {
    this.confirmedBytes += bytes;
  }

  expectEnd(id: string, file: number, bytes: number): void {
    this.#ends.set(id, { file, bytes });
  }

  /** The chunks confirmed since the last call. */
  takeConfirmed(): SentChunk[] {
    const taken = this.#confirmed;
    this.#confirmed = [];
    return taken;
  }

  /** The files confirmed in place since the last call. */
  takeEnded(): Array<{ file: number; bytes: number }> {
    const taken = this.#ended;
    this.#ended = [];
    return taken;
  }

  /** A reply from the destination, for a chunk or a file end of this copy. */
  receipt(reply: Message): void {
    const id = reply.inReplyTo?.id;
    if (id === undefined) return;
    if (isErrorReply(reply)) {
      this.#failure ??= errorFrom(this.destinationNode, reply.data ?? '');
    } else if (this.#chunks.has(id)) {
      const chunk = this.#chunks.get(id)!;
      this.confirmedBytes += chunk.bytes;
      this.#chunks.delete(id);
      this.#confirmed.push(chunk);
    } else if (this.#ends.has(id)) {
      const end = this.#ends.get(id)!;
      if (end.result === undefined) this.#ended.push({ file: end.file, bytes: end.bytes });
      end.result = reply.data ?? '';
    }
    for (const wake of this.#waiters) wake();
  }

  /**
   * Resolves once `condition` holds; calls `onChange` after each receipt meanwhile.
   * Rejects with the destination's error if it refused a chunk or a file, and with the
   * signal's reason if it fires.
   */
  async waitFor(condition: () => boolean, signal: AbortSignal, onChange?: () => Promise<void>): Promise<void> {
    for (;;) {
      if (this.#failure) throw this.#failure;
      signal.throwIfAborted();
      if (condition()) return;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.#waiters.delete(wake);
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.#waiters.add(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
      await onChange?.();
    }
  }
}

/** The runtime marks an error reply by its file name: `<fileName>.error`. */
function isErrorReply(reply: Message): boolean {
  return reply.fileName?.endsWith('.error') === true;
}

/** Rebuilds the destination's error from its reply, `error <code>: <message>`. */
function errorFrom(node: string, data: string): BosunError {
  const match = /^error (BOSUN_[A-Z_]+): ([\s\S]*)$/.exec(data);
  const code = (match?.[1] ?? 'BOSUN_METHOD_FAILED') as ErrorCode;
  return new BosunError(code, `node ${node}: ${match?.[2] ?? data}`);
}
