import { BosunError } from '../errors.ts';
import type { Store, StoreOp } from './types.ts';

/** @internal A store operation with its value already serialised to JSON text. */
export type EncodedOp = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };

/**
 * Serialises `ops` when `write` is called rather than when their batch commits, for two
 * reasons: a value that cannot be stored fails only its own caller, not everyone who
 * shares the batch; and the stored value is the one the caller passed, even if the caller
 * mutates the object before the batch goes out.
 *
 * @throws BosunError `BOSUN_STORE_WRITE_FAILED` naming the key.
 * @internal
 */
export function encodeOps(ops: readonly StoreOp[]): EncodedOp[] {
  const encoded: EncodedOp[] = [];
  for (const op of ops) {
    if (typeof op.key !== 'string') {
      throw new BosunError('BOSUN_STORE_WRITE_FAILED', `store keys are strings, got ${typeof op.key}`);
    }
    if (op.type === 'del') {
      encoded.push({ type: 'del', key: op.key });
    } else if (op.type === 'put') {
      encoded.push({ type: 'put', key: op.key, value: op.encoded ?? encodeValue(op.key, op.value) });
    } else {
      throw new BosunError('BOSUN_STORE_WRITE_FAILED', `unknown store operation "${(op as { type: unknown }).type}"`);
    }
  }
  return encoded;
}

function encodeValue(key: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw notStorable(key, cause instanceof Error ? cause.message : String(cause), cause);
  }
  // JSON.stringify returns undefined for undefined, functions and symbols.
  if (text === undefined) throw notStorable(key, `${typeof value} has no JSON form`);
  return text;
}

function notStorable(key: string, reason: string, cause?: unknown): BosunError {
  return new BosunError('BOSUN_STORE_WRITE_FAILED', `cannot store the value of "${key}": ${reason}`, { cause });
}

/**
 * Parses a stored record.
 *
 * @throws BosunError `BOSUN_STORE_CORRUPT` naming the key, when the record is not JSON.
 * @internal
 */
export function decodeValue<T>(key: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new BosunError('BOSUN_STORE_CORRUPT', `the stored record "${key}" is corrupt (not valid JSON)`, { cause });
  }
}

/**
 * Decodes stored rows; a corrupt one is left out and handed to `quarantine`, so one bad
 * record costs itself, not the read (or the start-up) it was part of.
 */
export function decodeRows<T>(rows: Array<[string, string]>, quarantine: (key: string, text: string, error: unknown) => void): Array<[string, T]> {
  const out: Array<[string, T]> = [];
  for (const [key, text] of rows) {
    try {
      out.push([key, decodeValue<T>(key, text)]);
    } catch (error) {
      quarantine(key, text, error);
    }
  }
  return out;
}

/** Where a corrupt record is moved: kept, as text, for an operator to look at. */
export function quarantineOps(key: string, text: string): StoreOp[] {
  return [
    { type: 'del', key },
    { type: 'put', key: `quarantine!${key}`, value: { text } },
  ];
}

/**
 * What a store does with a corrupt record it reads: moves it aside and tells its
 * `onCorrupt` listener; the read goes on without it.
 */
export function quarantiner(store: Pick<Store, 'write' | 'onCorrupt'>): (key: string, text: string, error: unknown) => void {
  return (key, text, error) => {
    store.write(quarantineOps(key, text)).catch(() => {
      // Left where it is, it is found (and reported) again on the next read.
    });
    try {
      store.onCorrupt?.(key, error);
    } catch {
      // A listener's failure must not break reads.
    }
  };
}
