import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sendToSocket, waitFor } from './helpers/fleet.ts';
import { useNatsFleet } from './helpers/natsFleet.ts';

/**
 * File appends are an effect bosun can check: a batch records each file's length before
 * it appends, and a crash is reconciled by cutting the file back and appending again. So
 * a receiving daemon SIGKILLed in the middle of a busy stream of appends leaves every
 * line in the file exactly once, in order, and nothing is reported interrupted.
 */
const COUNT = 20_000;
const fleet = useNatsFleet('bosun-append-kill-');

async function lines(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(0, -1);
}

describe('an ordered stream of file appends between two daemons', () => {
  it('puts every line in the file exactly once, in order, through SIGKILLs of the receiver, and reports nothing interrupted', async () => {
    const central = fleet.daemon('central');
    const ship1 = fleet.daemon('ship1');
    await Promise.all([central.start(), ship1.start()]);
    const messages = Array.from({ length: COUNT }, (_, i) => ({
      toNode: 'ship1',
      method: 'REQToFileAppend',
      directory: 'crash',
      fileName: 'lines.log',
      data: String(i),
      ACKTimeout: 1,
      retryWait: 0.2,
    }));
    const answers = await sendToSocket(central.dataDir, messages, COUNT);
    expect(answers.filter((a) => (a as { status?: string }).status === 'accepted')).toHaveLength(COUNT);

    const file = path.join(ship1.dataDir, 'files', 'crash', 'central', 'lines.log');
    const progress = (n: number) => waitFor(async () => (await lines(file)).length >= n, 90_000, `${n} lines`);
    await progress(3_000);
    await ship1.kill();
    await ship1.start();
    await progress(9_000);
    await ship1.kill();
    await ship1.start();
    await progress(COUNT);

    const written = await lines(file);
    const expected = Array.from({ length: COUNT }, (_, i) => String(i));
    expect(written.length, 'no line twice, none lost').toBe(COUNT);
    expect(written).toEqual(expected);
    const errorLog = await readFile(path.join(central.dataDir, 'files', 'errorLog', 'error.log'), 'utf8').catch(() => '');
    expect(errorLog).not.toContain('BOSUN_INTERRUPTED');
  });
});
