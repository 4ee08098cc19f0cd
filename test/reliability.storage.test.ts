import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { inKey, outKey, prefixRange } from '../src/store/keys.ts';
import type { StoreOp } from '../src/store/types.ts';
import { Harness, removeHarnessFiles } from './helpers/harness.ts';

/**
 * Storage faults. A store that fails writes must cost availability, never safety: the
 * node refuses what it cannot make durable, with a clear error, goes on delivering what
 * it already holds, and comes back by itself when writes work again. A corrupt record is
 * one bad record: reported and put aside, never the end of the node.
 */

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.dispose()));
});
afterAll(() => removeHarnessFiles());

async function harness(): Promise<Harness> {
  const h = await Harness.create({ nodes: ['a', 'b'], windowSize: 4 });
  harnesses.push(h);
  return h;
}

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

/** Heals and drains until `expected` all ran on b (or 60 s of virtual time passed). */
async function drain(h: Harness, expected: string[]): Promise<void> {
  await h.healAndDrain({ maxVirtualMs: 60_000, done: () => expected.every((id) => h.recorder.runs.get('b')?.includes(id)) });
}

function ranOn(h: Harness, node: string, prefix: string): string[] {
  return (h.recorder.runs.get(node) ?? []).filter((id) => id.startsWith(prefix));
}

const startsRun = (ops: readonly StoreOp[]) => ops.some((op) => op.type === 'put' && op.key.startsWith('exec!'));

describe('reliability: a store that fails writes', () => {
  it('makes the node refuse new messages with BOSUN_STORE_WRITE_FAILED', async () => {
    const h = await harness();
    h.failWrites('a', true);
    const results = [...(await h.send('a', 'b', 'ordered', ['x1', 'x2'])), ...(await h.send('a', 'b', 'unordered', ['y1']))];
    for (const r of results) {
      expect(r.outcome).toBe('refused');
      expect(r.error?.code).toBe('BOSUN_STORE_WRITE_FAILED');
      expect(r.error?.message).toMatch(/store write failed/);
    }
    h.failWrites('a', false);
    await drain(h, []);
    await h.advance(10_000);
    expect(h.recorder.runs.get('b')).toBeUndefined();
  });

  it('keeps delivering what it already holds, and recovers by itself when writes work again', async () => {
    const h = await harness();
    const nodeBefore = h.node('a');
    h.isolate('b');
    const ordered = ids('o', 10); // more than the window: part of it must be read back from the outbox
    const unordered = ids('u', 5);
    await h.send('a', 'b', 'ordered', ordered);
    await h.send('a', 'b', 'unordered', unordered);
    await h.advance(3_000);

    h.failWrites('a', true);
    h.heal();
    for (let i = 0; i < 100 && ranOn(h, 'b', '').length < 15; i++) await h.advance(250);
    expect(ranOn(h, 'b', 'o')).toEqual(ordered);
    expect(ranOn(h, 'b', 'u').sort()).toEqual(unordered);
    expect((await h.send('a', 'b', 'ordered', ['refused1']))[0]!.outcome).toBe('refused');

    // Writes work again: no restart, the same node takes new messages and delivers them.
    h.failWrites('a', false);
    const later = await h.send('a', 'b', 'ordered', ['o-after1', 'o-after2']);
    expect(later.map((r) => r.outcome)).toEqual(['accepted', 'accepted']);
    await h.send('a', 'b', 'unordered', ['u-after1']);
    await drain(h, ['o-after1', 'o-after2', 'u-after1']);
    expect(h.node('a')).toBe(nodeBefore);
    expect(ranOn(h, 'b', 'o')).toEqual([...ordered, 'o-after1', 'o-after2']);
    expect(ranOn(h, 'b', 'u').sort()).toEqual([...unordered, 'u-after1'].sort());
    expect(ranOn(h, 'b', 'refused')).toEqual([]);
  });

  it('on the receiving side, ACKs nothing it could not write and takes it all once writes work again', async () => {
    const h = await harness();
    h.failWrites('b', true);
    await h.send('a', 'b', 'ordered', ids('o', 5));
    await h.send('a', 'b', 'unordered', ids('u', 3));
    await h.advance(5_000);
    expect(h.recorder.runs.get('b')).toBeUndefined();
    expect([...h.node('a').senders().values()].every((s) => !s.drained)).toBe(true);

    h.failWrites('b', false);
    await drain(h, [...ids('o', 5), ...ids('u', 3)]);
    expect(ranOn(h, 'b', 'o')).toEqual(ids('o', 5));
    expect(ranOn(h, 'b', 'u').sort()).toEqual(ids('u', 3));
  });

  it('runs a message whose started record could not be written once writes work again, in order and without a restart', async () => {
    const h = await harness();
    h.failWritesWhere('b', startsRun, 1);
    await h.send('a', 'b', 'ordered', ['o1', 'o2', 'o3']);
    await drain(h, ['o1', 'o2', 'o3']);
    expect(ranOn(h, 'b', 'o')).toEqual(['o1', 'o2', 'o3']);
  });

  it('runs an unordered message whose started record could not be written once writes work again, without a restart', async () => {
    const h = await harness();
    h.failWritesWhere('b', startsRun, 1);
    await h.send('a', 'b', 'unordered', ['u1', 'u2']);
    await drain(h, ['u1', 'u2']);
    expect(ranOn(h, 'b', 'u').sort()).toEqual(['u1', 'u2']);
  });
});

