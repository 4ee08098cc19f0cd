import { describe, expect, it } from 'vitest';
import { BosunError } from '../src/errors.ts';
import { GroupCommit } from '../src/store/groupCommit.ts';

/** A commit function whose batches finish only when the test says so. */
function controlledCommit() {
  const batches: Array<{ ops: string[]; sync: boolean; finish: (error?: Error) => void }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const commit = (ops: string[], { sync }: { sync: boolean }) =>
    new Promise<void>((resolve, reject) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      batches.push({
        ops: [...ops],
        sync,
        finish: (error) => {
          inFlight -= 1;
          if (error) reject(error);
          else resolve();
        },
      });
    });
  return { commit, batches, maxInFlight: () => maxInFlight };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function track(promise: Promise<void>) {
  const state: { settled: 'pending' | 'resolved' | 'rejected'; error?: unknown } = { settled: 'pending' };
  promise.then(
    () => (state.settled = 'resolved'),
    (error: unknown) => {
      state.settled = 'rejected';
      state.error = error;
    },
  );
  return state;
}

describe('group commit', () => {
  it('merges the writes of one tick into one batch, in call order', async () => {
    const { commit, batches } = controlledCommit();
    const group = new GroupCommit(commit);
    group.write(['a1', 'a2'], false);
    group.write(['b1'], false);
    group.write(['c1'], false);
    await nextTurn();
    expect(batches.map((b) => b.ops)).toEqual([['a1', 'a2', 'b1', 'c1']]);
  });

  it('does not wait for a timer: the batch goes out before the next turn of the event loop', async () => {
    const { commit, batches } = controlledCommit();
    const group = new GroupCommit(commit);
    // Scheduled before the write, this callback runs at the first chance the event loop
    // gets to do anything else: the batch must already be out by then.
    const seenAtNextTurn = new Promise<number>((resolve) => setImmediate(() => resolve(batches.length)));
    group.write(['a'], false);
    expect(await seenAtNextTurn).toBe(1);
  });

  it('resolves a caller only when the batch holding its ops committed', async () => {
    const { commit, batches } = controlledCommit();
    const group = new GroupCommit(commit);
    const write = track(group.write(['a'], false));
    await nextTurn();
    expect(write.settled).toBe('pending');
    batches[0]!.finish();
    await nextTurn();
    expect(write.settled).toBe('resolved');
  });

  it('keeps at most one batch in flight; writes issued meanwhile form the next batch', async () => {
    const { commit, batches, maxInFlight } = controlledCommit();
    const group = new GroupCommit(commit);
    const first = track(group.write(['a'], false));
    await nextTurn();
    const second = track(group.write(['b'], false));
    await nextTurn();
    const third = track(group.write(['c'], false));
    await nextTurn();
    expect(batches.map((b) => b.ops)).toEqual([['a']]);

    batches[0]!.finish();
    await nextTurn();
    expect(first.settled).toBe('resolved');
    expect(second.settled).toBe('pending');
    expect(batches.map((b) => b.ops)).toEqual([['a'], ['b', 'c']]);

    batches[1]!.finish();
    await nextTurn();
    expect([second.settled, third.settled]).toEqual(['resolved', 'resolved']);
    expect(maxInFlight()).toBe(1);
  });

  it('rejects every caller of a failed batch with BOSUN_STORE_WRITE_FAILED and the cause', async () => {
    const { commit, batches } = controlledCommit();
    const group = new GroupCommit(commit);
    const writes = [track(group.write(['a'], false)), track(group.write(['b'], false))];
    await nextTurn();
    const fault = new Error('EIO');
    batches[0]!.finish(fault);
    await nextTurn();
    for (const write of writes) {
      expect(write.settled).toBe('rejected');
      expect(write.error).toBeInstanceOf(BosunError);
      expect((write.error as BosunError).code).toBe('BOSUN_STORE_WRITE_FAILED');
      expect((write.error as BosunError).cause).toBe(fault);
    }
    expect(group.stats).toEqual({ batchesWritten: 0, opsWritten: 0, writesCommitted: 0, batchesFailed: 1 });
  });

  it('lets a failed batch fail only its own callers; the next batch still commits', async () => {
    const { commit, batches } = controlledCommit();
    const group = new GroupCommit(commit);
    const failed = track(group.write(['a'], false));
    await nextTurn();
    const next = track(group.write(['b'], false));
    batches[0]!.finish(new Error('EIO'));
    await nextTurn();
    batches[1]!.finish();
    await nextTurn();
    expect([failed.settled, next.settled]).toEqual(['rejected', 'resolved']);
  });

  it('passes a BosunError from the commit on unchanged', async () => {
    const closed = new BosunError('BOSUN_STORE_CLOSED', 'gone');
    const group = new GroupCommit<string>(async () => {
      throw closed;
    });
    await expect(group.write(['a'], false)).rejects.toBe(closed);
  });

  it('turns a commit that throws synchronously into a rejection', async () => {
    const group = new GroupCommit<string>(() => {
      throw new Error('sync throw');
    });
    await expect(group.write(['a'], false)).rejects.toMatchObject({ code: 'BOSUN_STORE_WRITE_FAILED', message: expect.stringContaining('sync throw') });
  });

  it('syncs a batch when any of its writes asks for sync', async () => {
    const { commit, batches } = controlledCommit();
    const group = new GroupCommit(commit);
    group.write(['a'], false);
    group.write(['b'], true);
    await nextTurn();
    batches[0]!.finish();
    group.write(['c'], false);
    await nextTurn();
    expect(batches.map((b) => b.sync)).toEqual([true, false]);
  });

  it('drain() waits for the batch in flight and the one queued behind it', async () => {
    const { commit, batches } = controlledCommit();
    const group = new GroupCommit(commit);
    await group.drain(); // idle: resolves at once
    group.write(['a'], false);
    await nextTurn();
    group.write(['b'], false).catch(() => {});
    const drained = track(group.drain());
    batches[0]!.finish();
    await nextTurn();
    expect(drained.settled).toBe('pending');
    batches[1]!.finish(new Error('failed writes still count as settled'));
    await nextTurn();
    expect(drained.settled).toBe('resolved');
    expect(group.idle).toBe(true);
  });

  it('settles an empty write in order without committing anything', async () => {
    const { commit, batches } = controlledCommit();
    const group = new GroupCommit(commit);
    const order: string[] = [];
    group.write(['a'], false).then(() => order.push('a'));
    await nextTurn();
    group.write([], false).then(() => order.push('empty'));
    await nextTurn();
    expect(order).toEqual([]);
    batches[0]!.finish();
    await nextTurn();
    expect(order).toEqual(['a', 'empty']);
    expect(batches).toHaveLength(1);
  });

  it('counts batches, ops and the writes they carried', async () => {
    const group = new GroupCommit<string>(async () => {});
    await Promise.all([group.write(['a', 'b'], false), group.write(['c'], false)]);
    await group.write(['d'], false);
    expect(group.stats).toEqual({ batchesWritten: 2, opsWritten: 4, writesCommitted: 3, batchesFailed: 0 });
  });

  it('copies the caller’s op array, so later changes to it do not leak into the batch', async () => {
    const { commit, batches } = controlledCommit();
    const group = new GroupCommit(commit);
    const ops = ['a'];
    group.write(ops, false);
    ops.push('late');
    await nextTurn();
    expect(batches[0]!.ops).toEqual(['a']);
  });
});
