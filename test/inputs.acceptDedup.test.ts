import { describe, expect, it } from 'vitest';
import { AcceptDedup, acceptedIdKey, type AcceptNew } from '../src/runtime/acceptDedup.ts';
import type { AcceptResult } from '../src/runtime/Node.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';

/** Idempotent accept on its own: a store, a clock, and a stand-in for the node's accept. */
async function setup(windowMs = 60_000) {
  const store = new MemoryStore();
  await store.open();
  const clock = { now: () => time };
  let time = 1_000_000;
  const queued: unknown[] = [];
  // Accepts what has a method, refuses the rest; writes the id records as the node does, with the messages.
  const acceptNew: AcceptNew = async (items, options) => {
    await new Promise((r) => setTimeout(r, 5));
    const perItem: AcceptResult[][] = items.map((item) => {
      const m = item as { id?: string; toNode?: string; toNodes?: string[]; method?: string };
      if (!m.method) return [{ error: { code: 'BOSUN_MISSING_FIELD', message: 'field "method" is required' } }];
      const targets = m.toNodes ?? [m.toNode!];
      return targets.map((toNode, i) => ({ id: targets.length > 1 ? `${m.id}-${i}` : (m.id ?? 'generated'), toNode, status: 'accepted' as const }));
    });
    queued.push(...items.filter((_, i) => !('error' in perItem[i]![0]!)));
    await store.write(options.recordAccepted(perItem));
    return perItem;
  };
  const dedup = new AcceptDedup(store, 'n1', clock as never, windowMs);
  return { store, dedup, acceptNew, queued, advance: (ms: number) => (time += ms) };
}

const message = (id: string, extra: Record<string, unknown> = {}) => ({ id, toNode: 'n2', method: 'REQNone', ...extra });

describe('AcceptDedup', () => {
  it('answers an id accepted before as a duplicate of its first acceptance, and queues nothing', async () => {
    const { dedup, acceptNew, queued } = await setup();
    expect(await dedup.accept([message('a'), message('b')], {}, acceptNew)).toEqual([
      { id: 'a', toNode: 'n2', status: 'accepted' },
      { id: 'b', toNode: 'n2', status: 'accepted' },
    ]);
    expect(await dedup.accept([message('b'), message('c')], {}, acceptNew)).toEqual([
      { id: 'b', toNode: 'n2', status: 'duplicate' },
      { id: 'c', toNode: 'n2', status: 'accepted' },
    ]);
    expect(queued).toHaveLength(3);
  });

  it('queues an id once when two clients send it at the same time', async () => {
    const { dedup, acceptNew, queued } = await setup();
    const [one, two] = await Promise.all([dedup.accept(message('race'), {}, acceptNew), dedup.accept(message('race'), {}, acceptNew)]);
    expect([one[0]!, two[0]!].map((r) => ('status' in r ? r.status : 'error')).sort()).toEqual(['accepted', 'duplicate']);
    expect(queued).toHaveLength(1);
  });

  it('takes the first of an id twice in one input, and answers the second as its duplicate', async () => {
    const { dedup, acceptNew, queued } = await setup();
    expect(await dedup.accept([message('twice'), message('twice')], {}, acceptNew)).toEqual([
      { id: 'twice', toNode: 'n2', status: 'accepted' },
      { id: 'twice', toNode: 'n2', status: 'duplicate' },
    ]);
    expect(queued).toHaveLength(1);
  });

  it('answers a fanned-out id with every message it stood for', async () => {
    const { dedup, acceptNew } = await setup();
    await dedup.accept(message('fan', { toNodes: ['x', 'y'] }), {}, acceptNew);
    expect(await dedup.accept(message('fan', { toNodes: ['x', 'y'] }), {}, acceptNew)).toEqual([
      { id: 'fan-0', toNode: 'x', status: 'duplicate' },
      { id: 'fan-1', toNode: 'y', status: 'duplicate' },
    ]);
  });

  it('remembers nothing of a refused message: the same id, put right, is accepted', async () => {
    const { dedup, acceptNew } = await setup();
    expect(await dedup.accept({ id: 'fix', toNode: 'n2' }, {}, acceptNew)).toEqual([{ error: expect.objectContaining({ code: 'BOSUN_MISSING_FIELD' }) }]);
    expect(await dedup.accept(message('fix'), {}, acceptNew)).toEqual([{ id: 'fix', toNode: 'n2', status: 'accepted' }]);
  });

  it('forgets an id after the window, and never dedups messages without an id', async () => {
    const { dedup, acceptNew, queued, advance } = await setup(60_000);
    await dedup.accept(message('old'), {}, acceptNew);
    advance(60_000);
    expect(await dedup.accept(message('old'), {}, acceptNew)).toEqual([{ id: 'old', toNode: 'n2', status: 'accepted' }]);
    await dedup.accept([{ toNode: 'n2', method: 'REQNone' }, { toNode: 'n2', method: 'REQNone' }], {}, acceptNew);
    expect(queued).toHaveLength(4);
  });

  it('with a window of 0, takes every message', async () => {
    const { dedup, acceptNew, queued } = await setup(0);
    await dedup.accept(message('same'), {}, acceptNew);
    expect(await dedup.accept(message('same'), {}, acceptNew)).toEqual([{ id: 'same', toNode: 'n2', status: 'accepted' }]);
    expect(queued).toHaveLength(2);
  });

  it('sweeps the records past the window from the store, an hour at most after the last sweep', async () => {
    const { store, dedup, acceptNew, advance } = await setup(60_000);
    await dedup.accept(message('swept'), {}, acceptNew);
    expect(await store.get(acceptedIdKey('n1', 'swept'))).toBeDefined();
    advance(2 * 60 * 60 * 1000);
    await dedup.accept(message('kept'), {}, acceptNew);
    await new Promise((r) => setTimeout(r, 50));
    expect(await store.get(acceptedIdKey('n1', 'swept'))).toBeUndefined();
    expect(await store.get(acceptedIdKey('n1', 'kept'))).toBeDefined();
  });
});