describe('reliability: a corrupt record', () => {
  const outboxOf = (seq: number) => outKey('a~b~REQTestRecord', seq);

  /** The node is up, nothing spun on the bad record, and it was reported by key. */
  function expectReportedNotFatal(h: Harness, node: string, key: string): void {
    expect(h.readSpins).toEqual([]);
    expect(h.node(node).status).toBe('running');
    const corrupt = h.reports.filter((r) => r.node === node && r.code === 'BOSUN_STORE_CORRUPT');
    expect(corrupt.length).toBeGreaterThan(0);
    expect(corrupt[0]!.message).toContain(key);
    // Reported once (or a few times), not once per retry of a hot loop.
    expect(corrupt.length).toBeLessThan(5);
  }

  /** Put aside: reading the record's sublevel works again. */
  async function expectQuarantined(h: Harness, node: string, prefix: string, key: string): Promise<void> {
    const rows = await h.store(node).range(prefixRange(prefix));
    expect(rows.map(([k]) => k)).not.toContain(key);
  }

  for (const [where, seq, survivors] of [
    ['in the middle of', 2, ['o1', 'o3']],
    ['at the end of', 3, ['o1', 'o2']],
  ] as const) {
    it(`in the outbox (${where} a stream) is reported and quarantined, and the rest of the stream is delivered`, async () => {
      const h = await harness();
      h.isolate('b');
      await h.send('a', 'b', 'ordered', ['o1', 'o2', 'o3']);
      await h.advance(1_000);
      h.store('a').corrupt(outboxOf(seq), '{"message": {"id": "o2", trunc');
      // The record is read back from the store when the node starts.
      await h.crash('a', { powerLoss: false }).catch((e: unknown) => expect.fail(`node a did not start again: ${String(e)}`));
      await drain(h, [...survivors]);
      expectReportedNotFatal(h, 'a', outboxOf(seq));
      await expectQuarantined(h, 'a', 'out!a~b~REQTestRecord', outboxOf(seq));
      expect(ranOn(h, 'b', 'o')).toEqual(survivors);
    });
  }

  it('in the inbox is reported and quarantined, and the other messages still run, in order', async () => {
    const h = await harness();
    // Runs cannot start, so the messages wait in b's inbox.
    h.failWritesWhere('b', startsRun, Infinity);
    await h.send('a', 'b', 'ordered', ['o1', 'o2', 'o3']);
    await h.advance(2_000);
    expect(h.recorder.runs.get('b')).toBeUndefined();
    const key = inKey('a~b~REQTestRecord', 2);
    h.store('b').corrupt(key, '{"id": "o2", "method": "REQTestRe');
    await h.crash('b', { powerLoss: false }).catch((e: unknown) => expect.fail(`node b did not start again: ${String(e)}`));
    await h.send('a', 'b', 'ordered', ['o4']);
    await drain(h, ['o1', 'o3', 'o4']);
    expectReportedNotFatal(h, 'b', key);
    await expectQuarantined(h, 'b', 'in', key);
    expect(ranOn(h, 'b', 'o')).toEqual(['o1', 'o3', 'o4']);
  });
});
