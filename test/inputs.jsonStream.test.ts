import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonStreamParser, type JsonStreamOptions, type StreamItem } from '../src/inputs/jsonStream.ts';

/** What a parser made of a stream, errors as `code: message` so outcomes compare with toEqual. */
type Outcome = Array<{ value: unknown } | { error: string }>;

function outcome(items: StreamItem[]): Outcome {
  return items.map((i) => (i.kind === 'value' ? { value: i.value } : { error: `${i.error.code}: ${i.error.message}` }));
}

/** Feeds `bytes` cut at `cuts` (offsets, any order, duplicates allowed), then ends the stream. */
function readChunked(bytes: Uint8Array, cuts: number[] = [], options?: JsonStreamOptions): Outcome {
  const parser = new JsonStreamParser(options);
  const items: StreamItem[] = [];
  let from = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    items.push(...parser.push(bytes.subarray(from, cut)));
    from = cut;
  }
  items.push(...parser.push(bytes.subarray(from)));
  items.push(...parser.end());
  return outcome(items);
}

const read = (text: string | Uint8Array, options?: JsonStreamOptions): Outcome =>
  readChunked(typeof text === 'string' ? Buffer.from(text) : text, [], options);

const codes = (o: Outcome) => o.map((x) => ('value' in x ? 'value' : x.error.split(':')[0]));

/** A stream and some places to cut it. */
const cutsFor = (bytes: Uint8Array) => fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 20 });

/** Top-level values: what inputs carry (objects and arrays), with anything inside. */
const topValue = fc.oneof(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })), fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 5 }));

/** Valid streams: values written compactly or pretty, concatenated or on lines. */
const validStream = fc
  .array(fc.tuple(topValue, fc.constantFrom(undefined, 2, '\t'), fc.constantFrom('', '\n', ' \r\n', '\n\n')), { maxLength: 8 })
  .map((parts) => ({
    values: parts.map(([v]) => JSON.parse(JSON.stringify(v)) as unknown),
    text: parts.map(([v, indent, separator]) => JSON.stringify(v, null, indent) + separator).join(''),
  }));

