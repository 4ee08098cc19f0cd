import { pino } from 'pino';
import type { Message } from '../message.ts';
import type { MethodContext } from './types.ts';

/**
 * @internal A request as normalisation would leave it, for tests that call handlers
 * directly; `fields` override the defaults.
 */
export function testMessage(fields: Partial<Message> = {}): Message {
  return {
    id: 'test-message',
    fromNode: 'central',
    toNode: 'node1',
    method: 'REQCliCommand',
    methodArgs: [],
    replyMethod: 'REQToFileAppend',
    replyMethodArgs: [],
    ACKTimeout: 5,
    retries: -1,
    retryWait: 1,
    methodTimeout: 10,
    acceptedAt: Date.UTC(2025, 0, 2, 3, 4, 5),
    ...fields,
  };
}

/** @internal A context for calling a handler outside the runtime, logging nothing. */
export function testContext(fields: Partial<MethodContext> & { filesDir: string }): MethodContext {
  return {
    node: 'node1',
    central: 'central',
    message: testMessage(),
    signal: new AbortController().signal,
    log: pino({ level: 'silent' }),
    emit: async () => {},
    send: async () => [],
    ...fields,
  };
}
