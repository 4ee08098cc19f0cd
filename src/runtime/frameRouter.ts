import type { Logger } from 'pino';
import { decodeFrame, parseStreamId, publisherOf } from '../delivery/frames.ts';
import type { FrameAuth } from './FrameAuth.ts';
import type { Inbound } from './Inbound.ts';
import type { NodeCounters } from './nodeTypes.ts';
import type { Outbound } from './Outbound.ts';

export interface FrameRouterDeps {
  node: string;
  log: Logger;
  frames: FrameAuth;
  inbound: Pick<Inbound, 'onData'>;
  outbound: Pick<Outbound, 'senders'>;
  counters: NodeCounters;
}

/**
 * Where a frame from the transport goes: data and skip markers to the stream's receiver
 * (inbound), ACKs and resumes to the stream's sender (outbound). A frame that is not a
 * bosun frame, or whose subject does not name the stream's other node, is dropped and
 * counted.
 */
export function frameRouter(deps: FrameRouterDeps): (subject: string, payload: Uint8Array) => void {
  const { node, log, frames, inbound, outbound, counters } = deps;
  return (subject, payload) => {
    const frame = decodeFrame(payload);
    if (!frame) {
      counters.badFrames++;
      log.warn({ subject, bytes: payload.length }, 'dropped a frame that is not a bosun frame');
      return;
    }
    const ids = parseStreamId(frame.stream)!;
    // Data comes from the stream's sender, ACKs and resumes from its receiver: a frame
    // whose subject names anyone else is not the stream's (see `dataSubject`).
    const publisher = frame.type === 'data' || frame.type === 'skip' ? ids.fromNode : ids.toNode;
    if (publisherOf(subject) !== publisher) {
      counters.badFrames++;
      log.warn({ subject, stream: frame.stream, type: frame.type }, "dropped a frame whose subject does not name its stream's other node");
      return;
    }
    switch (frame.type) {
      case 'data':
      case 'skip':
        if (ids.toNode !== node || !frames.admits(frame, ids)) return;
        inbound.onData(frame.stream, frame.seq, frame.type === 'data' ? frame.message : undefined, frame.inc, (verdict) => frames.untaken(frame, ids, verdict));
        return;
      case 'ack':
      case 'resume': {
        if (ids.fromNode !== node) return;
        const sender = outbound.senders.get(frame.stream);
        if (!sender || !frames.admits(frame, ids)) return;
        if (frame.type === 'ack') sender.onAck(frame);
        else sender.nudge('RESUME');
      }
    }
  };
}