describe('JsonStreamParser', () => {
  describe('properties', () => {
    it('reads the same values from a valid stream however it is cut into chunks', () => {
      fc.assert(
        fc.property(
          validStream.chain((s) => fc.tuple(fc.constant(s), cutsFor(Buffer.from(s.text)))),
          ([{ values, text }, cuts]) => {
            expect(readChunked(Buffer.from(text), cuts)).toEqual(values.map((value) => ({ value })));
          },
        ),
        { numRuns: 300 },
      );
    });

    it('never throws on random bytes, and the outcome does not depend on the chunking', () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ maxLength: 300 }).chain((bytes) => fc.tuple(fc.constant(bytes), cutsFor(bytes))),
          ([bytes, cuts]) => {
            const whole = readChunked(bytes);
            expect(readChunked(bytes, cuts)).toEqual(whole);
            for (const item of whole) {
              if ('error' in item) expect(item.error).toMatch(/^BOSUN_(BAD_JSON|BAD_ENCODING|MESSAGE_TOO_LARGE): ./);
            }
          },
        ),
        { numRuns: 500 },
      );
    });

    it('refuses values over a cap the same way however the stream is cut', () => {
      fc.assert(
        fc.property(
          validStream.chain((s) => fc.tuple(fc.constant(s), cutsFor(Buffer.from(s.text)), fc.integer({ min: 2, max: 60 }))),
          ([{ values, text }, cuts, maxValueBytes]) => {
            const whole = readChunked(Buffer.from(text), [], { maxValueBytes });
            expect(readChunked(Buffer.from(text), cuts, { maxValueBytes })).toEqual(whole);
            // Every value is either read or refused as too large, in order.
            expect(whole).toHaveLength(values.length);
            for (const item of whole) if ('error' in item) expect(item.error).toMatch(/^BOSUN_MESSAGE_TOO_LARGE/);
          },
        ),
        { numRuns: 300 },
      );
    });

    it('agrees with JSON.parse about single values, valid or mangled', () => {
      const alphabet = [...'{}[],:"\\ \n0123456789-+.eEtruefalsnul', '\\u00e9', 'é', 'x'];
      const mangled = fc
        .tuple(topValue, fc.array(fc.tuple(fc.nat(), fc.nat(2), fc.constantFrom(...alphabet)), { maxLength: 3 }))
        .map(([value, edits]) => {
          let text = JSON.stringify(value);
          for (const [at, kind, char] of edits) {
            const i = at % (text.length + 1);
            text = kind === 0 ? text.slice(0, i) + text.slice(i + 1) : kind === 1 ? text.slice(0, i) + char + text.slice(i) : text.slice(0, i) + char + text.slice(i + 1);
          }
          return text;
        });
      fc.assert(
        fc.property(mangled, (text) => {
          const got = read(text);
          let parsed: { ok: true; value: unknown } | { ok: false };
          try {
            parsed = { ok: true, value: JSON.parse(text) as unknown };
          } catch {
            parsed = { ok: false };
          }
          const isContainer = parsed.ok && parsed.value !== null && typeof parsed.value === 'object';
          // JSON.parse takes it as one object or array: so does the stream.
          if (isContainer) expect(got).toEqual([{ value: (parsed as { value: unknown }).value }]);
          // The stream saw exactly one value and nothing wrong: JSON.parse agrees.
          if (got.length === 1 && 'value' in got[0]!) expect(parsed).toEqual({ ok: true, value: got[0].value });
        }),
        { numRuns: 2000 },
      );
    });

    it('loses nothing after a bad line: the values on the following lines come out', () => {
      const garbage = fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !s.includes('\n') && /^[^\s{[]/.test(s));
      fc.assert(
        fc.property(validStream, garbage, validStream, (before, bad, after) => {
          const text = before.text + '\n' + bad + '\n' + after.text;
          const got = read(text);
          const values = got.filter((x): x is { value: unknown } => 'value' in x).map((x) => x.value);
          expect(values).toEqual([...before.values, ...after.values]);
          expect(got.filter((x) => 'error' in x)).toHaveLength(1);
        }),
        { numRuns: 300 },
      );
    });
  });

  describe('values', () => {
    it('hands out a value at its closing bracket, without waiting for a newline or the end', () => {
      const parser = new JsonStreamParser();
      expect(outcome(parser.push(Buffer.from('{"a":1}')))).toEqual([{ value: { a: 1 } }]);
      expect(outcome(parser.push(Buffer.from('[1,')))).toEqual([]);
      expect(outcome(parser.push(Buffer.from('2]')))).toEqual([{ value: [1, 2] }]);
    });

    it('reads concatenated values and values on lines alike', () => {
      expect(read('{"a":1}{"b":2}[3]\n[4]\r\n\n  {"c":5}')).toEqual([{ value: { a: 1 } }, { value: { b: 2 } }, { value: [3] }, { value: [4] }, { value: { c: 5 } }]);
    });

    it('is not fooled by brackets and escaped quotes inside strings', () => {
      expect(read('{"a":"}]\\"{[","b\\\\":"\\\\"}')).toEqual([{ value: { a: '}]"{[', 'b\\': '\\' } }]);
    });

    it('reassembles a character split across chunks', () => {
      const bytes = Buffer.from('{"name":"Zoë ☃ 𝄞"}');
      for (let cut = 1; cut < bytes.length; cut++) {
        expect(readChunked(bytes, [cut])).toEqual([{ value: { name: 'Zoë ☃ 𝄞' } }]);
      }
    });
  });

  describe('errors', () => {
    it('reports malformed JSON with its line and column, then reads on from the next line', () => {
      const got = read('{"a":1}\n{"a": 1,, "b": 2}\n{"c":3}');
      expect(got).toEqual([
        { value: { a: 1 } },
        { error: 'BOSUN_BAD_JSON: malformed JSON at line 2, column 9: expected a key in double quotes, found ","; skipping the rest of the value that started on line 2' },
        { value: { c: 3 } },
      ]);
    });

    it('refuses anything but an object or array at the top level', () => {
      expect(codes(read('hello\n"str"\n42\n{"ok":1}'))).toEqual(['BOSUN_BAD_JSON', 'BOSUN_BAD_JSON', 'BOSUN_BAD_JSON', 'value']);
      expect(read('hello')[0]).toEqual({
        error: 'BOSUN_BAD_JSON: malformed JSON at line 1, column 1: expected a message object "{" or an array of messages "[", found "h"; skipping the rest of the line',
      });
    });

    it.each([
      ['a trailing comma', '[1,]'],
      ['a missing comma', '{"a":1 "b":2}'],
      ['a single-quoted string', "{'a':1}"],
      ['a leading zero', '[01]'],
      ['a bare dot', '[1.]'],
      ['a bad literal', '[tru]'],
      ['a bad escape', '{"a":"\\x"}'],
      ['a short unicode escape', '{"a":"\\u12"}'],
      ['a mismatched bracket', '{"a":[1}'],
      ['an unquoted key', '{a:1}'],
    ])('refuses %s', (_, text) => {
      expect(codes(read(text + '\n{"next":true}'))).toEqual(['BOSUN_BAD_JSON', 'value']);
    });

    it('refuses a raw line break in a string, and reads the next value', () => {
      expect(codes(read('{"a":"x\n{"next":true}'))).toEqual(['BOSUN_BAD_JSON', 'value']);
      expect(codes(read('{"a":"x\ny"}\n{"next":true}'))).toEqual(['BOSUN_BAD_JSON', 'value']);
    });

    it('skips a broken pretty-printed array whole: no element after the typo is read on its own', () => {
      const text = ['[', '  {"id":"a"},,', '  {"id":"b"},', '  {', '    "id": "c"', '  }', ']', '{"id":"after"}'].join('\n');
      expect(read(text)).toEqual([
        { error: 'BOSUN_BAD_JSON: malformed JSON at line 2, column 14: expected a value, found ","; skipping the rest of the value that started on line 1' },
        { value: { id: 'after' } },
      ]);
    });

    it('lets a line starting with { or [ begin afresh, so an unclosed value swallows nothing more', () => {
      // one message per line, the first one unclosed: the error is found on line 2
      expect(codes(read('{"id":"a"\n{"id":"b"}\n{"id":"c"}'))).toEqual(['BOSUN_BAD_JSON', 'value']);
      expect(codes(read('[\n  {"a":1},,\n  {"b":2}\n{"c":3}\n'))).toEqual(['BOSUN_BAD_JSON', 'value']);
      expect(read('[\n  {"a":1},,\n  {"b":2}\n[3]\n').at(-1)).toEqual({ value: [3] });
    });

    it('is not thrown off by brackets inside strings while skipping', () => {
      expect(codes(read('{"a": x, "b": "}}]]"}\n{"ok":1}'))).toEqual(['BOSUN_BAD_JSON', 'value']);
      expect(codes(read('{"a": x, "b": "\\"{{"}\n{"ok":1}'))).toEqual(['BOSUN_BAD_JSON', 'value']);
    });

    it.each([
      ['a stray continuation byte', [0x80]],
      ['an overlong encoding', [0xc0, 0xaf]],
      ['an encoded surrogate', [0xed, 0xa0, 0x80]],
      ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
      ['a byte that is never UTF-8', [0xff]],
      ['a sequence cut short', [0xe2, 0x82]],
    ])('refuses %s as BOSUN_BAD_ENCODING', (_, bad) => {
      const bytes = Buffer.concat([Buffer.from('{"a":"'), Buffer.from(bad), Buffer.from('"}\n{"next":true}')]);
      expect(codes(read(bytes))).toEqual(['BOSUN_BAD_ENCODING', 'value']);
    });

    it('reports where a broken character began, with its bytes', () => {
      const got = read(Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xe2, 0x82, 0x41]), Buffer.from('"}')]));
      expect(got[0]).toEqual({
        error: 'BOSUN_BAD_ENCODING: invalid UTF-8 at line 1, column 7 (bytes 0xe2 0x82 0x41): input must be UTF-8 JSON; skipping the rest of the value that started on line 1',
      });
    });

    it('refuses bad UTF-8 outside strings too', () => {
      expect(codes(read(Buffer.from([0xff, 0x0a, 0x7b, 0x7d])))).toEqual(['BOSUN_BAD_ENCODING', 'value']);
    });

    it('refuses a value over the cap once, skipping it to its end without keeping it', () => {
      const big = JSON.stringify([{ data: 'x'.repeat(200) }, { data: 'y'.repeat(200) }]);
      const got = read(`${big}{"after":1}\n`, { maxValueBytes: 100 });
      expect(got).toEqual([
        { error: 'BOSUN_MESSAGE_TOO_LARGE: the value that started on line 1 is larger than 100 bytes, the most one input value may hold; send it in smaller batches' },
        { value: { after: 1 } },
      ]);
    });

    it('takes a value of exactly the cap', () => {
      const value = '{"d":"' + 'x'.repeat(92) + '"}';
      expect(Buffer.byteLength(value)).toBe(100);
      expect(read(value, { maxValueBytes: 100 })).toEqual([{ value: JSON.parse(value) }]);
    });

    it('refuses values nested deeper than the limit', () => {
      expect(codes(read('[[[[1]]]]\n[[1]]', { maxDepth: 3 }))).toEqual(['BOSUN_BAD_JSON', 'value']);
    });

    it('reports a value the stream ended inside of', () => {
      expect(read('{"a":\n[1,')).toEqual([
        { error: 'BOSUN_BAD_JSON: malformed JSON: the input ended inside a value that started on line 1 (a missing closing bracket or quote?)' },
      ]);
    });
  });
});

