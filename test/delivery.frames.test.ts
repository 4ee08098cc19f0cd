import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeFrame, encodeDataFrame, encodeFrame } from '../src/delivery/frames.ts';
import type { Message } from '../src/message.ts';
import { testMessage } from './support/methods.ts';

const stream = 'central~ship1~REQTestRecord';

describe('data frames', () => {
  it("made from a message's JSON text are the frames encodeFrame makes of the message", () => {
    fc.assert(
      fc.property(fc.option(fc.string({ unit: 'binary' }), { nil: undefined }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (data, seq) => {
        const message: Message = testMessage({ method: 'REQTestRecord', ...(data !== undefined ? { data } : {}), directory: 'a "quoted" dir' });
        const bytes = encodeDataFrame(stream, seq, JSON.stringify(message));
        expect(Buffer.from(bytes).toString()).toBe(Buffer.from(encodeFrame({ v: 1, type: 'data', stream, seq, message })).toString());
        expect(decodeFrame(bytes)).toEqual({ v: 1, type: 'data', stream, seq, message: JSON.parse(JSON.stringify(message)) });
      }),
    );
  });
});
