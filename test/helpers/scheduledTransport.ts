import type { Scheduler } from 'fast-check';
import { decodeFrame } from '../../src/delivery/frames.ts';
import type { Transport } from '../../src/transport/types.ts';
import { publishingThrough } from './publishingThrough.ts';

/** Who decides the order of frames: the scheduler it has now (if any), and where the count goes. */
export interface FrameScheduling {
  readonly scheduler: Scheduler | undefined;
  readonly stats: { scheduledFrames: number };
}

/**
 * A transport whose every publish is a task of the harness's fast-check scheduler (while
 * it has one): the scheduler, not the bus, decides which frame goes out next.
 */
export function scheduledTransport(inner: Transport, scheduling: FrameScheduling): Transport {
  return publishingThrough(inner, (subject, payload) => {
    const s = scheduling.scheduler;
    if (!s) return inner.publish(subject, payload);
    scheduling.stats.scheduledFrames++;
    void s.schedule(Promise.resolve(), frameLabel(subject, payload)).then(() => inner.publish(subject, payload));
  });
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