import { beforeEach, describe, expect, it } from 'vitest';
import { settle, VirtualClock } from '../src/clock.ts';
import { Supervisor } from '../supervisors/Supervisor.ts';
import { FakeChild, FakeChildren } from './support/supervisors.ts';
import type { ChildSpec, ErrorReport, ExitReason, SupervisorOptions } from '../supervisors/types.ts';

let clock: VirtualClock;
let fakes: FakeChildren;
let reports: ErrorReport[];

beforeEach(() => {
  clock = new VirtualClock();
  fakes = new FakeChildren();
  reports = [];
});

function start(options: Partial<SupervisorOptions>): Promise<Supervisor> {
  return Supervisor.start({ id: 'sup', clock, errors: { report: (report) => reports.push(report) }, ...options });
}

/** Terminates `id` and tells whether that finished, without waiting for it. */
function terminate(sup: Supervisor, id: string): { done: () => boolean; promise: Promise<void> } {
  let finished = false;
  const promise = sup.terminateChild(id).then(() => {
    finished = true;
  });
  return { done: () => finished, promise };
}

describe('shutdown timeouts', () => {
  it('asks a child to stop and kills it when the shutdown time runs out', async () => {
    const sup = await start({ children: [fakes.spec('slow', { shutdown: 1000, stopMode: 'manual' })] });
    const termination = terminate(sup, 'slow');
    await clock.advance(999);
    expect(fakes.latest('slow').stopCalls).toBe(1);
    expect(fakes.latest('slow').killCalls).toBe(0);
    expect(termination.done()).toBe(false);
    await clock.advance(1);
    await termination.promise;
    expect(fakes.latest('slow').killCalls).toBe(1);
    expect(fakes.log).toEqual(['start:slow', 'stop:slow', 'kill:slow']);
  });

  it('does not kill a child that stops in time, and cancels its timer', async () => {
    const sup = await start({ children: [fakes.spec('quick', { shutdown: 1000, stopMode: 'manual' })] });
    const termination = terminate(sup, 'quick');
    await clock.advance(500);
    fakes.latest('quick').finishStop();
    await termination.promise;
    expect(clock.pending).toBe(0);
    await clock.advance(10_000);
    expect(fakes.latest('quick').killCalls).toBe(0);
  });

  it('defaults to 5000 ms for a worker', async () => {
    const sup = await start({ children: [fakes.spec('w', { stopMode: 'manual' })] });
    const termination = terminate(sup, 'w');
    await clock.advance(4999);
    expect(fakes.latest('w').killCalls).toBe(0);
    await clock.advance(1);
    await termination.promise;
    expect(fakes.latest('w').killCalls).toBe(1);
  });

  it('kills a brutal_kill child without asking it to stop', async () => {
    const sup = await start({ children: [fakes.spec('b', { shutdown: 'brutal_kill' })] });
    await sup.terminateChild('b');
    expect(fakes.latest('b').stopCalls).toBe(0);
    expect(fakes.latest('b').killCalls).toBe(1);
  });

  it('waits for an infinity child however long it takes, and defaults supervisors to infinity', async () => {
    const sup = await start({
      children: [fakes.spec('inf', { shutdown: 'infinity', stopMode: 'manual' }), fakes.spec('nested', { type: 'supervisor', stopMode: 'manual' })],
    });
    for (const id of ['nested', 'inf']) {
      const termination = terminate(sup, id);
      await clock.advance(24 * 3600_000);
      expect(termination.done()).toBe(false);
      expect(fakes.latest(id).killCalls).toBe(0);
      fakes.latest(id).finishStop();
      await termination.promise;
    }
  });

  it('kills a child whose stop() rejects and reports a shutdown error', async () => {
    const failing: ChildSpec = {
      id: 'f',
      start: () => {
        const child = new FakeChild('f', fakes.log);
        child.stop = () => Promise.reject(new Error('cannot close socket'));
        return child;
      },
    };
    const sup = await start({ children: [failing] });
    await sup.terminateChild('f');
    expect(fakes.log).toEqual(['start:f', 'kill:f']);
    expect(reports).toMatchObject([{ code: 'BOSUN_SUP_SHUTDOWN_ERROR', source: 'sup/f', action: 'ignored' }]);
  });
});

describe('stopping the supervisor', () => {
  it('stops the children in reverse start order and exits with reason shutdown', async () => {
    const sup = await start({ children: [fakes.spec('a'), fakes.spec('b'), fakes.spec('c')] });
    const exits: ExitReason[] = [];
    sup.onExit((reason) => exits.push(reason));
    await sup.stop();
    expect(fakes.log).toEqual(['start:a', 'start:b', 'start:c', 'stop:c', 'stop:b', 'stop:a']);
    expect(exits).toEqual([{ kind: 'shutdown' }]);
    expect(sup.status).toBe('stopped');
    await expect(sup.whichChildren()).rejects.toMatchObject({ code: 'BOSUN_SUP_BAD_SPEC', reason: 'not_running' });
    await sup.stop();
    expect(exits).toHaveLength(1);
  });

  it('tells a listener registered after the exit at once', async () => {
    const sup = await start({ children: [] });
    await sup.stop();
    const exits: ExitReason[] = [];
    sup.onExit((reason) => exits.push(reason));
    expect(exits).toEqual([{ kind: 'shutdown' }]);
  });

  it('kill() kills every child at once and exits with reason killed', async () => {
    const sup = await start({ children: [fakes.spec('a', { stopMode: 'manual' }), fakes.spec('b', { stopMode: 'manual' })] });
    const exits: ExitReason[] = [];
    sup.onExit((reason) => exits.push(reason));
    sup.kill();
    expect(fakes.log).toEqual(['start:a', 'start:b', 'kill:b', 'kill:a']);
    expect(exits).toEqual([{ kind: 'killed' }]);
    await settle();
    expect(fakes.starts('a')).toBe(1);
  });

  it('keeps working when an exit listener throws', async () => {
    const sup = await start({ children: [fakes.spec('a')] });
    sup.onExit(() => {
      throw new Error('bad listener');
    });
    await sup.stop();
    expect(sup.status).toBe('stopped');
    expect(reports).toMatchObject([{ code: 'BOSUN_SUP_INTERNAL', severity: 'fatal', source: 'sup' }]);
  });
});

describe('exits during a shutdown', () => {
  it('absorbs a sibling that crashed while one_for_all was already restarting, reporting a shutdown error', async () => {
    await start({ strategy: 'one_for_all', intensity: 5, children: [fakes.spec('a'), fakes.spec('b'), fakes.spec('c')] });
    fakes.latest('a').crash();
    fakes.latest('c').crash(new Error('c too'));
    await settle();
    expect([fakes.starts('a'), fakes.starts('b'), fakes.starts('c')]).toEqual([2, 2, 2]);
    expect(reports.map((report) => [report.source, report.code, report.action])).toEqual([
      ['sup/a', 'BOSUN_SUP_CHILD_CRASHED', 'restarted'],
      ['sup/c', 'BOSUN_SUP_SHUTDOWN_ERROR', 'ignored'],
    ]);
  });
});
