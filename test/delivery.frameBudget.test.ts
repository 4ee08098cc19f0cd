import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { prefixWithin } from '../src/delivery/frameBudget.ts';

/** The bytes `text` takes inside JSON strings nested `depth` deep, measured by serialising. */
function escaped(text: string, depth: number): number {
  let s = text;
  for (let i = 0; i < depth; i++) s = JSON.stringify(s).slice(1, -1);
  return Buffer.byteLength(s);
}

describe('prefixWithin', () => {
  it('keeps the longest beginning whose escaped bytes fit the budget, whole characters only', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.string({ unit: fc.constantFrom('"', '\\', '\u0001', '\n', 'x', 'é', '€', '😀', '\ud800'), maxLength: 200 }),
    );
    fc.assert(
      fc.property(text, fc.nat(1500), fc.constantFrom(1, 2, 3), (s, budget, depth) => {
        const kept = prefixWithin(s, budget, depth);
        expect(s.startsWith(kept)).toBe(true);
        expect(escaped(kept, depth)).toBeLessThanOrEqual(budget);
        if (kept.length === s.length) return;
        // The next character, a surrogate pair counted whole, would not have fitted.
        const next = String.fromCodePoint(s.codePointAt(kept.length)!);
        const width = next.length === 2 && s.slice(kept.length, kept.length + 2) === next ? 2 : 1;
        expect(escaped(s.slice(0, kept.length + width), depth)).toBeGreaterThan(budget);
      }),
      { numRuns: 500 },
    );
  });
});
