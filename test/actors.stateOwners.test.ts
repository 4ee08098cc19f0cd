/**
 * The machines that own delivery state: every way a message in flight leaves the window
 * (ACKed, dead-lettered, too large, withdrawn) and a skip marker's wait are transitions of
 * the message machine; a stream receiver's batch state is the receiver machine's.
 */
import { describe, expect, it } from 'vitest';
import { applyMessageEvent, INITIAL_MESSAGE_STATE, retriesAfterTimeout, type MessageRecordState } from '../actors/messageMachine.ts';
import { INITIAL_RECEIVER_STATE, stepReceiver } from '../actors/receiverMachine.ts';

const fresh = (retries: number): MessageRecordState => ({ state: INITIAL_MESSAGE_STATE, attempts: 0, retries });

describe('the message machine owns every way out of the window', () => {
  it('ACKs a message from any unsettled state, a skip marker not yet sent included', () => {
    expect(applyMessageEvent(fresh(2), { type: 'ACKED' }).state).toBe('acked');
    expect(applyMessageEvent(applyMessageEvent(fresh(2), { type: 'SENT' }), { type: 'ACKED' }).state).toBe('acked');
    expect(applyMessageEvent(applyMessageEvent(fresh(-1), { type: 'HOLD' }), { type: 'ACKED' }).state).toBe('acked');
  });

  it('holds a skip marker for the next resend, and sends it when the retry is due', () => {
    const skip = applyMessageEvent(fresh(-1), { type: 'HOLD' });
    expect(skip.state).toBe('retryWait');
    expect(applyMessageEvent(skip, { type: 'RETRY_DUE' }).state).toBe('sending');
  });

  it('dead-letters a message too large for the transport, whether sent before or not', () => {
    expect(applyMessageEvent(fresh(3), { type: 'TOO_LARGE' }).state).toBe('dead');
    expect(applyMessageEvent(applyMessageEvent(fresh(3), { type: 'SENT' }), { type: 'TOO_LARGE' }).state).toBe('dead');
  });

  it('withdraws a queued message, and nothing moves it after that', () => {
    const withdrawn = applyMessageEvent(applyMessageEvent(fresh(3), { type: 'SENT' }), { type: 'WITHDRAWN' });
    expect(withdrawn.state).toBe('withdrawn');
    expect(applyMessageEvent({ ...withdrawn }, { type: 'RETRY_DUE' }).state).toBe('withdrawn');
  });

  it('answers whether a timeout brings another try with its own guard', () => {
    const once = applyMessageEvent(fresh(1), { type: 'SENT' });
    expect(retriesAfterTimeout(once)).toBe(true);
    const twice = applyMessageEvent(applyMessageEvent(applyMessageEvent({ ...once }, { type: 'ACK_TIMEOUT' }), { type: 'RETRY_DUE' }), { type: 'SENT' });
    expect(twice.attempts).toBe(2);
    expect(retriesAfterTimeout(twice)).toBe(false);
    expect(retriesAfterTimeout(fresh(1))).toBe(false);
  });
});

describe('the receiver machine', () => {
  it('writes one batch at a time: idle, writing, and idle again whether the batch committed or failed', () => {
    expect(INITIAL_RECEIVER_STATE).toBe('idle');
    expect(stepReceiver('idle', { type: 'WRITE' })).toBe('writing');
    expect(stepReceiver('writing', { type: 'WRITE' })).toBe('writing');
    expect(stepReceiver('writing', { type: 'COMMITTED' })).toBe('idle');
    expect(stepReceiver('writing', { type: 'FAILED' })).toBe('idle');
  });
});

describe("a transport's status", () => {
  it('is its connection machine state: down before first up, reconnects counted, closed for good', async () => {
    const { StatusCell } = await import('../src/transport/StatusCell.ts');
    const cell = new StatusCell('connecting');
    const heard: string[] = [];
    cell.listen((s) => heard.push(s));
    cell.set('disconnected');
    cell.set('connected');
    cell.set('connected');
    cell.set('disconnected');
    cell.set('connecting');
    cell.set('connected');
    cell.set('closed');
    cell.set('connected');
    expect(heard).toEqual(['disconnected', 'connected', 'disconnected', 'connected', 'closed']);
    expect(cell.value).toBe('closed');
    expect(cell.counts).toEqual({ reconnects: 2, disconnects: 1 });
  });
});
