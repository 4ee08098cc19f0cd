import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonProcess, sendToSocket, waitFor } from './helpers/fleet.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';

/**
 * File appends are an effect bosun can check: a batch records each file's length before
 * it appends, and a crash is reconciled by cutting the file back and appending again. So
 * a receiving daemon SIGKILLed in the middle of a busy stream of appends leaves every
 * line in the file exactly once, in order, and nothing is reported interrupted.
 */
const COUNT = 20_000;
let dir: string;
let nats: NatsServer;
let daemons: DaemonProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-append-kill-'));
  nats = await startNatsServer();
});

afterEach(async () => {
  await Promise.all(daemons.map((d) => d.kill()));
  daemons = [];
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
});

async function lines(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(0, -1);
}

describe('an ordered stream of file appends between two daemons', () => {
  it('puts every line in the file exactly once, in order, through SIGKILLs of the receiver, and reports nothing interrupted', async () => {
    const central = new DaemonProcess('central', path.join(dir, 'central'), ['--nats', nats.url]);
    const ship1 = new DaemonProcess('ship1', path.join(dir, 'ship1'), ['--nats', nats.url]);
    daemons.push(central, ship1);
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
