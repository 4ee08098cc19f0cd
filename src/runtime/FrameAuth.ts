import type { Clock } from '../clock.ts';
import { BosunError, describeError } from '../errors.ts';
import type { DataFrame, Frame, SignedFrame, SkipFrame, StreamId } from '../delivery/frames.ts';
import type { FrameVerdict } from '../delivery/SubjectReceiver.ts';
import type { MessageGuard } from './MessageGuard.ts';
import { ReportThrottle } from '../../supervisors/ReportThrottle.ts';

/**
 * Frame authentication on a node with a guard: frames from the wire are judged before
 * they change any delivery state — a data frame before its receiver takes its sequence
 * number (a forged one would make the genuine frame with that number a duplicate), an ACK
 * before its sender drops what it covers. Frames this node sends without a message in
 * them (skips, ACKs, resumes) are signed. Without a guard every frame passes as it is.
 *
 * A refused frame is dropped, neither stored nor ACKed, and counted. Reports go to the
 * error kernel at most once a second per stream (the next one says how many were dropped
 * meanwhile), and at most ten a second in all: someone flooding the broker with forged
 * frames must not make this node flood central's error log in turn, nor hide one
 * stream's refusals behind another's.
 */
/** Where reports of every sender without a trusted key come from, whatever name it gives. */
const UNKNOWN_SENDERS = 'unknown-senders';
/** How long refusals of unknown senders are counted before their summary is reported. */
const UNKNOWN_SUMMARY_MS = 1000;

export class FrameAuth {
  #refused = 0;
  readonly #throttle = new ReportThrottle();
  /** Refusals of senders without a trusted key held back since the last report, and a few of their names. */
  #unknownHeld = { count: 0, names: new Set<string>() };
  #unknownTimer: { cancel(): void } | undefined;

  constructor(
    private readonly guard: MessageGuard | undefined,
    private readonly clock: Clock,
    private readonly report: (source: string, code: string, message: string) => void,
  ) {}

  /** Frames dropped so far. */
  get refused(): number {
    return this.#refused;
  }

  /** The frame, signed when this node has a guard that signs frames. */
  seal<F extends SignedFrame>(frame: F): F {
    return this.guard?.sealFrame ? this.guard.sealFrame(frame) : frame;
  }

  /** True when the frame may go on to its receiver or sender; false when it was dropped. */
  admits(frame: Frame, ids: StreamId): boolean {
    const guard = this.guard;
    if (!guard) return true;
    // Data and skips come from the stream's sender, ACKs and resumes from its receiver.
    const from = frame.type === 'data' || frame.type === 'skip' ? ids.fromNode : ids.toNode;
    const error = frame.type === 'data' ? this.#screen(guard, frame, from) : guard.checkFrame?.(frame, from);
    if (!error) return true;
    this.#refused++;
    this.#reportSoon(frame, from, error);
    return false;
  }

  /**
   * A data or skip frame its receiver did not take: one of an older incarnation of its
   * stream (a replay), or more than the window ahead. Counted and reported like a refusal.
   */
  untaken(frame: DataFrame | SkipFrame, ids: StreamId, verdict: FrameVerdict): void {
    if (verdict === 'busy') return; // a newer incarnation, taken once the receiver's write is done: the sender resends
    this.#refused++;
    const why = verdict === 'olderIncarnation' ? `it names incarnation ${frame.inc}, older than the one the stream follows` : 'it is more than the window ahead of what the stream holds';
    this.#reportSoon(frame, ids.fromNode, new BosunError('BOSUN_REPLAYED', why));
  }

  /** The message's own signature first, then the delivery's: its stream, incarnation and number. */
  #screen(guard: MessageGuard, frame: DataFrame, from: string): Error | undefined {
    return guard.screen?.(frame.message, frame.stream) ?? guard.checkDelivery?.(frame, from);
  }

  #reportSoon(frame: Frame, from: string, error: Error): void {
    const { code, message } = describeError(error);
    // Made-up sender names are free: their refusals share one report a second, and what
    // was held back is told once the second is over, even if nothing follows.
    if (code === 'BOSUN_UNKNOWN_KEY' && this.#holdUnknown(from)) return;
    const admitted = this.#throttle.admit(frame.stream, this.clock.now());
    if (!admitted) return;
    const more = admitted.held > 0 ? ` (${admitted.held} more dropped since the last report)` : '';
    const inbound = frame.type === 'data' || frame.type === 'skip';
    const what = inbound ? `${frame.type} frame ${frame.seq}` : `${frame.type} frame`;
    const consequence = inbound ? 'neither stored nor ACKed' : 'ignored';
    this.report(
      `${inbound ? 'inbound' : 'outbound'}/${frame.stream}`,
      code,
      `dropped ${what} of stream ${frame.stream}, said to be from ${from}, ${consequence}: ${message}${more}`,
    );
  }

  /**
   * True when a refusal of a sender without a trusted key is only counted: the first one
   * is reported at once; those in the next second are counted, and told in one report when
   * it is over (and so on, a report a second, while they come).
   */
  #holdUnknown(from: string): boolean {
    if (this.#unknownTimer === undefined) {
      this.#armUnknownSummary();
      return false;
    }
    this.#unknownHeld.count++;
    if (this.#unknownHeld.names.size < 5) this.#unknownHeld.names.add(from);
    return true;
  }

  #armUnknownSummary(): void {
    this.#unknownTimer = this.clock.setTimer(UNKNOWN_SUMMARY_MS, () => {
      const { count, names } = this.#unknownHeld;
      this.#unknownHeld = { count: 0, names: new Set() };
      if (count === 0) {
        this.#unknownTimer = undefined;
        return;
      }
      this.#armUnknownSummary();
      this.report(
        `inbound/${UNKNOWN_SENDERS}`,
        'BOSUN_UNKNOWN_KEY',
        `dropped ${count} more frames from nodes without a trusted key (${[...names].join(', ')}${count > names.size ? ', …' : ''}), neither stored nor ACKed`,
      );
    });
  }
}
