import { pino } from 'pino';
import type { Message } from '../../src/message.ts';
import type { MethodContext } from '../../src/methods/types.ts';

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
    registry: memoryRegistry(),
    send: async () => [],
    ...fields,
  };
}

/** @internal A registry kept in a Map, for handler tests. */
export function memoryRegistry(): MethodContext['registry'] {
  const data = new Map<string, unknown>();
  return {
    get: async <T>(key: string) => data.get(key) as T | undefined,
    put: async (key, value) => void data.set(key, value),
    del: async (key) => void data.delete(key),
    list: async <T>(prefix: string) =>
      [...data].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1)) as Array<[string, T]>,
  };
}
