import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sendToSocket, waitFor } from './helpers/fleet.ts';
import { useNatsFleet } from './helpers/natsFleet.ts';

/**
 * The kernel's promise, checked end to end: two daemons as real processes over a real
 * nats-server, crashed with SIGKILL and the broker restarted mid-stream. Every effect of
 * an ordered stream of commands must happen exactly once, in order. A command that was
 * running when its node died is reported as interrupted and never re-run; its effect may
 * or may not have happened, so it is the only one allowed to be missing, and only if the
 * interruption was reported back to the sender.
 */
const COUNT = 1000;
const fleet = useNatsFleet('bosun-crash-');

function commands(effects: string) {
  return Array.from({ length: COUNT }, (_, i) => ({
    id: `m-${i}`,
    toNode: 'ship1',
    method: 'REQCliCommand',
    methodArgs: ['sh', '-c', `echo ${i} >> ${effects}`],
    ACKTimeout: 1,
    retryWait: 0.2,
    retries: -1,
  }));
}

async function effectLines(file: string): Promise<number[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

/** Ids the receiving node reported as interrupted (their error replies reach central). */
async function interruptedIds(centralDir: string): Promise<Set<number>> {
  const file = path.join(centralDir, 'files', 'REQCliCommand', 'ship1', 'REQCliCommand.result.error');
  const text = await readFile(file, 'utf8').catch(() => '');
  return new Set([...text.matchAll(/BOSUN_INTERRUPTED.*?m-(\d+)/g)].map((m) => Number(m[1])));
}

/** Every command either ran or was reported interrupted (a command may be both). */
async function everyCommandSettled(effects: string, centralDir: string): Promise<boolean> {
  const settled = new Set([...(await effectLines(effects)), ...(await interruptedIds(centralDir))]);
  return settled.size >= COUNT;
}

async function checkExactlyOnceInOrder(effects: string, centralDir: string): Promise<void> {
  const ran = await effectLines(effects);
  const interrupted = await interruptedIds(centralDir);
  expect(new Set(ran).size, 'no effect twice').toBe(ran.length);
  expect(ran, 'effects in order').toEqual([...ran].sort((a, b) => a - b));
  const missing = Array.from({ length: COUNT }, (_, i) => i).filter((i) => !ran.includes(i));
  for (const i of missing) expect(interrupted.has(i), `m-${i} is missing and was not reported interrupted`).toBe(true);
  expect(missing.length).toBeLessThanOrEqual(3);
  console.log(`checked ${COUNT} commands: ${ran.length} effects, ${interrupted.size} reported interrupted, ${missing.length} missing (all interrupted)`);
}

describe('two daemons over a real nats-server', () => {
  it('runs an ordered stream exactly once, in order, through receiver crashes and a broker restart', async () => {
    const effects = path.join(fleet.dir, 'effects.log');
    const central = fleet.daemon('central');
    const ship1 = fleet.daemon('ship1');
    await Promise.all([central.start(), ship1.start()]);

    const answers = await sendToSocket(central.dataDir, commands(effects), COUNT);
    expect(answers.filter((a) => (a as { status?: string }).status === 'accepted')).toHaveLength(COUNT);

    const progress = async (n: number) => waitFor(async () => (await effectLines(effects)).length >= n, 60_000, `${n} effects`);
    await progress(200);
    await ship1.kill();
    await ship1.start();
    await progress(450);
    await fleet.nats.kill();
    await new Promise((r) => setTimeout(r, 300));
    await fleet.nats.restart();
    await progress(700);
    await ship1.kill();
    await ship1.start();

    const interruptedOrRan = async () => everyCommandSettled(effects, central.dataDir);
    await waitFor(interruptedOrRan, 120_000, 'every command to run or be reported interrupted');
    await checkExactlyOnceInOrder(effects, central.dataDir);
  });

  it('delivers what a crashed sender still had queued, exactly once, in order', async () => {
    const effects = path.join(fleet.dir, 'effects.log');
    const central = fleet.daemon('central');
    const ship1 = fleet.daemon('ship1');
    await Promise.all([central.start(), ship1.start()]);

    await sendToSocket(central.dataDir, commands(effects), COUNT);
    await waitFor(async () => (await effectLines(effects)).length >= 50, 60_000, 'the first effects');
    await central.kill();
    const before = (await effectLines(effects)).length;
    expect(before).toBeLessThan(COUNT);
    await central.start();

    const interruptedOrRan = async () => everyCommandSettled(effects, central.dataDir);
    await waitFor(interruptedOrRan, 120_000, 'every queued command to run');
    await checkExactlyOnceInOrder(effects, central.dataDir);
  });

  it('delivers messages sent to a node that is down once it starts', async () => {
    const effects = path.join(fleet.dir, 'effects.log');
    const central = fleet.daemon('central');
    const ship1 = fleet.daemon('ship1');
    await central.start();
    await sendToSocket(central.dataDir, commands(effects).slice(0, 20), 20);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await effectLines(effects)).toEqual([]);
    await ship1.start();
    await waitFor(async () => (await effectLines(effects)).length >= 20, 30_000, '20 effects');
    expect(await effectLines(effects)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });
});
