import type { Scheduler } from 'fast-check';
import type { FrameAttacker } from './frameAttacker.ts';

// The vocabulary of the fault-injection harness (`harness.ts`): where a node may crash,
// which streams the model knows, what the harness is told and what it counts.

/** Where an armed crash strikes. */
export type CrashPoint =
  /** Sender: the outbox write of the next test message is issued but not committed. */
  | 'beforePersist'
  /** Sender: the outbox write of the next test message committed, nothing sent yet. */
  | 'afterPersist'
  /** Receiver: the next inbox write committed, its ACK not yet sent. */
  | 'afterReceiveBeforeAck'
  /** Receiver: the `started` record of the next run committed, the handler not yet run. */
  | 'afterStartRecord'
  /** Receiver: the next handler ran (its effect is recorded), its outcome not yet recorded. */
  | 'afterApply'
  /** Receiver: the next run's outcome (and its reply, if any) committed, nothing after that. */
  | 'afterFinish'
  /**
   * Receiver: inside a batch of the ordered method, after its first message's effect.
   * Armed as `afterApply` (two in three `afterApply` crashes that reach a batch of several strike here),
   * so that the command arbitraries, and the counterexamples found with them, stay as
   * they were.
   */
  | 'midBatch';

export const SENDER_CRASH_POINTS = ['beforePersist', 'afterPersist'] as const satisfies readonly CrashPoint[];
export const RECEIVER_CRASH_POINTS = ['afterReceiveBeforeAck', 'afterStartRecord', 'afterApply', 'afterFinish'] as const satisfies readonly CrashPoint[];

export type StreamKind = 'ordered' | 'unordered';

export const METHOD_OF: Record<StreamKind, string> = { ordered: 'REQTestRecord', unordered: 'REQnTestRecord' };

/** Where replies go: every node serves it and records, per request id, the replies it got. */
export const REPLY_METHOD = 'REQnTestReply';

export interface HarnessOptions {
  nodes?: readonly string[];
  /** Seed of the bus's fault PRNG. */
  seed?: number;
  /** Frames in flight per stream; small, so that refills from the outbox are exercised. */
  windowSize?: number;
  /** ACKTimeout and retryWait (seconds) of the test messages. */
  ackTimeoutSeconds?: number;
  retryWaitSeconds?: number;
  /**
   * When set, every frame a node publishes is a task of this fast-check scheduler, so the
   * scheduler decides the order in which data, ACK and resume frames reach the bus.
   */
  scheduler?: Scheduler;
  /**
   * Someone on the bus who captures and replays frames; the nodes then sign their frames
   * (`signedFrameGuard`), as secure nodes do.
   */
  attacker?: FrameAttacker;
}

export interface SendResult {
  id: string;
  stream: string;
  /** `accepted`: durably in the outbox; `refused`: the accept answered with an error. */
  outcome: 'accepted' | 'refused';
  error?: { code: string; message: string };
}

/** Counts of what the harness did, for the totals a test prints. */
export interface HarnessStats {
  crashes: number;
  powerLosses: number;
  crashPointsHit: Record<CrashPoint, number>;
  busFaults: number;
  partitions: number;
  isolations: number;
  busRestarts: number;
  busPauses: number;
  gracefulRestarts: number;
  storeFaults: number;
  /** Frames that went through the fast-check scheduler. */
  scheduledFrames: number;
  advancedMs: number;
}

/** Counts all at zero, for a new harness. */
export function emptyHarnessStats(): HarnessStats {
  return {
    crashes: 0,
    powerLosses: 0,
    crashPointsHit: { beforePersist: 0, afterPersist: 0, afterReceiveBeforeAck: 0, afterStartRecord: 0, afterApply: 0, afterFinish: 0, midBatch: 0 },
    busFaults: 0,
    partitions: 0,
    isolations: 0,
    busRestarts: 0,
    busPauses: 0,
    gracefulRestarts: 0,
    storeFaults: 0,
    scheduledFrames: 0,
    advancedMs: 0,
  };
}
