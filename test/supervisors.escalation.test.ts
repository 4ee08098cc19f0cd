import { beforeEach, describe, expect, it } from 'vitest';
import { settle, VirtualClock } from '../src/clock.ts';
import { Supervisor } from '../supervisors/Supervisor.ts';
import { supervisorChild } from '../supervisors/supervisorChild.ts';
import { FakeChildren } from './support/supervisors.ts';
import type { ErrorReport, ExitReason, SupervisorOptions } from '../supervisors/types.ts';

let clock: VirtualClock;
let fakes: FakeChildren;
let reports: ErrorReport[];

beforeEach(() => {
  clock = new VirtualClock();
  fakes = new FakeChildren();
  reports = [];
});

function options(overrides: Partial<SupervisorOptions> & { id: string }): SupervisorOptions {
  return { clock, errors: { report: (report) => reports.push(report) }, ...overrides };
}

async function startWithExits(overrides: Partial<SupervisorOptions> & { id: string }) {
  const sup = await Supervisor.start(options(overrides));
  const exits: ExitReason[] = [];
  sup.onExit((reason) => exits.push(reason));
  return { sup, exits };
}

const summary = () => reports.map((report) => `${report.source} ${report.code} ${report.action}`);

describe('restart intensity', () => {
  it('shuts down with reason shutdown once restarts exceed the intensity within the period', async () => {
    const { sup, exits } = await startWithExits({
      id: 'sup',
      intensity: 1,
      periodSeconds: 5,
      children: [fakes.spec('a'), fakes.spec('b'), fakes.spec('c')],
    });
    fakes.latest('b').crash();
    await settle();
    expect(sup.status).toBe('running');
    await clock.advance(4000);
    fakes.log.length = 0;
    fakes.latest('b').crash();
    await settle();
    expect(exits).toEqual([{ kind: 'shutdown', detail: 'reached_max_restart_intensity' }]);
    expect(fakes.log).toEqual(['stop:c', 'stop:a']);
    expect(summary()).toEqual([
      'sup/b BOSUN_SUP_CHILD_CRASHED restarted',
      'sup/b BOSUN_SUP_CHILD_CRASHED escalated',
      'sup BOSUN_SUP_MAX_INTENSITY escalated',
    ]);
  });

  it('forgets restarts older than the period', async () => {
    const { sup } = await startWithExits({ id: 'sup', intensity: 1, periodSeconds: 5, children: [fakes.spec('a')] });
    for (let i = 0; i < 5; i++) {
      fakes.latest('a').crash();
      await settle();
      await clock.advance(5001);
    }
    expect(sup.status).toBe('running');
    expect(fakes.starts('a')).toBe(6);
  });

  it('still counts a restart exactly one period old', async () => {
    const { sup } = await startWithExits({ id: 'sup', intensity: 1, periodSeconds: 5, children: [fakes.spec('a')] });
    fakes.latest('a').crash();
    await settle();
    await clock.advance(5000);
    fakes.latest('a').crash();
    await settle();
    expect(sup.status).toBe('stopped');
  });

  it('with intensity 0 gives up at the first restart', async () => {
    const { exits } = await startWithExits({ id: 'sup', intensity: 0, children: [fakes.spec('a')] });
    fakes.latest('a').exit({ kind: 'normal' });
    await settle();
    expect(exits).toEqual([{ kind: 'shutdown', detail: 'reached_max_restart_intensity' }]);
    expect(fakes.starts('a')).toBe(1);
  });
});

describe('try again restart', () => {
  it('retries a child whose restart fails, counting every attempt', async () => {
    const { sup } = await startWithExits({ id: 'sup', intensity: 3, children: [fakes.spec('w')] });
    fakes.failStarts('w', 2);
    fakes.latest('w').crash();
    await settle();
    expect(fakes.log).toEqual(['start:w', 'failstart:w', 'failstart:w', 'start:w']);
    expect(sup.status).toBe('running');
    expect(summary()).toEqual([
      'sup/w BOSUN_SUP_CHILD_CRASHED restarted',
      'sup/w BOSUN_SUP_START_FAILED restarted',
      'sup/w BOSUN_SUP_START_FAILED restarted',
    ]);
  });

  it('gives up when the retries exceed the intensity', async () => {
    const { sup, exits } = await startWithExits({ id: 'sup', intensity: 2, children: [fakes.spec('w')] });
    fakes.failStarts('w', 2);
    fakes.latest('w').crash();
    await settle();
    expect(sup.status).toBe('stopped');
    expect(exits).toEqual([{ kind: 'shutdown', detail: 'reached_max_restart_intensity' }]);
  });

  it('shows a failed child as restarting and lets other calls in between attempts', async () => {
    const { sup } = await startWithExits({ id: 'sup', intensity: 100, children: [fakes.spec('w'), fakes.spec('x')] });
    fakes.failStarts('w', 1000);
    fakes.latest('w').crash();
    // Both calls queue behind the crash, and so ahead of the retry it schedules.
    const seen = sup.whichChildren();
    const terminated = sup.terminateChild('w');
    expect((await seen).map((child) => child.status)).toEqual(['restarting', 'running']);
    await terminated;
    await settle();
    expect(fakes.log.filter((entry) => entry === 'failstart:w')).toHaveLength(1);
    expect((await sup.whichChildren()).map((child) => child.status)).toEqual(['stopped', 'running']);
  });

  it('under rest_for_one retries from the child that failed, leaving the ones before it running', async () => {
    await startWithExits({ id: 'sup', strategy: 'rest_for_one', intensity: 5, children: [fakes.spec('a'), fakes.spec('b'), fakes.spec('c')] });
    fakes.failStarts('b', 1);
    fakes.latest('a').crash();
    await settle();
    expect(fakes.log).toEqual([
      'start:a', 'start:b', 'start:c',
      'stop:c', 'stop:b', 'start:a', 'failstart:b',
      'start:b', 'start:c',
    ]);
  });
});

