import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BosunNode } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import type { StoreOp, WriteOptions } from '../src/store/types.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { until } from './helpers/until.ts';

/**
 * A store whose process "dies" at the first write that matches: that write never
 * commits, and `crashed` gets the store a restarted process would find.
 */
class DiesAtWrite extends MemoryStore {
  constructor(
    private readonly matches: (ops: StoreOp[]) => boolean,
    private readonly crashed: (survivor: MemoryStore) => void,
  ) {
    super();
  }

  #dead = false;

  override write(ops: StoreOp[], options?: WriteOptions): Promise<void> {
    if (this.#dead) return new Promise(() => {});
    if (!this.matches(ops)) return super.write(ops, options);
    this.#dead = true;
    this.crashed(this.crash({ powerLoss: false }));
    return new Promise(() => {});
  }
}

const nodes: BosunNode[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const LINES = Array.from({ length: 60 }, (_, i) => `line-${i}`);

/** Sends LINES as ordered appends to ship1, whose store dies at the first write `dieAt` picks; returns the file's lines after a restart. */
async function appendThroughACrash(dieAt: (ops: StoreOp[]) => boolean, whileDown?: (file: string) => Promise<void>) {
  const bus = new EmbeddedBus();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bosun-append-crash-'));
  dirs.push(dataDir);
  const reports: string[] = [];
  const opts = { bus, helloIntervalSeconds: 0, onError: (r: { code: string }) => reports.push(r.code) };
  const central = await startNode({ node: 'central', ...opts });
  nodes.push(central);
  let first: BosunNode | undefined;
  let survivor: MemoryStore | undefined;
  const store = new DiesAtWrite(dieAt, (s) => {
    survivor = s;
    void first?.crash();
  });
  first = await startNode({ node: 'ship1', store, dataDir, ...opts });
  for (const line of LINES) {
    await central.accept({ toNode: 'ship1', method: 'REQToFileAppend', directory: 'd', fileName: 'log.txt', data: line, replyMethod: 'none' });
  }
  await until(() => survivor !== undefined);
  const file = path.join(dataDir, 'files', 'd', 'central', 'log.txt');
  await whileDown?.(file);
  const again = await startNode({ node: 'ship1', store: survivor!, dataDir, ...opts });
  nodes.push(again);
  const read = () => readFile(file, 'utf8').catch(() => '');
  await until(async () => (await read()).split('\n').length > LINES.length, 10_000, 'every line in the file');
  await until(() => central.idle);
  return { lines: (await read()).split('\n').slice(0, -1), reports };
}

const finishOfAppends = (ops: StoreOp[]) => ops.some((op) => op.type === 'del' && op.key.startsWith('exec!') && op.key.includes('~REQToFileAppend!'));
const startOfAppends = (ops: StoreOp[]) => ops.some((op) => op.type === 'put' && op.key.startsWith('exec!') && op.key.includes('~REQToFileAppend!'));

describe('a file append cut short by a crash', () => {
  it('between its effect and its finish is cut back and run again: every line once, in order, nothing reported interrupted', async () => {
    const { lines, reports } = await appendThroughACrash(finishOfAppends);
    expect(lines).toEqual(LINES);
    expect(reports).not.toContain('BOSUN_INTERRUPTED');
  });

  it('in the middle of its write (a torn last line) is cut back and run again', async () => {
    const { lines, reports } = await appendThroughACrash(finishOfAppends, (file) => appendFile(file, 'line-torn-hal'));
    expect(lines).toEqual(LINES);
    expect(reports).not.toContain('BOSUN_INTERRUPTED');
  });

  it('before its effect (the started record never committed) runs once after the restart', async () => {
    const { lines, reports } = await appendThroughACrash(startOfAppends);
    expect(lines).toEqual(LINES);
    expect(reports).not.toContain('BOSUN_INTERRUPTED');
  });
});
