/**
 * The embedded bus's frames in flight, FIFO, kept as parallel arrays so that queueing a
 * frame allocates nothing. Readers take frames from `head` up.
 * @internal
 */
export class FrameQueue {
  readonly from: string[] = [];
  readonly to: string[] = [];
  readonly subject: string[] = [];
  readonly payload: Uint8Array[] = [];
  head = 0;

  /** Frames not yet taken. */
  get size(): number {
    return this.subject.length - this.head;
  }

  /** One past the last frame. */
  get end(): number {
    return this.subject.length;
  }

  push(from: string, to: string, subject: string, payload: Uint8Array): void {
    this.from.push(from);
    this.to.push(to);
    this.subject.push(subject);
    this.payload.push(payload);
  }

  /** Queues a frame ahead of the last one not yet taken, so it overtakes it. */
  pushBeforeLast(from: string, to: string, subject: string, payload: Uint8Array): void {
    const last = this.subject.length - 1;
    this.push(this.from[last]!, this.to[last]!, this.subject[last]!, this.payload[last]!);
    this.from[last] = from;
    this.to[last] = to;
    this.subject[last] = subject;
    this.payload[last] = payload;
  }

  /** Forgets the frames already taken, releasing their payloads. */
  compact(): void {
    if (this.head === 0) return;
    if (this.head === this.subject.length) {
      this.clear();
      return;
    }
    for (const column of [this.from, this.to, this.subject, this.payload] as unknown[][]) column.splice(0, this.head);
    this.head = 0;
  }

  clear(): void {
    this.from.length = 0;
    this.to.length = 0;
    this.subject.length = 0;
    this.payload.length = 0;
    this.head = 0;
  }
}
