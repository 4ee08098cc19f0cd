import type { Scheduler } from 'fast-check';
import { decodeFrame } from '../../src/delivery/frames.ts';
import type { FrameHandler, Transport, TransportStatus } from '../../src/transport/types.ts';

/** Who decides the order of frames: the scheduler it has now (if any), and where the count goes. */
export interface FrameScheduling {
  readonly scheduler: Scheduler | undefined;
  readonly stats: { scheduledFrames: number };
}

/**
 * A transport whose every publish is a task of the harness's fast-check scheduler (while
 * it has one): the scheduler, not the bus, decides which frame goes out next.
 */
export class ScheduledTransport implements Transport {
  readonly kind = 'embedded' as const;

  constructor(
    private readonly inner: Transport,
    private readonly harness: FrameScheduling,
  ) {}

  get status(): TransportStatus {
    return this.inner.status;
  }

  start(node: string, onFrame: FrameHandler): Promise<void> {
    return this.inner.start(node, onFrame);
  }

  publish(subject: string, payload: Uint8Array): void {
    const s = this.harness.scheduler;
    if (!s) return this.inner.publish(subject, payload);
    this.harness.stats.scheduledFrames++;
    void s.schedule(Promise.resolve(), frameLabel(subject, payload)).then(() => this.inner.publish(subject, payload));
  }

  onStatus(listener: (status: TransportStatus) => void): () => void {
    return this.inner.onStatus(listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

function frameLabel(subject: string, payload: Uint8Array): string {
  const f = decodeFrame(payload);
  if (!f) return subject;
  switch (f.type) {
    case 'data':
      return `${f.stream} data#${f.seq} ${f.message.id}`;
    case 'skip':
      return `${f.stream} skip#${f.seq}`;
    case 'ack':
      return `${f.stream} ack ${f.upTo !== undefined ? `upTo ${f.upTo}` : `[${f.seqs?.join(',')}]`}`;
    case 'resume':
      return `${f.stream} resume`;
  }
}