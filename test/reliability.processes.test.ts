import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess, waitFor } from './helpers/fleet.ts';
import { checkStreams, FAULT_KINDS, formatReport, nemesisSchedule, readLines, runReliability, sendBatch } from './helpers/jepsen.ts';
import { startNatsServer } from './helpers/natsServer.ts';
import { startTcpProxy } from './helpers/tcpProxy.ts';

/**
 * The kernel's promise under a Jepsen-style nemesis, against real processes: nats-server,
 * central and two ships as `bosun start` daemons, ship1 behind a TCP proxy. Six streams
 * run from central (ordered and unordered commands, ordered file appends, to each ship)
 * while a seeded schedule kills, pauses, partitions and slows things down. After the
 * heal, every accepted command must have run exactly once, in order on ordered streams,
 * or have been reported interrupted. `BOSUN_NEMESIS_SEED` replays a schedule.
 */
const FAULT_PHASE_MS = 60_000;
const SETTLE_TIMEOUT_MS = 70_000;
const seed = Number(process.env.BOSUN_NEMESIS_SEED ?? Math.floor(Math.random() * 2 ** 31));

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-rel-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a fleet of daemons under a nemesis', () => {
  it('executes every accepted command once, in order per stream, through kills, pauses, broker restarts and a flaky link', { timeout: 175_000 }, async () => {
    const progress: string[] = [];
    const started = Date.now();
    const report = await runReliability({
      dir,
      seed,
      faultPhaseMs: FAULT_PHASE_MS,
      settleTimeoutMs: SETTLE_TIMEOUT_MS,
      log: (line) => progress.push(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`),
    }).finally(() => console.log(progress.join('\n')));
    console.log(formatReport(report));
    const t = report.verdict.totals;

    expect(report.crashed, 'daemons that died without a fault').toEqual([]);
    expect(report.deadAtEnd, 'processes down at the end').toEqual([]);
    for (const kind of FAULT_KINDS) expect(report.faults[kind], `faults of kind ${kind}`).toBeGreaterThan(0);
    expect(report.accepted, 'the workload got commands accepted').toBeGreaterThan(500);
    expect({ lost: t.lost, duplicated: t.duplicated, reordered: t.reordered, unexpected: t.unexpected }).toEqual({
      lost: 0,
      duplicated: 0,
      reordered: 0,
      unexpected: 0,
    });
    expect(report.settled, 'every accepted command ran or was reported interrupted').toBe(true);
  });
});

describe('an unordered stream across a restart of its sender', () => {
  it('runs commands accepted after the sender restarted with its outbox drained', { timeout: 60_000 }, async () => {
    const nats = await startNatsServer();
    const central = new DaemonProcess('central', path.join(dir, 'u-central'), ['--nats', nats.url]);
    const ship1 = new DaemonProcess('ship1', path.join(dir, 'u-ship1'), ['--nats', nats.url]);
    const effects = path.join(dir, 'u-effects.log');
    let next = 0;
    const commands = (count: number) =>
      Array.from({ length: count }, () => {
        const id = `n-${next++}`;
        return { id, toNode: 'ship1', method: 'REQnCliCommand', methodArgs: ['sh', '-c', `echo ${id} >> ${effects}`], ACKTimeout: 1, retryWait: 0.2, retries: -1 };
      });
    const send = async (count: number) => {
      const { answers } = await sendBatch(path.join(central.dataDir, 'bosun.sock'), commands(count), 10_000);
      expect(answers.filter((a) => (a as { status?: string }).status === 'accepted')).toHaveLength(count);
    };
    try {
      await Promise.all([central.start(), ship1.start()]);
      await send(20);
      await waitFor(async () => (await readLines(effects)).length >= 20, 20_000, 'the first 20 commands to run');
      // The ACKs have emptied central's outbox for the stream; now the sender restarts.
      await new Promise((r) => setTimeout(r, 500));
      await central.kill();
      await central.start();
      await send(20);
      await waitFor(async () => (await readLines(effects)).length >= 40, 10_000, 'the 20 commands accepted after the restart to run').catch(() => {});
      const ran = await readLines(effects);
      expect(ran.length, `ran: ${ran.join(' ')}`).toBe(40);
      expect(new Set(ran).size).toBe(40);
    } finally {
      await Promise.all([central.kill(), ship1.kill()]);
      await nats.stop();
    }
  });
});

describe('the checker', () => {
  const stream = { stream: 's', ordered: true };

  it('finds nothing wrong with a history executed once, in order', () => {
    const v = checkStreams([{ ...stream, accepted: ['a', 'b', 'c'], executed: ['a', 'b', 'c'] }]);
    expect(v.valid).toBe(true);
    expect(v.totals).toMatchObject({ accepted: 3, executed: 3, lost: 0, duplicated: 0, reordered: 0, unexpected: 0, unknown: 0 });
  });

  it('classifies lost (prefix, middle, postfix), duplicated, reordered and unexpected', () => {
    const v = checkStreams([{ ...stream, accepted: ['a', 'b', 'c', 'd', 'e', 'f'], executed: ['b', 'd', 'c', 'd', 'x'] }]);
    const s = v.streams[0]!;
    expect(v.valid).toBe(false);
    expect({ prefix: s.lost.prefix, middle: s.lost.middle, postfix: s.lost.postfix }).toEqual({ prefix: 1, middle: 0, postfix: 2 });
    expect(s.duplicated.count).toBe(1);
    expect(s.reordered.count).toBe(1);
    expect(s.reordered.examples[0]).toContain('c executed after d');
    expect(s.unexpected.count).toBe(1);
  });

  it('counts a missing message reported interrupted as unknown, not lost, and leaves it out of the order', () => {
    const v = checkStreams([{ ...stream, accepted: ['a', 'b', 'c'], executed: ['c', 'a'], interrupted: new Set(['b', 'c']) }]);
    expect(v.valid).toBe(true);
    expect(v.totals).toMatchObject({ lost: 0, reordered: 0, unknown: 2, unknownRan: 1 });
  });

  it('lets a message without an answer run or not, and never calls it unexpected', () => {
    const v = checkStreams([{ ...stream, ordered: false, accepted: ['a'], indeterminate: ['b', 'c'], executed: ['b', 'a'] }]);
    expect(v.valid).toBe(true);
    expect(v.totals).toMatchObject({ recovered: 1, indeterminate: 2, unexpected: 0 });
  });

  it('draws every fault kind, replayably from its seed', () => {
    const schedule = nemesisSchedule(42, 30_000, ['ship1', 'ship2']);
    expect(new Set(schedule.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
    expect(nemesisSchedule(42, 30_000, ['ship1', 'ship2'])).toEqual(schedule);
  });
});

describe('the TCP proxy', () => {
  it('forwards, delays, cuts and refuses', { timeout: 20_000 }, async () => {
    const echo = createServer((socket) => socket.on('error', () => {}).pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const proxy = await startTcpProxy({ targetPort: (echo.address() as { port: number }).port });
    const open = () =>
      new Promise<Socket>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: proxy.port });
        socket.once('connect', () => resolve(socket)).once('error', reject);
        // The proxy resets its links when it closes.
        socket.on('error', () => {});
      });
    const roundTrip = (socket: Socket, text: string) =>
      new Promise<number>((resolve) => {
        const started = Date.now();
        socket.once('data', () => resolve(Date.now() - started));
        socket.write(text);
      });
    try {
      const socket = await open();
      expect(await roundTrip(socket, 'fast')).toBeLessThan(150);
      proxy.delay(200);
      // 200 ms each way.
      expect(await roundTrip(socket, 'slow')).toBeGreaterThanOrEqual(380);
      proxy.delay(0);
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      proxy.block();
      expect(proxy.cut()).toBe(1);
      await closed;
      const refused = await new Promise<boolean>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: proxy.port });
        s.on('error', () => resolve(true));
        s.on('close', () => resolve(true));
        s.on('data', () => resolve(false));
        s.write('anyone?');
      });
      expect(refused).toBe(true);
      proxy.unblock();
      expect(await roundTrip(await open(), 'back')).toBeLessThan(150);
      expect(proxy.stats).toMatchObject({ cut: 1, refused: 1 });
    } finally {
      await proxy.close();
      await new Promise<void>((resolve) => echo.close(() => resolve()));
    }
  });
});