describe('JsonStreamParser holding a large unfinished value', () => {
  it('reads a value of several MiB cut into chunks exactly, counting what it holds until the value ends', () => {
    const value = { toNode: 'n1', method: 'REQNone', data: 'é'.repeat(1_500_000) + 'x'.repeat(1_000_000) };
    const bytes = Buffer.from(JSON.stringify(value) + '\n' + JSON.stringify({ after: true }));
    const parser = new JsonStreamParser();
    const items: StreamItem[] = [];
    let most = 0;
    for (let at = 0; at < bytes.length; at += 65_536) {
      items.push(...parser.push(bytes.subarray(at, at + 65_536)));
      most = Math.max(most, parser.heldBytes);
    }
    items.push(...parser.end());
    expect(items).toEqual([
      { kind: 'value', value },
      { kind: 'value', value: { after: true } },
    ]);
    expect(most).toBeGreaterThan(3 * 1024 * 1024);
    expect(parser.heldBytes).toBe(0);
  });

  it('drops what it held once the value goes over its cap', () => {
    const parser = new JsonStreamParser({ maxValueBytes: 2 * 1024 * 1024 });
    parser.push(Buffer.from('{"data":"' + 'x'.repeat(1_900_000)));
    expect(parser.heldBytes).toBeGreaterThan(1_900_000);
    const items = parser.push(Buffer.from('x'.repeat(200_000)));
    expect(items).toEqual([{ kind: 'error', error: expect.objectContaining({ code: 'BOSUN_MESSAGE_TOO_LARGE' }) }]);
    expect(parser.heldBytes).toBe(0);
  });
});
