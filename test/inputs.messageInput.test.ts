import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BosunError } from '../src/errors.ts';
import { acceptInput, acceptInputs, type AcceptingNode } from '../src/inputs/messageInput.ts';
import { MAX_MESSAGE_BYTES } from '../src/message.ts';
import type { AcceptResult, BosunNode } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { removeTempDirs, tempDir } from './helpers/daemon.ts';

/** The input contract every input shares: one answer per message, in order, each on its own. */

/** A node that accepts everything and records what it was handed. */
function recordingNode(): AcceptingNode & { calls: unknown[][] } {
  const calls: unknown[][] = [];
  return {
    calls,
    async accept(input: unknown): Promise<AcceptResult[]> {
      const items = input as Array<{ id: string }>;
      calls.push(items);
      return items.map((m) => ({ id: m.id, toNode: 'n', status: 'accepted' as const }));
    },
  };
}

/** A message whose JSON form is exactly `bytes` long. */
function messageOfSize(bytes: number, id = 'sized'): Record<string, unknown> {
  const base = { id, toNode: 'ship1', method: 'REQToFileAppend', data: '' };
  return { ...base, data: 'x'.repeat(bytes - Buffer.byteLength(JSON.stringify(base))) };
}

describe('acceptInput', () => {
  it('refuses messages over MAX_MESSAGE_BYTES in place and hands the rest to the node in runs', async () => {
    const node = recordingNode();
    const small = (id: string) => ({ id, toNode: 'n', method: 'REQNone' });
    const input = [small('a'), messageOfSize(MAX_MESSAGE_BYTES + 1, 'big1'), small('b'), small('c'), messageOfSize(MAX_MESSAGE_BYTES + 10, 'big2')];
    const answers = await acceptInput(node, input);
    expect(answers.map((a) => ('error' in a ? a.error.code : a.id))).toEqual(['a', 'BOSUN_MESSAGE_TOO_LARGE', 'b', 'c', 'BOSUN_MESSAGE_TOO_LARGE']);
    expect(node.calls.map((c) => (c as Array<{ id: string }>).map((m) => m.id))).toEqual([['a'], ['b', 'c']]);
    expect(answers[1]).toEqual({
      error: { code: 'BOSUN_MESSAGE_TOO_LARGE', message: 'message 2 of 5 (id "big1") is 1.0 MiB as JSON; a message may be at most 1 MiB' },
    });
  });

  it('batches values read together, answering exactly as one call per value would', async () => {
    const node = recordingNode();
    const m = (id: string) => ({ id, toNode: 'n', method: 'REQNone' });
    const values = [m('a'), [m('b'), messageOfSize(MAX_MESSAGE_BYTES + 1, 'big'), m('c')], m('d'), []];
    const answers = await acceptInputs(node, values);
    expect(answers.map((a) => ('error' in a ? a.error.message : a.id))).toEqual([
      'a',
      'b',
      'message 2 of 3 (id "big") is 1.0 MiB as JSON; a message may be at most 1 MiB',
      'c',
      'd',
    ]);
    expect(node.calls.map((c) => (c as Array<{ id: string }>).map((x) => x.id))).toEqual([['a', 'b'], ['c', 'd']]);
    const oneByOne = (await Promise.all(values.map((v) => acceptInput(recordingNode(), v)))).flat();
    expect(oneByOne).toEqual(answers);
  });

  it('takes a message of exactly MAX_MESSAGE_BYTES', async () => {
    const node = recordingNode();
    const exact = messageOfSize(MAX_MESSAGE_BYTES);
    expect(Buffer.byteLength(JSON.stringify(exact))).toBe(MAX_MESSAGE_BYTES);
    expect(await acceptInput(node, exact)).toEqual([{ id: 'sized', toNode: 'n', status: 'accepted' }]);
  });

  it('takes a single message object as well as an array', async () => {
    const node = recordingNode();
    expect(await acceptInput(node, { id: 'one' })).toHaveLength(1);
    expect(await acceptInput(node, [])).toEqual([]);
    expect(node.calls).toEqual([[{ id: 'one' }]]);
  });

  it('answers every message of a run with the error when the node fails', async () => {
    const failing: AcceptingNode = {
      accept: async () => {
        throw new BosunError('BOSUN_STORE_WRITE_FAILED', 'disk full');
      },
    };
    const answers = await acceptInput(failing, [{ a: 1 }, { b: 2 }]);
    expect(answers).toEqual([
      { error: { code: 'BOSUN_STORE_WRITE_FAILED', message: 'disk full' } },
      { error: { code: 'BOSUN_STORE_WRITE_FAILED', message: 'disk full' } },
    ]);
  });

  describe('with a real node', () => {
    let node: BosunNode;
    beforeAll(async () => {
      node = await startNode({ node: 'ship1', bus: new EmbeddedBus(), store: new MemoryStore(), dataDir: await tempDir(), helloIntervalSeconds: 0 });
    });
    afterAll(async () => {
      await node.stop();
      removeTempDirs();
    });

    it('gives one answer per produced message: toNodes fans out', async () => {
      const answers = await acceptInput(node, [
        { toNodes: ['a', 'b'], method: 'REQNone' },
        { method: 'REQNone' },
        { id: 'x', toNode: 'c', method: 'REQNone' },
      ]);
      expect(answers).toEqual([
        { id: expect.any(String), toNode: 'a', status: 'accepted' },
        { id: expect.any(String), toNode: 'b', status: 'accepted' },
        { error: { code: 'BOSUN_MISSING_FIELD', message: expect.stringContaining('toNode') } },
        { id: 'x', toNode: 'c', status: 'accepted' },
      ]);
    });

    it('refuses what is not a message object, and only that', async () => {
      const answers = await acceptInput(node, [42, 'text', null, [{ toNode: 'a' }], { id: 'ok', toNode: 'a', method: 'REQNone' }]);
      expect(answers.map((a) => ('error' in a ? a.error.code : a.status))).toEqual([
        'BOSUN_BAD_MESSAGE',
        'BOSUN_BAD_MESSAGE',
        'BOSUN_BAD_MESSAGE',
        'BOSUN_BAD_MESSAGE',
        'accepted',
      ]);
    });
  });
});
