import fc from 'fast-check';

// What the fuzz test of the message inputs (test/reliability.fuzz.test.ts) sends: the
// arbitraries of random, JSON and mutated inputs and of HTTP bodies, around one daemon
// named SELF.

export const SELF = 'fuzz';
/** Placeholders replaced at send time, so every message sent carries a unique token and id. */
export const TOKEN = '__TOKEN__';
export const ID = '__ID__';
export const DELIVERED_DIR = 'fuzz';
export const DELIVERED_FILE = 'delivered.log';

// ---- arbitraries -----------------------------------------------------------------------

const FIELDS = [
  'id', 'toNode', 'toNodes', 'method', 'methodArgs', 'data', 'replyMethod', 'replyMethodArgs', 'ACKTimeout',
  'retries', 'retryWait', 'replyACKTimeout', 'replyRetries', 'methodTimeout', 'directory', 'fileName',
] as const;
const NUMERIC_FIELDS = ['ACKTimeout', 'retries', 'retryWait', 'replyACKTimeout', 'replyRetries', 'methodTimeout'] as const;

/** Only self and `local` are valid names here: nothing accepted goes to a node that does not exist. */
const toNodeValue = fc.constantFrom<unknown>(SELF, 'local', '', ' ', 'a b', '../etc', 'x'.repeat(129), 'ünï', `${SELF}\n`, `${SELF}\u0000`, 42, null, [SELF], {});
const toNodesValue = fc.constantFrom<unknown>([], [SELF], [SELF, 'local'], ['', SELF], ['a b'], SELF, [1], null, [[SELF]]);
/** No name starting with REQ besides the harmless ones: a random name must not reach a real method. */
const methodValue = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<unknown>('REQToFileAppend', 'REQNone', 'REQnNone', 'REQNoSuchMethod', 'reqtofileappend', '', 'REQ None', 'x'.repeat(200), 'REQn', 7, null, ['REQNone'], {}) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,16}$/).filter((name) => !name.startsWith('REQ')) },
);
const replyMethodValue = fc.constantFrom<unknown>('none', 'REQToFileAppend', '', 'REQNoSuchMethod', 'bad name', 5, null);
const pathValue = fc.constantFrom<unknown>(DELIVERED_DIR, '', '.', '..', '../..', '../../escape', '/tmp', '/etc/passwd', 'a/b/c', 'x'.repeat(300), 'nul\u0000', '🙂', 'C:\\x', 7, null, ['a']);
const numberValue = fc.constantFrom<unknown>(-1, -2, 0, 0.001, 0.5, 1, 1.5, 3, 1e9, 1e308, -1e308, 2 ** 31, 2 ** 53 + 1, '5', null, true, [], {});
const idValue = fc.constantFrom<unknown>(ID, '', 'x'.repeat(128), 'x'.repeat(129), 'dup-id', 5, null, ['a'], `${ID} with space`, `${ID}/../x`, `${ID}\u0000`);
const argsValue = fc.oneof(fc.array(fc.string(), { maxLength: 3 }), fc.jsonValue());
const dataValue = fc.oneof(
  { weight: 10, arbitrary: fc.oneof(fc.constant<unknown>(TOKEN), fc.string().map((s) => TOKEN + s), fc.constant(`${TOKEN}\nsecond line`)) },
  { weight: 4, arbitrary: fc.oneof(fc.constant<unknown>([TOKEN]), fc.constant([TOKEN, 'b']), fc.jsonValue()) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(TOKEN + 'x'.repeat(100_000), 'y'.repeat(1_100_000)) },
);
const extraKey = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'fromNode', 'isReply', 'inReplyTo', 'acceptedAt', 'prototype'));

