import { request } from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../src/clock.ts';
import { repeatedErrorLog } from '../src/inputs/repeatedErrorLog.ts';
import { StatusCell } from '../src/transport/StatusCell.ts';
import { warnWhileUnreachable } from '../src/transport/unreachableWarning.ts';
import { Daemon, removeTempDirs, waitFor } from './helpers/daemon.ts';

/** Logs say what an operator needs once: no stack per aborted request, no line a second, no silence about a broker. */
let daemons: Daemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.kill()));
  removeTempDirs();
});

function capture(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

describe('repeated errors', () => {
  it('logs "too many open files" once a minute with the count held back, not on every occurrence', async () => {
    const { log, lines } = capture();
    let now = 0;
    const onError = repeatedErrorLog(log, 'tcp input error', () => now);
    const emfile = Object.assign(new Error('accept EMFILE: too many open files'), { code: 'EMFILE' });
    for (let second = 0; second < 130; second++) {
      now = second * 1000;
      onError(emfile);
    }
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => l.msg)).toEqual([
      'tcp input error: accept EMFILE: too many open files',
      'tcp input error: accept EMFILE: too many open files (59 more like it since the last line)',
      'tcp input error: accept EMFILE: too many open files (59 more like it since the last line)',
    ]);
    expect(lines[1]).toMatchObject({ code: 'EMFILE', repeated: 59 });
  });
});

describe('an unreachable broker', () => {
  it('is a warning naming the URL 5 s after start, again at doubling intervals, and no more once connected', async () => {
    const { log, lines } = capture();
    const clock = new VirtualClock();
    const status = new StatusCell('connecting');
    warnWhileUnreachable({ get status() { return status.value; }, onStatus: (l) => status.listen(l) }, ['nats://10.9.9.9:4222'], log, clock);
    await clock.advance(4999);
    expect(lines).toHaveLength(0);
    await clock.advance(1);
    await clock.advance(10_000);
    await clock.advance(20_000);
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => [l.level, l.unreachableForMs])).toEqual([[40, 5000], [40, 15_000], [40, 35_000]]);
    expect(String(lines[0]!.msg)).toMatch(/^NATS is still unreachable after 5 s at nats:\/\/10\.9\.9\.9:4222/);
    status.set('connected');
    await clock.advance(600_000);
    expect(lines).toHaveLength(3);
  });

  it('is said by a daemon started with a NATS URL nobody answers', { timeout: 30_000 }, async () => {
    const daemon = await Daemon.start({ node: 'noisy1', args: ['--nats', 'nats://127.0.0.1:9'] });
    daemons.push(daemon);
    const warning = await daemon.waitForLog((l) => l.level === 40 && /NATS is still unreachable/.test(l.msg), 15_000);
    expect(warning.msg).toMatch(/at nats:\/\/127\.0\.0\.1:9/);
  });
});

describe('aborted HTTP requests', () => {
  it('are one debug line each, never an error with a stack', { timeout: 30_000 }, async () => {
    const daemon = await Daemon.start({ node: 'noisy2', args: ['--http-listen', '127.0.0.1:0', '--log-level', 'debug'] });
    daemons.push(daemon);
    const port = Number(String(daemon.started.http).split(':').pop());
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/api/v1/messages', headers: { ...daemon.httpHeaders, 'Content-Length': '100000' } });
        req.on('error', () => resolve());
        req.write('[{"toNode":"noisy2","method":"REQNone"},');
        setTimeout(() => req.destroy(), 50);
      });
    }
    await waitFor(() => daemon.logs.filter((l) => l.msg === 'a client aborted its request').length === 20, 10_000, '20 debug lines');
    expect(daemon.logs.filter((l) => l.level >= 50)).toEqual([]);
    expect(daemon.logs.find((l) => l.msg === 'a client aborted its request')!.level).toBe(20);
  });
});
