import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BosunError } from '../src/errors.ts';
import { outKey, prefixRange } from '../src/store/keys.ts';
import type { GroupCommitStore, RangeOptions, StoreOp } from '../src/store/types.ts';

/**
 * What a store implementation gives the conformance suite. Every store passes the same
 * suite; a capability a store cannot offer (say, injecting a failed batch into a real
 * LevelDB) leaves out only the tests that need it.
 */
export interface StoreHarness {
  /** A new, empty store, opened. */
  create(): Promise<GroupCommitStore>;
  /** Closes `store` (if not closed) and opens a new store over the same data. */
  reopen(store: GroupCommitStore): Promise<GroupCommitStore>;
  /** Makes the batches of `store` fail with `error` until called with `null`. */
  failWrites?(store: GroupCommitStore, error: Error | null): void;
  /** Plants `rawText` as the stored record of `key`; returns the open store to read it from. */
  corrupt(store: GroupCommitStore, key: string, rawText: string): Promise<GroupCommitStore>;
  /** Removes whatever the stores left behind. */
  cleanup?(): Promise<void>;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
const put = (key: string, value: unknown): StoreOp => ({ type: 'put', key, value });
const del = (key: string): StoreOp => ({ type: 'del', key });

async function rejection(promise: Promise<unknown>): Promise<BosunError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BosunError);
  return error as BosunError;
}

/** Key order and bounds as abstract-level defines them: the oracle for range tests. */
function expectedRange(sortedKeys: string[], options: RangeOptions): string[] {
  const inRange = sortedKeys.filter(
    (k) =>
      (options.gte !== undefined ? k >= options.gte : options.gt !== undefined ? k > options.gt : true) &&
      (options.lte !== undefined ? k <= options.lte : options.lt !== undefined ? k < options.lt : true),
  );
  const ordered = options.reverse ? inRange.reverse() : inRange;
  const limit = Number.isInteger(options.limit) && options.limit! >= 0 ? options.limit! : Infinity;
  return ordered.slice(0, limit);
}

