import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeFrame, encodeDataFrame, encodeFrame, messageTextOf, newIncarnation, type DataFrame } from '../src/delivery/frames.ts';
import type { Message } from '../src/message.ts';
import { testMessage } from './support/methods.ts';

const stream = 'central~ship1~REQTestRecord';

describe('data frames', () => {
  it("made from a message's JSON text are the frames encodeFrame makes of the message", () => {
    fc.assert(
      fc.property(fc.option(fc.string({ unit: 'binary' }), { nil: undefined }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (data, seq) => {
        const message: Message = testMessage({ method: 'REQTestRecord', ...(data !== undefined ? { data } : {}), directory: 'a "quoted" dir' });
        const inc = newIncarnation();
        const bytes = encodeDataFrame(stream, inc, seq, JSON.stringify(message));
        expect(Buffer.from(bytes).toString()).toBe(Buffer.from(encodeFrame({ v: 2, type: 'data', stream, inc, seq, message })).toString());
        expect(decodeFrame(bytes)).toEqual({ v: 2, type: 'data', stream, inc, seq, message: JSON.parse(JSON.stringify(message)) });
        const signed = encodeDataFrame(stream, inc, seq, JSON.stringify(message), 'A'.repeat(86) + '==');
        expect(decodeFrame(signed)).toEqual({ v: 2, type: 'data', stream, inc, seq, sig: 'A'.repeat(86) + '==', message: JSON.parse(JSON.stringify(message)) });
      }),
    );
  });
});

describe('decoding', () => {
  it("keeps a data frame's message text as it came, and decodes any text exactly as parsing it whole would", () => {
    const inc = newIncarnation();
    const json = JSON.stringify(testMessage({ method: 'REQTestRecord', data: 'a "line" with ,"message": in it' }));
    const decoded = decodeFrame(encodeDataFrame(stream, inc, 7, json)) as DataFrame;
    expect(messageTextOf(decoded.message)).toBe(json);
    const header = `{"v":2,"type":"data","stream":"${stream}","inc":"${inc}","seq":7`;
    const texts = [
      // a second message after the first, in the header, or a member after the message: the whole text decides
      `${header},"message":${json},"message":{"id":"other"}}`,
      `${header},"message":{"id":"first"},"sig":"x","message":${json}}`,
      `${header},"extra":1,"message":${json}}`,
      `${header},"message":${json},"extra":1}`,
      `${header} , "message" : ${json} }`,
      `${header},"message":[1]}`,
      `${header},"message":${json}`,
    ];
    for (const text of texts) {
      const bytes = Buffer.from(text);
      const frame = decodeFrame(bytes) as DataFrame | undefined;
      let whole: unknown;
      try {
        whole = JSON.parse(text);
      } catch {
        whole = undefined;
      }
      const expected = whole && !Array.isArray((whole as DataFrame).message) ? whole : undefined;
      expect(frame, text).toEqual(expected);
      // Only a message taken whole from the text has its text kept, and that text is the message.
      if (frame) {
        const kept = messageTextOf(frame.message);
        if (kept !== undefined) expect(JSON.parse(kept)).toEqual(frame.message);
      }
    }
  });

  it('refuses frames of version 1, and data, skip and ACK frames without an incarnation', () => {
    const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    const message = testMessage({ method: 'REQTestRecord' });
    expect(decodeFrame(encode({ v: 1, type: 'data', stream, seq: 1, message }))).toBeUndefined();
    expect(decodeFrame(encode({ v: 2, type: 'data', stream, seq: 1, message }))).toBeUndefined();
    expect(decodeFrame(encode({ v: 2, type: 'skip', stream, seq: 1 }))).toBeUndefined();
    expect(decodeFrame(encode({ v: 2, type: 'ack', stream, upTo: 1 }))).toBeUndefined();
    expect(decodeFrame(encode({ v: 2, type: 'ack', stream, inc: 'not-one', upTo: 1 }))).toBeUndefined();
    const inc = newIncarnation();
    expect(decodeFrame(encode({ v: 2, type: 'ack', stream, inc, seqs: [1, 2], ids: ['a'] }))).toBeUndefined();
    expect(decodeFrame(encode({ v: 2, type: 'ack', stream, inc, seqs: [1, 2], ids: ['a', ''] }))).toBeDefined();
    expect(decodeFrame(encode({ v: 2, type: 'resume', stream }))).toEqual({ v: 2, type: 'resume', stream });
  });
});
