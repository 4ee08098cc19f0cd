import { beforeEach, describe, expect, it } from 'vitest';
import { settle, VirtualClock } from '../src/clock.ts';
import { BosunError } from '../src/errors.ts';
import { Supervisor } from '../supervisors/Supervisor.ts';
import { SupervisorError } from '../supervisors/SupervisorError.ts';
import { supervisorChild } from '../supervisors/supervisorChild.ts';
import { FakeChildren } from './support/supervisors.ts';
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

const ids = async (sup: Supervisor) => (await sup.whichChildren()).map((child) => `${child.id}:${child.status}`);

describe('startChild', () => {
  it('adds the child last in start order', async () => {
    const sup = await start({ children: [fakes.spec('a'), fakes.spec('b')] });
    const started = await sup.startChild(fakes.spec('c'));
    expect(started.id).toBe('c');
    expect(started.handle).toBe(fakes.latest('c'));
    expect(await ids(sup)).toEqual(['a:running', 'b:running', 'c:running']);
    await sup.stop();
    expect(fakes.log.slice(-3)).toEqual(['stop:c', 'stop:b', 'stop:a']);
  });

  it('refuses an id in use: already_started while running, already_present once stopped', async () => {
    const sup = await start({ children: [fakes.spec('a')] });
    await expect(sup.startChild(fakes.spec('a'))).rejects.toMatchObject({ reason: 'already_started' });
    await sup.terminateChild('a');
    await expect(sup.startChild(fakes.spec('a'))).rejects.toMatchObject({ reason: 'already_present' });
  });

  it('rejects an invalid spec and keeps no spec whose start threw', async () => {
    const sup = await start({ children: [] });
    await expect(sup.startChild({ id: '', start: () => fakes.latest('x') })).rejects.toMatchObject({ reason: 'bad_spec' });
    fakes.failStarts('x', 1);
    const failure = await sup.startChild(fakes.spec('x')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SupervisorError);
    expect(failure).toBeInstanceOf(BosunError);
    expect(failure).toMatchObject({ code: 'BOSUN_SUP_BAD_SPEC', reason: 'start_failed', cause: new Error('x refused to start') });
    expect(await sup.whichChildren()).toEqual([]);
  });

  it('treats a start that returns something other than a ChildHandle as a failed start', async () => {
    const bogus = { id: 'bogus', start: () => ({}) } as unknown as ChildSpec;
    await expect(start({ children: [bogus] })).rejects.toMatchObject({ reason: 'start_failed' });
  });
});

describe('terminateChild, restartChild, deleteChild', () => {
  it('keeps a terminated permanent spec so it can be restarted or deleted', async () => {
    const sup = await start({ children: [fakes.spec('a'), fakes.spec('b')] });
    await sup.terminateChild('a');
    expect(await ids(sup)).toEqual(['a:stopped', 'b:running']);
    await expect(sup.restartChild('b')).rejects.toMatchObject({ reason: 'running' });
    await expect(sup.deleteChild('b')).rejects.toMatchObject({ reason: 'running' });
    const restarted = await sup.restartChild('a');
    expect(restarted.handle).toBe(fakes.latest('a'));
    expect(fakes.starts('a')).toBe(2);
    await sup.terminateChild('a');
    await sup.deleteChild('a');
    expect(await ids(sup)).toEqual(['b:running']);
    await expect(sup.deleteChild('a')).rejects.toMatchObject({ reason: 'not_found' });
    await expect(sup.restartChild('a')).rejects.toMatchObject({ reason: 'not_found' });
    await expect(sup.terminateChild('a')).rejects.toMatchObject({ reason: 'not_found' });
  });

  it('forgets a temporary child when it is terminated', async () => {
    const sup = await start({ children: [fakes.spec('t', { restart: 'temporary' })] });
    await sup.terminateChild('t');
    expect(await sup.whichChildren()).toEqual([]);
  });

  it('does not count manual restarts towards the intensity', async () => {
    const sup = await start({ intensity: 0, children: [fakes.spec('a')] });
    for (let i = 0; i < 3; i++) {
      await sup.terminateChild('a');
      await sup.restartChild('a');
    }
    expect(sup.status).toBe('running');
    expect(fakes.starts('a')).toBe(4);
  });

  it('is not a crash: terminating a child neither restarts nor reports it', async () => {
    const sup = await start({ strategy: 'one_for_all', children: [fakes.spec('a'), fakes.spec('b')] });
    await sup.terminateChild('a');
    await settle();
    expect(fakes.starts('b')).toBe(1);
    expect(reports).toEqual([]);
    expect(sup.status).toBe('running');
  });
});

describe('countChildren and whichChildren', () => {
  it('counts specs, running children, supervisors and workers', async () => {
    const sup = await start({
      children: [fakes.spec('a'), fakes.spec('b'), supervisorChild({ id: 'nested', clock, children: [fakes.spec('x')] })],
    });
    await sup.terminateChild('b');
    expect(await sup.countChildren()).toEqual({ specs: 3, active: 2, supervisors: 1, workers: 2 });
    const nested = (await sup.whichChildren()).find((child) => child.id === 'nested');
    expect(nested).toMatchObject({ type: 'supervisor', status: 'running' });
    expect(nested?.handle).toBeInstanceOf(Supervisor);
  });
});

