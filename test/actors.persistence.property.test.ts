/**
 * What is persisted of a machine is its state: for random event sequences, persisting a
 * machine's state and restoring it with the machine's one restore function gives the same
 * state and the same next transitions. The message machine's state is persisted (outbox
 * rows and the stream's retry timer; see `restoreMessage`). A stream receiver persists its
 * position (inbox, high-water mark, dedup rows), restored by `SubjectReceiver.open`; its
 * batch state is not kept (a write in flight does not outlive its process), so a restored
 * receiver starts idle, and must decide every next frame as the original would.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyMessageEvent,
  INITIAL_MESSAGE_STATE,
  persistMessage,
  restoreMessage,
  stepMessage,
  type MessageEvent,
  type MessageRecordState,
} from '../actors/messageMachine.ts';
import { SubjectReceiver } from '../src/delivery/SubjectReceiver.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { testMessage } from './support/methods.ts';

const EVENTS: MessageEvent[] = [
  { type: 'SENT' },
  { type: 'ACKED' },
  { type: 'ACK_TIMEOUT' },
  { type: 'RETRY_DUE' },
  { type: 'HOLD' },
  { type: 'TOO_LARGE' },
  { type: 'WITHDRAWN' },
];
const FINAL = new Set(['acked', 'dead', 'withdrawn']);

const event = fc.constantFrom(...EVENTS);
const retries = fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 6 }));

/** Every state a message reaches on the way through `events`, the initial one included. */
function statesAlong(retriesAllowed: number, events: MessageEvent[]): MessageRecordState[] {
  const record: MessageRecordState = { state: INITIAL_MESSAGE_STATE, attempts: 0, retries: retriesAllowed };
  const states = [{ ...record }];
  for (const e of events) states.push({ ...applyMessageEvent(record, e) });
  return states;
}

/** Where each event leads from `record`, event by event, and again from there. */
function nextTransitions(record: MessageRecordState): unknown[] {
  return EVENTS.map((e) => {
    const next = stepMessage(record, e);
    return [next, EVENTS.map((f) => stepMessage(next, f))];
  });
}

describe('the message machine, persisted and restored', () => {
  it('restores every unsettled state with the same state and the same next transitions (1,000 sequences)', () => {
    let checked = 0;
    fc.assert(
      fc.property(retries, fc.array(event, { maxLength: 30 }), (allowed, events) => {
        for (const original of statesAlong(allowed, events)) {
          // A settled message (acked, dead, withdrawn) leaves the outbox: nothing is restored.
          if (FINAL.has(original.state)) continue;
          const restored = restoreMessage(persistMessage(original));
          if (original.state === 'awaitingAck') {
            // Whether the ACK of a message in flight was lost with the process is not
            // known: it restores as not yet sent, and the restart's resend brings it to
            // where the original goes on the same resend.
            expect(restored.state).toBe('sending');
            const resent = stepMessage(restored, { type: 'SENT' });
            expect(resent).toEqual(stepMessage(original, { type: 'SENT' }));
            expect(nextTransitions(resent)).toEqual(nextTransitions(stepMessage(original, { type: 'SENT' })));
          } else {
            expect(restored).toEqual(original);
            expect(nextTransitions(restored)).toEqual(nextTransitions(original));
          }
          checked++;
        }
      }),
      { numRuns: 1000 },
    );
    expect(checked).toBeGreaterThan(1000);
  });

  it('never gives a restored message fresh retries: it goes dead after the same timeouts as the original', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 6 }), fc.array(event, { maxLength: 30 }), (allowed, events) => {
        const states = statesAlong(allowed, events).filter((s) => !FINAL.has(s.state));
        for (const original of states) {
          const timeoutsUntilDead = (start: MessageRecordState): number => {
            let record = start;
            for (let n = 0; n < 20; n++) {
              if (record.state !== 'awaitingAck') record = stepMessage(stepMessage(record, { type: 'RETRY_DUE' }), { type: 'SENT' });
              record = stepMessage(record, { type: 'ACK_TIMEOUT' });
              if (record.state === 'dead') return n;
            }
            return Infinity;
          };
          const restored = restoreMessage(persistMessage(original));
          const fromOriginal = original.state === 'awaitingAck' ? stepMessage(original, { type: 'SENT' }) : original;
          const fromRestored = original.state === 'awaitingAck' ? stepMessage(restored, { type: 'SENT' }) : restored;
          expect(timeoutsUntilDead(fromRestored)).toBe(timeoutsUntilDead(fromOriginal));
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('a stream receiver, persisted and restored', () => {
  /** Lets every write the receiver issued settle. */
  async function settled(receiver: SubjectReceiver): Promise<void> {
    for (let i = 0; i < 1000 && !receiver.idle; i++) await new Promise((r) => setImmediate(r));
    expect(receiver.idle).toBe(true);
  }

  /** Whether each probe is answered at once as a duplicate (an ACK of what is durable), probed in ascending order. */
  function decisions(receiver: SubjectReceiver, acks: string[], probes: number[]): boolean[] {
    return probes.map((seq) => {
      const before = acks.length;
      receiver.onFrame(seq, testMessage({ id: `probe-${seq}` }), 'inc-1');
      return acks.length > before;
    });
  }

  for (const stream of ['central~ship1~REQTest', 'central~ship1~REQnTest']) {
    it(`reopens ${stream.endsWith('REQnTest') ? 'an unordered' : 'an ordered'} stream from the store and decides every next frame as the original does (1,000 sequences)`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.record({ seq: fc.integer({ min: 1, max: 25 }), skip: fc.boolean() }), { maxLength: 40 }), async (frames) => {
          const store = new MemoryStore();
          await store.open();
          const acks: string[] = [];
          const deps = {
            store,
            windowSize: 8,
            ack: (_stream: string, ack: { upTo?: number; seqs?: number[] }) => acks.push(JSON.stringify(ack)),
            received: () => {},
            onError: (e: unknown) => {
              throw e;
            },
          };
          const original = await SubjectReceiver.open(stream, deps);
          for (const { seq, skip } of frames) original.onFrame(seq, skip ? undefined : testMessage({ id: `m-${seq}` }), 'inc-1');
          await settled(original);
          const restored = await SubjectReceiver.open(stream, deps);
          expect(restored.info.receivedUpTo).toEqual(original.info.receivedUpTo);
          const probes = Array.from({ length: 28 }, (_, i) => i + 1);
          // Both decide in the same tick, from what each holds: the original its memory, the
          // restored one what the store gave back.
          const fromOriginal = decisions(original, acks, probes);
          const fromRestored = decisions(restored, acks, probes);
          expect(fromRestored).toEqual(fromOriginal);
          await settled(original);
          await settled(restored);
        }),
        { numRuns: 1000 },
      );
    }, 120_000);
  }
});
