import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../src/delivery/WorkQueue.ts';

interface Item {
  stream: string;
  seq: number;
}

const follows = (a: Item, b: Item) => b.stream === a.stream && b.seq === a.seq + 1;
const item = (stream: string, seq: number): Item => ({ stream, seq });

describe('a work queue handing out batches', () => {
  it('gives a stream\'s holder the consecutive items behind the one it took, up to a limit, and stops at a gap', () => {
    const q = new WorkQueue<Item>((i) => i.stream, true);
    for (const seq of [1, 2, 3, 4, 6]) q.push(item('s', seq));
    q.push(item('t', 1));
    const first = q.take()!;
    expect(first).toEqual(item('s', 1));
    expect(q.takeFollowing(first, 2, follows)).toEqual([item('s', 2), item('s', 3)]);
    expect(q.takeFollowing(item('s', 3), 10, follows)).toEqual([item('s', 4)]);
    expect(q.takeFollowing(item('s', 4), 10, follows)).toEqual([]);
    // The other stream runs beside it; s stays busy until its holder is done.
    expect(q.take()).toEqual(item('t', 1));
    expect(q.take()).toBeUndefined();
    q.done(first);
    expect(q.take()).toEqual(item('s', 6));
    expect(q.size).toBe(0);
  });

  it('unordered: takes following items of the same stream only while nothing else is between them', () => {
    const q = new WorkQueue<Item>((i) => i.stream, false);
    for (const i of [item('s', 1), item('s', 2), item('t', 1), item('s', 3)]) q.push(i);
    const first = q.take()!;
    expect(q.takeFollowing(first, 10, follows)).toEqual([item('s', 2)]);
    expect(q.take()).toEqual(item('t', 1));
    expect(q.take()).toEqual(item('s', 3));
    expect(q.size).toBe(0);
  });
});