describe('autoShutdown', () => {
  it('any_significant: shuts down when a significant child ends for good', async () => {
    const sup = await start({
      autoShutdown: 'any_significant',
      children: [fakes.spec('a'), fakes.spec('job', { restart: 'transient', significant: true }), fakes.spec('c')],
    });
    const exits: ExitReason[] = [];
    sup.onExit((reason) => exits.push(reason));
    fakes.latest('job').exit({ kind: 'normal' });
    await settle();
    expect(exits).toEqual([{ kind: 'shutdown', detail: 'auto_shutdown' }]);
    expect(fakes.log.slice(-2)).toEqual(['stop:c', 'stop:a']);
  });

  it('any_significant: a significant transient child that crashes is restarted instead', async () => {
    const sup = await start({
      autoShutdown: 'any_significant',
      intensity: 3,
      children: [fakes.spec('job', { restart: 'transient', significant: true })],
    });
    fakes.latest('job').crash();
    await settle();
    expect(sup.status).toBe('running');
    expect(fakes.starts('job')).toBe(2);
  });

  it('all_significant: shuts down only when the last significant child has ended', async () => {
    const sup = await start({
      autoShutdown: 'all_significant',
      children: [
        fakes.spec('a'),
        fakes.spec('s1', { restart: 'temporary', significant: true }),
        fakes.spec('s2', { restart: 'temporary', significant: true }),
      ],
    });
    fakes.latest('s1').crash();
    await settle();
    expect(sup.status).toBe('running');
    fakes.latest('s2').exit({ kind: 'normal' });
    await settle();
    expect(sup.status).toBe('stopped');
    expect(reports.map((report) => report.action)).toEqual(['ignored']);
  });

  it('is not triggered by terminateChild', async () => {
    const sup = await start({
      autoShutdown: 'any_significant',
      children: [fakes.spec('s', { restart: 'transient', significant: true })],
    });
    await sup.terminateChild('s');
    await settle();
    expect(sup.status).toBe('running');
  });

  it('all_significant on simple_one_for_one: shuts down when the last dynamic child is gone', async () => {
    const sup = await start({
      strategy: 'simple_one_for_one',
      autoShutdown: 'all_significant',
      children: [fakes.spec('job', { restart: 'temporary', significant: true })],
    });
    await sup.startChild(1);
    await sup.startChild(2);
    fakes.all('job')[0]!.exit();
    await settle();
    expect(sup.status).toBe('running');
    fakes.all('job')[1]!.exit();
    await settle();
    expect(sup.status).toBe('stopped');
  });
});

describe('validation', () => {
  const invalid: [string, Partial<SupervisorOptions>][] = [
    ['significant with a permanent child', { autoShutdown: 'any_significant', children: [{ id: 'x', start: () => fakes.latest('x'), significant: true }] }],
    ['significant with autoShutdown never', { children: [{ id: 'x', start: () => fakes.latest('x'), restart: 'transient', significant: true }] }],
    ['duplicate ids', { children: [{ id: 'x', start: () => fakes.latest('x') }, { id: 'x', start: () => fakes.latest('x') }] }],
    ['a negative intensity', { intensity: -1 }],
    ['a fractional intensity', { intensity: 1.5 }],
    ['a zero period', { periodSeconds: 0 }],
    ['an unknown strategy', { strategy: 'one_for_some' as never }],
    ['a negative shutdown', { children: [{ id: 'x', start: () => fakes.latest('x'), shutdown: -5 }] }],
    ['an unknown restart type', { children: [{ id: 'x', start: () => fakes.latest('x'), restart: 'sometimes' as never }] }],
    ['an empty id', { id: '' }],
  ];

  it.each(invalid)('rejects %s with BOSUN_SUP_BAD_SPEC', async (_name, options) => {
    await expect(start(options)).rejects.toMatchObject({ code: 'BOSUN_SUP_BAD_SPEC', reason: 'bad_spec' });
  });

  it('rejects a significant child added later to a never supervisor', async () => {
    const sup = await start({ children: [] });
    await expect(sup.startChild(fakes.spec('s', { restart: 'temporary', significant: true }))).rejects.toMatchObject({ reason: 'bad_spec' });
  });
});

describe('tree', () => {
  it('shows the live tree, with nested supervisors and each child description', async () => {
    const sup = await start({
      id: 'root',
      children: [fakes.spec('a'), supervisorChild({ id: 'mid', clock, strategy: 'one_for_all', children: [fakes.spec('w')] }), fakes.spec('b')],
    });
    fakes.latest('a').crash();
    await settle();
    await sup.terminateChild('b');
    expect(sup.tree()).toEqual({
      id: 'root',
      kind: 'supervisor',
      state: 'running',
      restarts: 0,
      info: { strategy: 'one_for_one', intensity: 1, periodSeconds: 5, recentRestarts: 1 },
      children: [
        { id: 'a', kind: 'worker', state: 'running', restarts: 1, children: [], info: { fake: true } },
        {
          id: 'mid',
          kind: 'supervisor',
          state: 'running',
          restarts: 0,
          info: { strategy: 'one_for_all', intensity: 1, periodSeconds: 5, recentRestarts: 0 },
          children: [{ id: 'w', kind: 'worker', state: 'running', restarts: 0, children: [], info: { fake: true } }],
        },
        { id: 'b', kind: 'worker', state: 'stopped', restarts: 0, children: [] },
      ],
    });
  });
});
