import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { consumeMessageFile, type FileConsumingNode } from '../src/inputs/messageFile.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { inputProgressKey } from '../src/store/keys.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';

/**
 * The input file's progress is written in the same batch as the messages it accepted:
 * a daemon that dies right after the node took a batch, before anything else, takes none
 * of that batch again.
 */
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function setup(count: number): Promise<{ node: BosunNode; file: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-fileprogress-'));
  const node = await startNode({ node: 'central', bus: new EmbeddedBus(), helloIntervalSeconds: 0 });
  cleanups.push(() => node.stop(100), () => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'inmsg.txt.processing-1');
  // For a node that is not there: every accepted message stays in the outbox, countable.
  await writeFile(file, Array.from({ length: count }, (_, i) => JSON.stringify({ id: `f-${i}`, toNode: 'offline', method: 'REQNone' })).join('\n'));
  return { node, file };
}

const options = { log: pino({ level: 'silent' }), shouldStop: () => false, maxMessageBytes: 1024 * 1024, batchMessages: 10 };

describe('the input file\'s progress', () => {
  it('is durable with the batch it belongs to: a batch the node took is not taken again after a crash', async () => {
    const { node, file } = await setup(35);
    // The process "dies" the moment the node has committed the second batch: nothing after
    // that accept runs (the .progress file is not rewritten).
    let accepts = 0;
    const dying: FileConsumingNode = {
      name: node.name,
      store: node.store,
      accept: async (input, o) => {
        const results = await node.accept(input, o);
        if (++accepts === 2) throw new Error('killed');
        return results;
      },
    };
    expect(await consumeMessageFile(dying, file, options)).toBe('interrupted');
    expect(JSON.parse(await readFile(`${file}.progress`, 'utf8'))).toEqual({ valuesDone: 10 });
    expect(await node.store.get(inputProgressKey(file))).toEqual({ valuesDone: 20 });

    expect(await consumeMessageFile(node, file, options)).toBe('done');
    const ids = (await node.queue({ node: 'offline', limit: 1000 })).map((q) => q.id);
    expect(ids).toEqual(Array.from({ length: 35 }, (_, i) => `f-${i}`));
    await expect(access(file)).rejects.toThrow();
    expect(await node.store.get(inputProgressKey(file))).toBeUndefined();
  });

  it('moves on past values the node refuses, recording them as done', async () => {
    const { node, file } = await setup(3);
    await writeFile(file, ['{"toNode":"offline"}', 'not json', JSON.stringify({ id: 'ok', toNode: 'offline', method: 'REQNone' })].join('\n'));
    const noAccepted: FileConsumingNode = { name: node.name, store: node.store, accept: (input, o) => node.accept(input, o) };
    expect(await consumeMessageFile(noAccepted, file, { ...options, batchMessages: 1 })).toBe('done');
    expect((await node.queue({ node: 'offline' })).map((q) => q.id)).toEqual(['ok']);
  });
});
