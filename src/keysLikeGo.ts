import { BosunError } from './errors.ts';

/**
 * Renames the keys of `object` that match one of `known` without regard to case to that
 * spelling, as Go's `encoding/json` matched steward's message fields: steward's own README
 * writes `"MethodTimeout": 7`, and it worked. Keys that match nothing are kept as they are.
 *
 * Two spellings of one field in the same object (`methodTimeout` and `MethodTimeout`) are
 * refused: Go kept whichever came last, which silently drops the other.
 */
export function keysLikeGo(object: Record<string, unknown>, known: readonly string[], where: string): Record<string, unknown> {
  const byFold = foldTable(known);
  let renamed: Record<string, unknown> | undefined;
  for (const key of Object.keys(object)) {
    const canonical = byFold.get(key.toLowerCase());
    if (canonical === undefined || canonical === key) continue;
    renamed ??= {};
    renamed[key] = canonical;
  }
  if (renamed === undefined) return object;
  const result: Record<string, unknown> = {};
  const seenAs = new Map<string, string>();
  for (const [key, value] of Object.entries(object)) {
    const name = (renamed[key] as string | undefined) ?? key;
    const earlier = seenAs.get(name);
    if (earlier !== undefined) {
      throw new BosunError('BOSUN_BAD_MESSAGE', `${where} has "${earlier}" and "${key}": they are the same field; give it once`);
    }
    seenAs.set(name, key);
    result[name] = value;
  }
  return result;
}

const tables = new WeakMap<readonly string[], Map<string, string>>();

function foldTable(known: readonly string[]): Map<string, string> {
  let table = tables.get(known);
  if (table === undefined) {
    table = new Map(known.map((k) => [k.toLowerCase(), k]));
    tables.set(known, table);
  }
  return table;
}
