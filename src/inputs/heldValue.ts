/** A value held past this size moves to one block of its own (see `HeldValue.hold`). */
const BLOCK_FROM_BYTES = 256 * 1024;

/**
 * The bytes of a value that is not finished yet, kept across the chunks it came in.
 *
 * A value past 256 KiB moves to one block that can hold the largest value: far above
 * glibc's mmap threshold, so it is mapped on its own, only the pages written count
 * towards RSS, and it goes back to the system whole when dropped. Many 64 KiB copies
 * would stay in the heap, fragmented, long after their client went.
 */
export class HeldValue {
  /** Copies of earlier chunks, while the value is small. */
  #parts: Buffer[] = [];
  #partsBytes = 0;
  /** Once it is large: one block, filled as chunks come. */
  #block: Buffer | undefined;
  #blockUsed = 0;

  constructor(private readonly maxValueBytes: number) {}

  /** Bytes held. */
  get bytes(): number {
    return this.#partsBytes + this.#blockUsed;
  }

  /** True when part of the value is held (it began in an earlier chunk). */
  get holding(): boolean {
    return this.#partsBytes > 0 || this.#block !== undefined;
  }

  /** Keeps a copy of `piece`: the caller may reuse its buffer. */
  hold(piece: Buffer): void {
    if (this.#block) {
      this.#blockUsed += piece.copy(this.#block, this.#blockUsed);
      return;
    }
    this.#parts.push(Buffer.from(piece));
    this.#partsBytes += piece.length;
    if (this.#partsBytes < BLOCK_FROM_BYTES || this.maxValueBytes <= BLOCK_FROM_BYTES) return;
    let block: Buffer;
    try {
      block = Buffer.allocUnsafeSlow(this.maxValueBytes + 1);
    } catch {
      // No address space for it (a strict overcommit policy): keep the copies instead.
      return;
    }
    let used = 0;
    for (const part of this.#parts) used += part.copy(block, used);
    this.#parts = [];
    this.#partsBytes = 0;
    this.#block = block;
    this.#blockUsed = used;
  }

  /** The whole value once `last`, its final piece, has come. Valid until the next `drop`. */
  completed(last: Buffer): Buffer {
    if (this.#block) {
      const end = this.#blockUsed + last.copy(this.#block, this.#blockUsed);
      return this.#block.subarray(0, end);
    }
    return this.#partsBytes === 0 ? last : Buffer.concat([...this.#parts, last]);
  }

  drop(): void {
    this.#parts = [];
    this.#partsBytes = 0;
    this.#block = undefined;
    this.#blockUsed = 0;
  }
}
