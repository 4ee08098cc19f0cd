/**
 * A service child (a listener, a link, a watcher) under a real supervisor: its own failure
 * reaches the supervisor as an exit with the error, after the service let go of what it
 * held, so its successor never meets it still running.
 */
import { describe, expect, it } from 'vitest';
import { Supervisor } from '../supervisors/Supervisor.ts';
import type { ErrorReport } from '../supervisors/types.ts';
import { serviceChild, type ServiceControl } from '../src/runtime/children/serviceChild.ts';
import { until } from './helpers/until.ts';

describe('a service child', () => {
  it('is stopped before its supervisor sees it fail, and started again', async () => {
    const events: string[] = [];
    const controls: ServiceControl[] = [];
    let holding = 0;
    const reports: ErrorReport[] = [];
    const supervisor = await Supervisor.start({
      id: 'root',
      errors: { report: (r) => reports.push(r) },
      children: [
        serviceChild({
          id: 'listener',
          start: (control) => {
            // Two at once would be two listeners on one port.
            expect(holding).toBe(0);
            holding++;
            controls.push(control);
            events.push('start');
            return {
              stop: async () => {
                await new Promise((r) => setTimeout(r, 10));
                holding--;
                events.push('stop');
              },
              describe: () => ({ state: 'listening', info: { n: controls.length } }),
            };
          },
        }),
      ],
    });
    controls[0]!.fail(new Error('the socket broke'));
    await until(() => events.length === 3);
    expect(events).toEqual(['start', 'stop', 'start']);
    expect(reports).toMatchObject([{ code: 'BOSUN_SUP_CHILD_CRASHED', source: 'root/listener', action: 'restarted' }]);
    expect(supervisor.tree().children[0]).toMatchObject({ id: 'listener', state: 'listening', restarts: 1, info: { n: 2 } });
    await supervisor.stop();
    expect(events).toEqual(['start', 'stop', 'start', 'stop']);
  });

  it('fails its start when it fails while starting, releasing what it opened', async () => {
    let stopped = false;
    const start = serviceChild({
      id: 'half',
      start: (control) => {
        control.fail(new Error('no such file'));
        return { stop: () => void (stopped = true) };
      },
    }).start;
    await expect(Promise.resolve(start())).rejects.toThrow('no such file');
    expect(stopped).toBe(true);
  });

  it('fails from inside on fault injection, like any failure of its own', async () => {
    const reports: ErrorReport[] = [];
    let starts = 0;
    const supervisor = await Supervisor.start({
      id: 'root',
      errors: { report: (r) => reports.push(r) },
      children: [serviceChild({ id: 'watcher', start: () => (starts++, { stop: () => {} }) })],
    });
    const [child] = await supervisor.whichChildren();
    child!.handle!.fault!(new Error('injected'));
    await until(() => starts === 2);
    expect(reports.map((r) => `${r.code} ${r.source} ${r.action}`)).toEqual(['BOSUN_SUP_CHILD_CRASHED root/watcher restarted']);
    await supervisor.stop();
  });
});
