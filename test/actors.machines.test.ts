import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { connectionMachine } from '../actors/connectionMachine.ts';
import { executionMachine, type ExecutionInput } from '../actors/executionMachine.ts';
import { stepMessage, type MessageRecordState } from '../actors/messageMachine.ts';
import { subjectMachine } from '../actors/subjectMachine.ts';
import { subscriberMachine } from '../actors/subscriberMachine.ts';
import { fromPromise } from 'xstate';

describe('message machine', () => {
  const sent = (attempts: number, retries: number): MessageRecordState => ({ state: 'awaitingAck', attempts, retries });

  it('counts a send as an attempt and waits for the ACK', () => {
    expect(stepMessage({ state: 'sending', attempts: 0, retries: 2 }, { type: 'SENT' })).toEqual(sent(1, 2));
  });

  it('retries while attempts do not exceed the retries given, then goes dead', () => {
    expect(stepMessage(sent(1, 2), { type: 'ACK_TIMEOUT' }).state).toBe('retryWait');
    expect(stepMessage(sent(2, 2), { type: 'ACK_TIMEOUT' }).state).toBe('retryWait');
    expect(stepMessage(sent(3, 2), { type: 'ACK_TIMEOUT' }).state).toBe('dead');
    expect(stepMessage(sent(1, 0), { type: 'ACK_TIMEOUT' }).state).toBe('dead');
  });

  it('retries forever with retries -1', () => {
    expect(stepMessage(sent(10_000, -1), { type: 'ACK_TIMEOUT' }).state).toBe('retryWait');
  });

  it('resends after the retry wait, and an ACK ends it from any live state', () => {
    expect(stepMessage({ state: 'retryWait', attempts: 1, retries: 3 }, { type: 'RETRY_DUE' }).state).toBe('sending');
    expect(stepMessage(sent(1, 3), { type: 'ACKED' }).state).toBe('acked');
    expect(stepMessage({ state: 'retryWait', attempts: 1, retries: 3 }, { type: 'ACKED' }).state).toBe('acked');
  });

  it('ignores events a state does not take', () => {
    expect(stepMessage({ state: 'acked', attempts: 1, retries: 3 }, { type: 'ACK_TIMEOUT' }).state).toBe('acked');
    expect(stepMessage({ state: 'dead', attempts: 4, retries: 3 }, { type: 'RETRY_DUE' }).state).toBe('dead');
  });
});

describe('subject machine', () => {
  function subject(state: { empty: boolean; waiting: boolean }, log: string[]) {
    return createActor(
      subjectMachine.provide({
        actions: {
          pump: () => log.push('pump'),
          expire: () => log.push('expire'),
          armRetry: () => log.push('armRetry'),
          cancelRetry: () => log.push('cancelRetry'),
          resend: () => log.push('resend'),
        },
        guards: { windowEmpty: () => state.empty, anyWaiting: () => state.waiting },
      }),
    ).start();
  }

  it('flows while the window holds messages and idles when it empties', () => {
    const log: string[] = [];
    const state = { empty: false, waiting: false };
    const a = subject(state, log);
    a.send({ type: 'ENQUEUED' });
    expect(a.getSnapshot().value).toBe('flowing');
    state.empty = true;
    a.send({ type: 'ACKED' });
    expect(a.getSnapshot().value).toBe('idle');
    expect(log).toEqual(['pump', 'pump']);
  });

  it('waits out the retry wait after a timeout, then resends', () => {
    const log: string[] = [];
    const state = { empty: false, waiting: false };
    const a = subject(state, log);
    a.send({ type: 'ENQUEUED' });
    state.waiting = true;
    a.send({ type: 'ACK_TIMEOUT' });
    expect(a.getSnapshot().value).toBe('retryWait');
    state.waiting = false;
    a.send({ type: 'RETRY_DUE' });
    expect(a.getSnapshot().value).toBe('flowing');
    expect(log).toEqual(['pump', 'expire', 'armRetry', 'cancelRetry', 'resend']);
  });

  it('cuts the retry wait short when the connection or the receiver comes back', () => {
    const log: string[] = [];
    const state = { empty: false, waiting: true };
    const a = subject(state, log);
    a.send({ type: 'ENQUEUED' });
    expect(a.getSnapshot().value).toBe('retryWait');
    state.waiting = false;
    a.send({ type: 'RESUME' });
    expect(a.getSnapshot().value).toBe('flowing');
    expect(log.slice(-2)).toEqual(['cancelRetry', 'resend']);
  });
});