describe('escalation through nested supervisors', () => {
  const mid = (extra: Partial<SupervisorOptions> = {}) =>
    options({ id: 'mid', intensity: 0, children: [fakes.spec('w')], ...extra });

  it('restarts a permanent child supervisor that gave up, with fresh children', async () => {
    const { sup: root } = await startWithExits({ id: 'root', intensity: 1, children: [fakes.spec('a'), supervisorChild(mid())] });
    const before = (await root.whichChildren())[1]!.handle;
    fakes.latest('w').crash();
    await settle();
    expect(root.status).toBe('running');
    expect(fakes.starts('w')).toBe(2);
    expect(fakes.latest('w').alive).toBe(true);
    expect((await root.whichChildren())[1]!.handle).not.toBe(before);
    expect(fakes.starts('a')).toBe(1);
    expect(summary()).toEqual([
      'root/mid/w BOSUN_SUP_CHILD_CRASHED escalated',
      'root/mid BOSUN_SUP_MAX_INTENSITY escalated',
      'root/mid BOSUN_SUP_CHILD_EXITED restarted',
    ]);
  });

  it('climbs to the root when every level exceeds its intensity', async () => {
    const { sup: root, exits } = await startWithExits({
      id: 'root',
      intensity: 0,
      children: [fakes.spec('a'), supervisorChild(options({ id: 'top', intensity: 0, children: [supervisorChild(mid())] }))],
    });
    fakes.latest('w').crash();
    await settle();
    expect(root.status).toBe('stopped');
    expect(exits).toEqual([{ kind: 'shutdown', detail: 'reached_max_restart_intensity' }]);
    expect(fakes.latest('a').alive).toBe(false);
    expect(fakes.latest('w').alive).toBe(false);
    expect(summary().filter((line) => line.includes('MAX_INTENSITY'))).toEqual([
      'root/top/mid BOSUN_SUP_MAX_INTENSITY escalated',
      'root/top BOSUN_SUP_MAX_INTENSITY escalated',
      'root BOSUN_SUP_MAX_INTENSITY escalated',
    ]);
  });

  it('does not restart a transient child supervisor that gave up, since it exits with reason shutdown (as in OTP)', async () => {
    const { sup: root } = await startWithExits({
      id: 'root',
      intensity: 5,
      children: [supervisorChild(mid(), { restart: 'transient' })],
    });
    fakes.latest('w').crash();
    await settle();
    expect(root.status).toBe('running');
    expect(await root.whichChildren()).toMatchObject([{ id: 'mid', status: 'stopped', type: 'supervisor' }]);
    expect(fakes.starts('w')).toBe(1);
  });

  it('stops nested supervisors depth-first in reverse order', async () => {
    const root = await Supervisor.start(
      options({ id: 'root', children: [fakes.spec('a'), supervisorChild(options({ id: 'mid', children: [fakes.spec('x'), fakes.spec('y')] })), fakes.spec('b')] }),
    );
    await root.stop();
    expect(fakes.log).toEqual(['start:a', 'start:x', 'start:y', 'start:b', 'stop:b', 'stop:y', 'stop:x', 'stop:a']);
  });
});

describe('the error kernel must not fail', () => {
  it('keeps restarting children when the error sink throws', async () => {
    const sup = await Supervisor.start({
      id: 'sup',
      clock,
      intensity: 10,
      errors: {
        report: () => {
          throw new Error('sink down');
        },
      },
      children: [fakes.spec('a')],
    });
    fakes.latest('a').crash();
    await settle();
    fakes.latest('a').crash();
    await settle();
    expect(fakes.starts('a')).toBe(3);
    expect(sup.status).toBe('running');
  });
});
