import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { settle } from '../src/clock.ts';
import { ErrorKernel, RECENT_REPORTS } from '../supervisors/errorKernel.ts';
import type { ErrorReport } from '../supervisors/types.ts';

/** A real pino logger writing JSON lines into an array. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const report = (overrides: Partial<ErrorReport> = {}): ErrorReport => ({
  source: 'bosun/inbound/REQCliCommand',
  severity: 'error',
  code: 'BOSUN_SUP_CHILD_CRASHED',
  message: 'child crashed',
  action: 'restarted',
  ...overrides,
});

describe('ErrorKernel', () => {
  it('logs every report at the level of its severity', async () => {
    const { logger, lines } = capturedLogger();
    const kernel = new ErrorKernel(logger);
    kernel.report(report({ severity: 'info', code: 'A' }));
    kernel.report(report({ severity: 'warning', code: 'B' }));
    kernel.report(report({ severity: 'error', code: 'C', error: new Error('boom') }));
    kernel.report(report({ severity: 'fatal', code: 'D' }));
    await settle();
    expect(lines.map((line) => [line.level, line.code, line.msg])).toEqual([
      [30, 'A', 'child crashed'],
      [40, 'B', 'child crashed'],
      [50, 'C', 'child crashed'],
      [60, 'D', 'child crashed'],
    ]);
    expect(lines[2]).toMatchObject({ source: 'bosun/inbound/REQCliCommand', action: 'restarted', err: { message: 'boom' } });
  });

  it('counts reports by code and keeps the last 100', () => {
    const kernel = new ErrorKernel(capturedLogger().logger);
    for (let i = 0; i < RECENT_REPORTS + 5; i++) kernel.report(report({ code: i % 2 ? 'ODD' : 'EVEN', message: `#${i}` }));
    expect(kernel.counts()).toEqual({ EVEN: 53, ODD: 52 });
    const recent = kernel.recent();
    expect(recent).toHaveLength(100);
    expect(recent[0]!.message).toBe('#5');
    expect(recent[99]!.message).toBe('#104');
  });

  it('forwards every report, and survives forwarders that throw or reject', async () => {
    const { logger, lines } = capturedLogger();
    const forwarded: string[] = [];
    const kernel = new ErrorKernel(logger, [
      () => {
        throw new Error('central node unreachable');
      },
    ]);
    kernel.addForwarder(() => Promise.reject(new Error('async failure')));
    const remove = kernel.addForwarder((sent) => {
      forwarded.push(sent.code);
    });
    kernel.report(report({ code: 'ONE' }));
    remove();
    kernel.report(report({ code: 'TWO' }));
    await settle();
    expect(forwarded).toEqual(['ONE']);
    expect(kernel.forwardFailures).toBe(4);
    expect(kernel.counts()).toEqual({ ONE: 1, TWO: 1 });
    expect(lines.filter((line) => line.msg === 'error report forwarder failed')).toHaveLength(4);
  });

  it('survives a logger that throws', () => {
    const broken = {
      info: () => {
        throw new Error('no disk');
      },
      warn: () => {
        throw new Error('no disk');
      },
      error: () => {
        throw new Error('no disk');
      },
      fatal: () => {
        throw new Error('no disk');
      },
    };
    const kernel = new ErrorKernel(broken, [() => {
      throw new Error('nor network');
    }]);
    expect(() => kernel.report(report())).not.toThrow();
    expect(kernel.recent()).toHaveLength(1);
  });
});
