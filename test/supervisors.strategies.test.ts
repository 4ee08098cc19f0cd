import { beforeEach, describe, expect, it } from 'vitest';
import { settle, VirtualClock } from '../src/clock.ts';
import { Supervisor } from '../supervisors/Supervisor.ts';
import { FakeChildren } from './support/supervisors.ts';
import type { ErrorReport, Strategy, SupervisorOptions } from '../supervisors/types.ts';

let clock: VirtualClock;
let fakes: FakeChildren;
let reports: ErrorReport[];

beforeEach(() => {
  clock = new VirtualClock();
  fakes = new FakeChildren();
  reports = [];
});

function start(options: Partial<SupervisorOptions> & { strategy?: Strategy }): Promise<Supervisor> {
  return Supervisor.start({
    id: 'sup',
    clock,
    errors: { report: (report) => reports.push(report) },
    intensity: 10,
    ...options,
  });
}

const abc = () => [fakes.spec('a'), fakes.spec('b'), fakes.spec('c')];

describe('starting', () => {
  it('starts children left to right', async () => {
    await start({ children: abc() });
    expect(fakes.log).toEqual(['start:a', 'start:b', 'start:c']);
  });

  it('stops the started children in reverse order when one fails to start, and rejects', async () => {
    fakes.failStarts('c', 1);
    const failure = await start({ children: [...abc(), fakes.spec('d')] }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'BOSUN_SUP_BAD_SPEC', reason: 'start_failed' });
    expect((failure as Error).cause).toEqual(new Error('c refused to start'));
    expect(fakes.log).toEqual(['start:a', 'start:b', 'failstart:c', 'stop:b', 'stop:a']);
    expect(fakes.starts('d')).toBe(0);
    expect(reports).toMatchObject([{ code: 'BOSUN_SUP_START_FAILED', source: 'sup/c', action: 'escalated' }]);
  });
});

describe('one_for_one', () => {
  it('restarts only the child that crashed', async () => {
    const sup = await start({ strategy: 'one_for_one', children: abc() });
    fakes.latest('b').crash();
    await settle();
    expect(fakes.log).toEqual(['start:a', 'start:b', 'start:c', 'start:b']);
    expect(fakes.latest('b').alive).toBe(true);
    expect((await sup.whichChildren()).map((child) => [child.id, child.status, child.restarts])).toEqual([
      ['a', 'running', 0],
      ['b', 'running', 1],
      ['c', 'running', 0],
    ]);
  });

  it('reports the crash with the child path, severity error and action restarted', async () => {
    await start({ children: abc() });
    const error = new Error('disk on fire');
    fakes.latest('a').crash(error);
    await settle();
    expect(reports).toEqual([
      {
        source: 'sup/a',
        severity: 'error',
        code: 'BOSUN_SUP_CHILD_CRASHED',
        message: 'child "a" crashed: disk on fire',
        error,
        action: 'restarted',
      },
    ]);
  });
});

describe('one_for_all', () => {
  it('stops the others in reverse order, then starts all of them in order', async () => {
    await start({ strategy: 'one_for_all', children: abc() });
    fakes.log.length = 0;
    fakes.latest('b').crash();
    await settle();
    expect(fakes.log).toEqual(['stop:c', 'stop:a', 'start:a', 'start:b', 'start:c']);
  });

  it('does not restart a temporary sibling it terminated, and forgets its spec', async () => {
    const sup = await start({
      strategy: 'one_for_all',
      children: [fakes.spec('a'), fakes.spec('t', { restart: 'temporary' }), fakes.spec('c')],
    });
    fakes.log.length = 0;
    fakes.latest('c').crash();
    await settle();
    expect(fakes.log).toEqual(['stop:t', 'stop:a', 'start:a', 'start:c']);
    expect((await sup.whichChildren()).map((child) => child.id)).toEqual(['a', 'c']);
  });

  it('starts again a transient sibling that had already exited normally (as OTP does)', async () => {
    await start({ strategy: 'one_for_all', children: [fakes.spec('a'), fakes.spec('tr', { restart: 'transient' })] });
    fakes.latest('tr').exit({ kind: 'normal' });
    await settle();
    expect(fakes.starts('tr')).toBe(1);
    fakes.latest('a').crash();
    await settle();
    expect(fakes.starts('tr')).toBe(2);
    expect(fakes.latest('tr').alive).toBe(true);
  });
});

describe('rest_for_one', () => {
  it('restarts the crashed child and the ones started after it', async () => {
    await start({ strategy: 'rest_for_one', children: [...abc(), fakes.spec('d')] });
    fakes.log.length = 0;
    fakes.latest('b').crash();
    await settle();
    expect(fakes.log).toEqual(['stop:d', 'stop:c', 'start:b', 'start:c', 'start:d']);
    expect(fakes.starts('a')).toBe(1);
  });
});