type Mutation = { delete: string } | { set: string; value: unknown };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constantFrom(...FIELDS).map((key) => ({ delete: key })),
  toNodeValue.map((value) => ({ set: 'toNode', value })),
  toNodesValue.map((value) => ({ set: 'toNodes', value })),
  methodValue.map((value) => ({ set: 'method', value })),
  replyMethodValue.map((value) => ({ set: 'replyMethod', value })),
  dataValue.map((value) => ({ set: 'data', value })),
  fc.tuple(fc.constantFrom('directory', 'fileName'), pathValue).map(([set, value]) => ({ set, value })),
  fc.tuple(fc.constantFrom(...NUMERIC_FIELDS), numberValue).map(([set, value]) => ({ set, value })),
  idValue.map((value) => ({ set: 'id', value })),
  fc.tuple(fc.constantFrom('methodArgs', 'replyMethodArgs'), argsValue).map(([set, value]) => ({ set, value })),
  fc.tuple(extraKey, fc.jsonValue()).map(([set, value]) => ({ set, value })),
);

/** A valid message to this node: the starting point of every mutation. */
const validMessage = fc.record({
  id: fc.constant(ID),
  toNode: fc.constantFrom(SELF, 'local'),
  method: fc.constantFrom('REQToFileAppend', 'REQToFileAppend', 'REQNone', 'REQnNone'),
  data: fc.constant(TOKEN),
  directory: fc.constant(DELIVERED_DIR),
  fileName: fc.constant(DELIVERED_FILE),
});

const mutatedMessage = fc.tuple(validMessage, fc.array(mutation, { maxLength: 3 })).map(([base, mutations]) => {
  const message: Record<string, unknown> = { ...base };
  for (const m of mutations) {
    if ('delete' in m) delete message[m.delete];
    else Object.defineProperty(message, m.set, { value: m.value, enumerable: true, writable: true, configurable: true });
  }
  return message;
});

/** A whole input value: a message, a batch of them, or a wrong shape around them. */
export const mutatedInput: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 60, arbitrary: mutatedMessage },
  { weight: 25, arbitrary: fc.array(mutatedMessage, { minLength: 1, maxLength: 4 }) },
  { weight: 2, arbitrary: fc.constant([]) },
  { weight: 3, arbitrary: mutatedMessage.map((m) => [[m]]) },
  { weight: 3, arbitrary: mutatedMessage.map((m) => JSON.stringify(m)) },
  { weight: 2, arbitrary: mutatedMessage.map((m) => ({ messages: [m] })) },
);

const encoder = new TextEncoder();
/** A valid message as text, for byte-level damage (retries 0: a damaged toNode must not resend forever). */
const validText = validMessage.map((m) => JSON.stringify({ ...m, method: 'REQToFileAppend', ACKTimeout: 3600, retries: 0 }));
const JSONISH = '{}[]":,\\ \n\t0123456789.eE+-truefalsn'.split('');

export const randomBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  fc.string({ unit: fc.constantFrom(...JSONISH), maxLength: 200 }).map((s) => encoder.encode(s)),
  fc.tuple(validText, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })).map(([text, flips]) => {
    const bytes = encoder.encode(text);
    for (const [at, b] of flips) bytes[at % bytes.length] = b;
    return bytes;
  }),
  fc.tuple(validText, fc.nat()).map(([text, cut]) => encoder.encode(text).subarray(0, cut % text.length)),
  fc.tuple(validText, fc.constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82])).map(([text, bad]) => {
    const bytes = encoder.encode(text);
    const at = text.indexOf(TOKEN);
    return Uint8Array.from([...bytes.subarray(0, at), ...bad, ...bytes.subarray(at)]);
  }),
);

/** One HTTP input: a body that is one message, an array of them, or anything else. */
export type HttpBody = { kind: 'bytes'; bytes: Uint8Array } | { kind: 'json'; value: unknown };
export const httpBody: fc.Arbitrary<HttpBody> = fc.oneof(
  randomBytes.map((bytes) => ({ kind: 'bytes' as const, bytes })),
  fc.jsonValue().map((value) => ({ kind: 'json' as const, value })),
  mutatedInput.map((value) => ({ kind: 'json' as const, value })),
);