/** The one suite every store passes. */
export function storeConformanceSuite(
  name: string,
  factory: () => StoreHarness | Promise<StoreHarness>,
  /** Whether the harness can make a batch fail (LevelDB gives no way to). */
  supports: { failWrites: boolean } = { failWrites: true },
): void {
  describe(`${name} conformance`, () => {
    let harness: StoreHarness;
    let store: GroupCommitStore;

    beforeEach(async () => {
      harness = await factory();
      store = await harness.create();
    });

    afterEach(async () => {
      await store.close();
      await harness.cleanup?.();
    });

    async function reopen(): Promise<GroupCommitStore> {
      store = await harness.reopen(store);
      return store;
    }

    describe('lifecycle', () => {
      it('is open after open(), closed after close(), and both are idempotent', async () => {
        expect(store.status).toBe('open');
        await store.open();
        expect(store.status).toBe('open');
        await store.close();
        expect(store.status).toBe('closed');
        await store.close();
        expect(store.status).toBe('closed');
      });

      it('rejects reads and writes once closed, with BOSUN_STORE_CLOSED', async () => {
        await store.write([put('a', 1)]);
        await store.close();
        expect((await rejection(store.get('a'))).code).toBe('BOSUN_STORE_CLOSED');
        expect((await rejection(store.range({}))).code).toBe('BOSUN_STORE_CLOSED');
        expect((await rejection(store.write([put('b', 2)]))).code).toBe('BOSUN_STORE_CLOSED');
      });

      it('applies nothing of a write rejected because the store is closed', async () => {
        await store.close();
        await rejection(store.write([put('late', 1)]));
        await reopen();
        expect(await store.get('late')).toBeUndefined();
      });

      it('close() waits for writes still pending, which then commit', async () => {
        const settled: string[] = [];
        const writes = [
          store.write([put('p1', 1)]).then(() => settled.push('p1')),
          store.write([put('p2', 2)]).then(() => settled.push('p2')),
        ];
        await store.close();
        expect(settled).toEqual(['p1', 'p2']);
        await Promise.all(writes);
        await reopen();
        expect(await store.get('p1')).toBe(1);
        expect(await store.get('p2')).toBe(2);
      });

      it('a reopened store sees the data, deletes included', async () => {
        await store.write([put('kept', { n: 1 }), put('gone', true)]);
        await store.write([del('gone'), put('later', [1, 2])]);
        await reopen();
        expect(store.status).toBe('open');
        expect(await store.get('kept')).toEqual({ n: 1 });
        expect(await store.get('gone')).toBeUndefined();
        expect(await store.range({})).toEqual([
          ['kept', { n: 1 }],
          ['later', [1, 2]],
        ]);
      });
    });

    describe('get, put and del', () => {
      it('returns undefined for a missing key', async () => {
        expect(await store.get('missing')).toBeUndefined();
      });

      it('round-trips every JSON value', async () => {
        const values = { obj: { a: { b: [1, 'two', null] } }, arr: [], str: 'é😀\n', num: -1.5, nul: null, yes: true, zero: 0 };
        await store.write(Object.entries(values).map(([k, v]) => put(k, v)));
        for (const [k, v] of Object.entries(values)) expect(await store.get(k)).toEqual(v);
      });

      it('deletes a key, and deleting a missing key is no error', async () => {
        await store.write([put('k', 1)]);
        await store.write([del('k'), del('never-there')]);
        expect(await store.get('k')).toBeUndefined();
      });

      it('stores the value as it was when write() was called', async () => {
        const value = { n: 1 };
        const written = store.write([put('k', value)]);
        value.n = 2;
        await written;
        expect(await store.get('k')).toEqual({ n: 1 });
      });

      it("stores a put's JSON text as it is when the caller gives it, rather than serialising the value again", async () => {
        // The text is the caller's promise of what the value serialises to; a text that
        // differs shows which of the two was stored.
        await store.write([{ type: 'put', key: 'k', value: { n: 1 }, encoded: '{"n":1,"from":"text"}' }]);
        expect(await store.get('k')).toEqual({ n: 1, from: 'text' });
      });

      it('hands out copies: mutating a read value does not change the store', async () => {
        await store.write([put('k', { n: 1 })]);
        const read = await store.get<{ n: number }>('k');
        read!.n = 99;
        expect(await store.get('k')).toEqual({ n: 1 });
      });

      it('rejects only the caller whose value cannot be stored; the rest of its batch commits', async () => {
        const circular: Record<string, unknown> = {};
        circular.self = circular;
        const good = store.write([put('good', 1)]);
        const bad = rejection(store.write([put('bad', circular)]));
        const noJson = rejection(store.write([put('undef', undefined)]));
        await good;
        const error = await bad;
        expect(error.code).toBe('BOSUN_STORE_WRITE_FAILED');
        expect(error.message).toContain('"bad"');
        expect((await noJson).code).toBe('BOSUN_STORE_WRITE_FAILED');
        expect(await store.get('good')).toBe(1);
        expect(await store.get('bad')).toBeUndefined();
        expect(await store.get('undef')).toBeUndefined();
      });
    });

    describe('batches and ordering', () => {
      it('applies all the operations of one write', async () => {
        await store.write([put('a', 1), put('b', 2), put('c', 3)]);
        expect(await store.range({})).toEqual([
          ['a', 1],
          ['b', 2],
          ['c', 3],
        ]);
      });

      it('applies the operations of one write in order', async () => {
        await store.write([put('k', 1), put('k', 2), put('gone', 1), del('gone'), del('back'), put('back', 'yes')]);
        expect(await store.get('k')).toBe(2);
        expect(await store.get('gone')).toBeUndefined();
        expect(await store.get('back')).toBe('yes');
      });

      it('applies writes of the same tick in call order', async () => {
        await Promise.all([store.write([put('k', 'first')]), store.write([put('k', 'second'), put('j', 1)]), store.write([del('j')])]);
        expect(await store.get('k')).toBe('second');
        expect(await store.get('j')).toBeUndefined();
      });

      it('applies writes across ticks and batches in call order', async () => {
        const writes: Promise<void>[] = [];
        for (let i = 1; i <= 50; i++) {
          writes.push(store.write([put('counter', i), put(`log!${String(i).padStart(3, '0')}`, i)]));
          if (i % 7 === 0) await nextTurn();
        }
        await Promise.all(writes);
        expect(await store.get('counter')).toBe(50);
        expect((await store.range({ ...prefixRange('log'), reverse: true, limit: 1 }))[0]).toEqual(['log!050', 50]);
        expect(store.commitStats.batchesWritten).toBeGreaterThan(1);
      });

      it('resolves each write only once its batch is readable', async () => {
        const seen = await Promise.all(['a', 'b', 'c'].map((key) => store.write([put(key, key)]).then(() => store.get(key))));
        expect(seen).toEqual(['a', 'b', 'c']);
      });
    });

    describe('group commit', () => {
      it('merges the writes of one tick into one batch', async () => {
        const before = store.commitStats;
        await Promise.all([store.write([put('a', 1)]), store.write([put('b', 2), put('c', 3)]), store.write([del('d')])]);
        const after = store.commitStats;
        expect(after.batchesWritten - before.batchesWritten).toBe(1);
        expect(after.opsWritten - before.opsWritten).toBe(4);
        expect(after.writesCommitted - before.writesCommitted).toBe(3);
      });

      it('merges writes an async caller issues after awaiting, within the same tick', async () => {
        const before = store.commitStats;
        const writer = async (key: string) => {
          await Promise.resolve();
          await Promise.resolve();
          return store.write([put(key, key)]);
        };
        // From a macrotask callback, as an incoming frame or a timer would write: Node runs
        // that callback's ticks before its promise continuations.
        await new Promise<void>((resolve, reject) =>
          setImmediate(() => {
            Promise.all([store.write([put('x', 0)]), writer('y'), writer('z')]).then(() => resolve(), reject);
          }),
        );
        expect(store.commitStats.batchesWritten - before.batchesWritten).toBe(1);
        expect(await store.range({})).toEqual([
          ['x', 0],
          ['y', 'y'],
          ['z', 'z'],
        ]);
      });

      it('puts writes of a later turn into a later batch, applied after the earlier one', async () => {
        const before = store.commitStats;
        const first = store.write([put('k', 1)]);
        await nextTurn(); // the first batch has been handed to the store (and may be in flight)
        const later = [store.write([put('k', 2)]), store.write([put('k', 3)])];
        await Promise.all([first, ...later]);
        expect(await store.get('k')).toBe(3);
        const after = store.commitStats;
        expect(after.batchesWritten - before.batchesWritten).toBe(2);
        expect(after.writesCommitted - before.writesCommitted).toBe(3);
      });

      it('counts nothing for a write with no operations, yet settles it in order', async () => {
        const before = store.commitStats;
        const order: string[] = [];
        await Promise.all([
          store.write([put('a', 1)]).then(() => order.push('a')),
          store.write([]).then(() => order.push('empty')),
        ]);
        expect(order).toEqual(['a', 'empty']);
        expect(store.commitStats.opsWritten - before.opsWritten).toBe(1);
        const idle = store.commitStats;
        await store.write([]);
        expect(store.commitStats).toEqual(idle);
      });

      if (supports.failWrites) it('rejects every caller of a failed batch and applies none of it', async () => {
        await store.write([put('before', 1)]);
        const fault = new Error('disk full');
        harness.failWrites!(store, fault);
        const before = store.commitStats;
        const writes = [store.write([put('a', 1)]), store.write([put('before', 2), del('before')]), store.write([put('b', 2)])];
        const errors = await Promise.all(writes.map(rejection));
        for (const error of errors) {
          expect(error.code).toBe('BOSUN_STORE_WRITE_FAILED');
          expect(error.cause).toBe(fault);
          expect(error.message).toContain('disk full');
        }
        expect(store.commitStats.batchesFailed - before.batchesFailed).toBe(1);
        expect(store.commitStats.batchesWritten).toBe(before.batchesWritten);
        expect(await store.range({})).toEqual([['before', 1]]);

        harness.failWrites!(store, null);
        await store.write([put('a', 'after')]);
        expect(await store.range({})).toEqual([
          ['a', 'after'],
          ['before', 1],
        ]);
      });
    });

    describe('range', () => {
      const keys = ['a', 'b', 'c', 'd', 'e'];

      beforeEach(async () => {
        await store.write(keys.map((k) => put(k, k.toUpperCase())));
      });

      const cases: Array<[string, RangeOptions, string[]]> = [
        ['everything', {}, ['a', 'b', 'c', 'd', 'e']],
        ['gt', { gt: 'b' }, ['c', 'd', 'e']],
        ['gte', { gte: 'b' }, ['b', 'c', 'd', 'e']],
        ['lt', { lt: 'd' }, ['a', 'b', 'c']],
        ['lte', { lte: 'd' }, ['a', 'b', 'c', 'd']],
        ['gt and lt', { gt: 'a', lt: 'e' }, ['b', 'c', 'd']],
        ['gte and lte', { gte: 'b', lte: 'd' }, ['b', 'c', 'd']],
        ['bounds between keys', { gt: 'aa', lt: 'cc' }, ['b', 'c']],
        ['gte over gt', { gt: 'b', gte: 'b' }, ['b', 'c', 'd', 'e']],
        ['lte over lt', { lt: 'd', lte: 'd' }, ['a', 'b', 'c', 'd']],
        ['limit', { limit: 2 }, ['a', 'b']],
        ['limit 0', { limit: 0 }, []],
        ['limit -1 (none)', { limit: -1 }, ['a', 'b', 'c', 'd', 'e']],
        ['limit Infinity (none)', { limit: Infinity }, ['a', 'b', 'c', 'd', 'e']],
        ['limit above the count', { gte: 'd', limit: 10 }, ['d', 'e']],
        ['reverse', { reverse: true }, ['e', 'd', 'c', 'b', 'a']],
        ['reverse with limit keeps the highest', { reverse: true, limit: 2 }, ['e', 'd']],
        ['reverse within bounds', { gt: 'a', lte: 'c', reverse: true }, ['c', 'b']],
        ['empty: lower above upper', { gt: 'd', lt: 'b' }, []],
        ['empty: nothing beyond the last key', { gt: 'e' }, []],
      ];

      for (const [label, options, expected] of cases) {
        it(`honours ${label}`, async () => {
          expect(await store.range(options)).toEqual(expected.map((k) => [k, k.toUpperCase()]));
        });
      }

      it('agrees with abstract-level semantics for any bounds, limit and direction', async () => {
        const candidates = ['', 'a', 'aa', 'b', 'bb', 'c', 'd', 'e', 'f'];
        const bound = fc.option(fc.constantFrom(...candidates), { nil: undefined });
        await fc.assert(
          fc.asyncProperty(
            fc.record({ gt: bound, gte: bound, lt: bound, lte: bound, limit: fc.option(fc.integer({ min: -1, max: 6 }), { nil: undefined }), reverse: fc.boolean() }),
            async (options) => {
              const got = (await store.range(options)).map(([k]) => k);
              expect(got).toEqual(expectedRange(keys, options));
            },
          ),
          { numRuns: 150 },
        );
      });

      it('sees the writes that came after it was populated', async () => {
        await store.write([del('c'), put('bb', 'BB')]);
        expect((await store.range({ gt: 'a', lt: 'd' })).map(([k]) => k)).toEqual(['b', 'bb']);
      });

      it('orders keys by UTF-8 bytes, as LevelDB does', async () => {
        const unicode = ['u!a', 'u!z', 'u!é', 'u!\uffee', 'u!😀'];
        await store.write([...unicode].reverse().map((k) => put(k, 1)));
        expect((await store.range(prefixRange('u'))).map(([k]) => k)).toEqual(unicode);
      });

      it('selects exactly one stream with prefixRange, not its neighbours', async () => {
        await store.write([
          put(outKey('a~b~m', 1), 1),
          put(outKey('a~b~m', 12), 12),
          put(outKey('a~b~m2', 1), 'other stream'),
          put(outKey('a~b~l', 1), 'other stream'),
          put('out!a~b~m', 'no separator'),
        ]);
        const rows = await store.range(prefixRange('out!a~b~m'));
        expect(rows).toEqual([
          [outKey('a~b~m', 1), 1],
          [outKey('a~b~m', 12), 12],
        ]);
        expect(await store.range({ ...prefixRange('out!a~b~m'), reverse: true, limit: 1 })).toEqual([[outKey('a~b~m', 12), 12]]);
      });
    });

    describe('corrupt records', () => {
      it('reports a record that is not JSON by key, with BOSUN_STORE_CORRUPT, moves it to quarantine, and reads go on without it', async () => {
        await store.write([put('ok', 1), put('bad', 2), put('zz', 3)]);
        store = await harness.corrupt(store, 'bad', '{"truncated":');
        const seen: Array<[string, string]> = [];
        store.onCorrupt = (key, error) => seen.push([key, (error as { code: string }).code]);
        expect(await store.range({})).toEqual([
          ['ok', 1],
          ['zz', 3],
        ]);
        expect(seen).toEqual([['bad', 'BOSUN_STORE_CORRUPT']]);
        await store.write([]); // the quarantine write has settled
        expect(await store.get('bad')).toBeUndefined();
        expect(await store.get('quarantine!bad')).toEqual({ text: '{"truncated":' });
        expect(await store.get('ok')).toBe(1);
      });
    });
  });
}