describe('subscriber machine', () => {
  const start = (concurrency: number, starts: number[]) =>
    createActor(subscriberMachine.provide({ actions: { startLanes: () => starts.push(1) } }), { input: { concurrency } }).start();

  it('goes busy on work, idle when its last lane ends with nothing queued, and stops after a drain', () => {
    const starts: number[] = [];
    const a = start(2, starts);
    a.send({ type: 'WORK' });
    expect(a.getSnapshot().value).toBe('busy');
    a.send({ type: 'LANE_STARTED' });
    a.send({ type: 'LANE_ENDED', queued: 0 });
    expect(a.getSnapshot().value).toBe('idle');
    a.send({ type: 'WORK' });
    a.send({ type: 'LANE_STARTED' });
    a.send({ type: 'DRAIN' });
    expect(a.getSnapshot().value).toBe('draining');
    a.send({ type: 'WORK' });
    expect(starts).toHaveLength(2);
    a.send({ type: 'LANE_ENDED', queued: 5 });
    expect(a.getSnapshot().status).toBe('done');
  });

  it('starts no lane beyond its concurrency, nor while paused', () => {
    const a = start(1, []);
    a.send({ type: 'WORK' });
    expect(a.getSnapshot().can({ type: 'LANE_STARTED' })).toBe(true);
    a.send({ type: 'LANE_STARTED' });
    expect(a.getSnapshot().can({ type: 'LANE_STARTED' })).toBe(false);
    a.send({ type: 'LANE_ENDED', queued: 3 });
    expect(a.getSnapshot().value).toBe('busy');
    a.send({ type: 'PAUSE' });
    expect(a.getSnapshot().can({ type: 'LANE_STARTED' })).toBe(false);
    a.send({ type: 'RESUME' });
    expect(a.getSnapshot().context.paused).toBe(false);
    expect(a.getSnapshot().can({ type: 'LANE_STARTED' })).toBe(true);
  });
});

describe('execution machine', () => {
  it('ends succeeded with the handler output', async () => {
    const a = createActor(executionMachine.provide({ actors: { handler: fromPromise<{ output?: string }, ExecutionInput>(async () => ({ output: 'hi' })) } }), { input: { method: 'M' } }).start();
    await new Promise((r) => setTimeout(r, 0));
    expect(a.getSnapshot().value).toBe('succeeded');
    expect(a.getSnapshot().context.output).toBe('hi');
  });

  it('ends failed with the handler error', async () => {
    const a = createActor(executionMachine.provide({ actors: { handler: fromPromise<{ output?: string }, ExecutionInput>(async () => { throw new Error('boom'); }) } }), { input: { method: 'M' } }).start();
    await new Promise((r) => setTimeout(r, 0));
    expect(a.getSnapshot().value).toBe('failed');
    expect((a.getSnapshot().context.error as Error).message).toBe('boom');
  });

  it('times out and aborts the running handler', async () => {
    let aborted = false;
    const handler = fromPromise<{ output?: string }, ExecutionInput>(({ signal }) => new Promise<{ output?: string }>((resolve) => signal.addEventListener('abort', () => { aborted = true; resolve({}); })));
    const a = createActor(executionMachine.provide({ actors: { handler } }), { input: { method: 'M', timeoutMs: 10 } }).start();
    a.send({ type: 'TIMEOUT' });
    expect(a.getSnapshot().value).toBe('timedOut');
    expect(aborted).toBe(true);
  });
});

describe('connection machine', () => {
  it('tracks connects, drops and reconnects', () => {
    const seen: string[] = [];
    const a = createActor(connectionMachine.provide({ actions: { connected: () => seen.push('connected') } })).start();
    a.send({ type: 'CONNECTED' });
    a.send({ type: 'DISCONNECTED' });
    expect(a.getSnapshot().value).toBe('reconnecting');
    a.send({ type: 'CONNECTED' });
    expect(a.getSnapshot().context).toEqual({ reconnects: 1, disconnects: 1 });
    expect(seen).toEqual(['connected', 'connected']);
    a.send({ type: 'CLOSE' });
    expect(a.getSnapshot().status).toBe('done');
  });
});
