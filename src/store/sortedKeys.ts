import type { RangeOptions } from './types.ts';

/**
 * Orders keys as LevelDB does: by their UTF-8 bytes, which is Unicode code point order.
 * JavaScript's `<` compares UTF-16 code units instead, and the two disagree in one case:
 * a character above U+FFFF (stored as a surrogate pair, 0xD800–0xDFFF) sorts below
 * U+E000–U+FFFF in UTF-16 but above it in UTF-8.
 *
 * @internal
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const common = Math.min(a.length, b.length);
  for (let i = 0; i < common; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xSurrogate = x >= 0xd800 && x <= 0xdfff;
    const ySurrogate = y >= 0xd800 && y <= 0xdfff;
    if (xSurrogate !== ySurrogate) return xSurrogate ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * A sorted array of distinct keys with binary-search insert and delete, for the
 * in-memory store's ordered ranges.
 *
 * @internal
 */
export class SortedKeys {
  #keys: string[] = [];

  static from(keys: Iterable<string>): SortedKeys {
    const sorted = new SortedKeys();
    sorted.#keys = [...new Set(keys)].sort(compareKeys);
    return sorted;
  }

  get size(): number {
    return this.#keys.length;
  }

  insert(key: string): void {
    const at = this.#firstAtOrAbove(key);
    if (this.#keys[at] !== key) this.#keys.splice(at, 0, key);
  }

  delete(key: string): void {
    const at = this.#firstAtOrAbove(key);
    if (this.#keys[at] === key) this.#keys.splice(at, 1);
  }

  /**
   * The keys within the bounds, with abstract-level's semantics: `gte` wins over `gt`
   * and `lte` over `lt`; a `limit` that is not a non-negative integer means no limit;
   * with `reverse`, the limit keeps the highest keys.
   */
  range(options: RangeOptions): string[] {
    const start =
      options.gte !== undefined
        ? this.#firstAtOrAbove(options.gte)
        : options.gt !== undefined
          ? this.#firstAbove(options.gt)
          : 0;
    const end =
      options.lte !== undefined
        ? this.#firstAbove(options.lte)
        : options.lt !== undefined
          ? this.#firstAtOrAbove(options.lt)
          : this.#keys.length;
    if (start >= end) return [];
    const limit = Number.isInteger(options.limit) && options.limit! >= 0 ? options.limit! : Infinity;
    const count = Math.min(end - start, limit);
    return options.reverse
      ? this.#keys.slice(end - count, end).reverse()
      : this.#keys.slice(start, start + count);
  }

  #firstAtOrAbove(key: string): number {
    return this.#search((k) => compareKeys(k, key) >= 0);
  }

  #firstAbove(key: string): number {
    return this.#search((k) => compareKeys(k, key) > 0);
  }

  /** Index of the first key satisfying `isPast`, which must be monotonic over the array. */
  #search(isPast: (key: string) => boolean): number {
    let low = 0;
    let high = this.#keys.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (isPast(this.#keys[mid]!)) high = mid;
      else low = mid + 1;
    }
    return low;
  }
}