describe('restart types', () => {
  it('restarts a permanent child even after a normal exit, and reports it as a warning', async () => {
    await start({ children: [fakes.spec('p')] });
    fakes.latest('p').exit({ kind: 'normal' });
    await settle();
    expect(fakes.starts('p')).toBe(2);
    expect(reports).toMatchObject([{ code: 'BOSUN_SUP_CHILD_EXITED', severity: 'warning', action: 'restarted' }]);
  });

  it('restarts a transient child after an error or a kill, not after normal or shutdown', async () => {
    const sup = await start({ children: [fakes.spec('t', { restart: 'transient' })] });
    fakes.latest('t').crash();
    await settle();
    expect(fakes.starts('t')).toBe(2);
    fakes.latest('t').exit({ kind: 'killed' });
    await settle();
    expect(fakes.starts('t')).toBe(3);
    fakes.latest('t').exit({ kind: 'shutdown', detail: 'done here' });
    await settle();
    expect(fakes.starts('t')).toBe(3);
    expect(await sup.whichChildren()).toMatchObject([{ id: 't', status: 'stopped' }]);
    await sup.restartChild('t');
    fakes.latest('t').exit({ kind: 'normal' });
    await settle();
    expect(fakes.starts('t')).toBe(4);
    expect(await sup.countChildren()).toEqual({ specs: 1, active: 0, supervisors: 0, workers: 1 });
  });

  it('never restarts a temporary child, deletes its spec, and reports a crash as ignored', async () => {
    const sup = await start({ children: [fakes.spec('t', { restart: 'temporary' }), fakes.spec('u', { restart: 'temporary' })] });
    fakes.latest('t').crash();
    fakes.latest('u').exit({ kind: 'normal' });
    await settle();
    expect(fakes.starts('t')).toBe(1);
    expect(fakes.starts('u')).toBe(1);
    expect(await sup.whichChildren()).toEqual([]);
    expect(reports).toMatchObject([{ source: 'sup/t', code: 'BOSUN_SUP_CHILD_CRASHED', action: 'ignored' }]);
  });
});

describe('simple_one_for_one', () => {
  it('starts dynamic children from the template with the given args and restarts them with the same args', async () => {
    const sup = await start({ strategy: 'simple_one_for_one', children: [fakes.spec('conn')] });
    expect(fakes.log).toEqual([]);
    const first = await sup.startChild({ peer: 'n1' });
    const second = await sup.startChild({ peer: 'n2' });
    expect([first.id, second.id]).toEqual(['conn:1', 'conn:2']);
    fakes.all('conn')[0]!.crash();
    await settle();
    expect(fakes.latest('conn').args).toEqual({ peer: 'n1' });
    expect((await sup.whichChildren()).map((child) => [child.id, child.restarts])).toEqual([
      ['conn:1', 1],
      ['conn:2', 0],
    ]);
    expect(await sup.countChildren()).toEqual({ specs: 1, active: 2, supervisors: 0, workers: 2 });
  });

  it('removes a dynamic child that will not be restarted', async () => {
    const sup = await start({ strategy: 'simple_one_for_one', children: [fakes.spec('job', { restart: 'transient' })] });
    await sup.startChild(1);
    await sup.startChild(2);
    fakes.all('job')[0]!.exit({ kind: 'normal' });
    await settle();
    expect((await sup.whichChildren()).map((child) => child.id)).toEqual(['job:2']);
  });

  it('refuses deleteChild and restartChild, and terminates by dynamic id', async () => {
    const sup = await start({ strategy: 'simple_one_for_one', children: [fakes.spec('w')] });
    const { id } = await sup.startChild('x');
    await expect(sup.deleteChild(id)).rejects.toMatchObject({ reason: 'simple_one_for_one' });
    await expect(sup.restartChild(id)).rejects.toMatchObject({ reason: 'simple_one_for_one' });
    await sup.terminateChild(id);
    expect(fakes.latest('w').alive).toBe(false);
    expect(await sup.whichChildren()).toEqual([]);
    await expect(sup.terminateChild(id)).rejects.toMatchObject({ reason: 'not_found' });
  });

  it('shuts dynamic children down in parallel', async () => {
    const sup = await start({ strategy: 'simple_one_for_one', children: [fakes.spec('w', { stopMode: 'manual' })] });
    await sup.startChild(1);
    await sup.startChild(2);
    await sup.startChild(3);
    let stopped = false;
    const stopping = sup.stop().then(() => (stopped = true));
    await settle();
    // All three were asked before any of them finished.
    expect(fakes.all('w').map((child) => child.stopCalls)).toEqual([1, 1, 1]);
    expect(stopped).toBe(false);
    for (const child of fakes.all('w')) child.finishStop();
    await stopping;
    expect(sup.status).toBe('stopped');
  });

  it('needs exactly one child spec', async () => {
    await expect(start({ strategy: 'simple_one_for_one', children: abc() })).rejects.toMatchObject({ reason: 'bad_spec' });
    await expect(start({ strategy: 'simple_one_for_one', children: [] })).rejects.toMatchObject({ reason: 'bad_spec' });
  });
});
