import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Actor, assign, setup } from 'xstate';
import { settle, VirtualClock } from '../src/clock.ts';
import { actorChild, startActor } from '../supervisors/actorChild.ts';
import { Supervisor } from '../supervisors/Supervisor.ts';
import type { ErrorReport, ExitReason } from '../supervisors/types.ts';

const counter = setup({
  types: {
    context: {} as { count: number },
    events: {} as { type: 'INC' } | { type: 'BOOM' } | { type: 'FINISH' } | { type: 'NEST' },
  },
  actions: {
    explode: () => {
      throw new Error('kaboom');
    },
  },
}).createMachine({
  id: 'counter',
  context: { count: 0 },
  initial: 'idle',
  states: {
    idle: {
      on: {
        INC: { actions: assign({ count: ({ context }) => context.count + 1 }) },
        BOOM: { actions: 'explode' },
        FINISH: 'finished',
        NEST: 'busy',
      },
    },
    busy: { initial: 'working', states: { working: { after: { 1000: 'cooling' } }, cooling: {} } },
    finished: { type: 'final' },
  },
});

const crashOnEntry = setup({
  actions: {
    explode: () => {
      throw new Error('bad init');
    },
  },
}).createMachine({ initial: 'start', states: { start: { entry: 'explode' } } });

let clock: VirtualClock;
let reports: ErrorReport[];
let uncaught: unknown[];
const onUncaught = (error: unknown) => uncaught.push(error);

beforeEach(() => {
  clock = new VirtualClock();
  reports = [];
  uncaught = [];
  process.on('uncaughtException', onUncaught);
});

afterEach(() => {
  process.off('uncaughtException', onUncaught);
});

/** xstate reports unobserved errors from a real `setTimeout`, so give one a chance to fire. */
const realTick = () => new Promise((resolve) => setTimeout(resolve, 20));

async function superviseCounter(options: { restart?: 'permanent' | 'transient'; saveSnapshot?: (snapshot: unknown) => void } = {}) {
  const store: { snapshot?: unknown; saves: number } = { saves: 0 };
  const actors: Actor<typeof counter>[] = [];
  const sup = await Supervisor.start({
    id: 'sup',
    clock,
    intensity: 5,
    errors: { report: (report) => reports.push(report) },
    children: [
      actorChild({
        id: 'counter',
        logic: counter,
        clock,
        restart: options.restart,
        loadSnapshot: () => store.snapshot,
        saveSnapshot:
          options.saveSnapshot ??
          ((snapshot) => {
            store.saves += 1;
            store.snapshot = JSON.parse(JSON.stringify(snapshot));
          }),
        onActor: (actor) => actors.push(actor),
      }),
    ],
  });
  return { sup, store, actors, current: () => actors[actors.length - 1]! };
}

describe('actorChild', () => {
  it('restarts a machine that throws in an action from its last persisted snapshot, with no unhandled error', async () => {
    const { sup, actors, current } = await superviseCounter();
    current().send({ type: 'INC' });
    current().send({ type: 'INC' });
    const first = current();
    first.send({ type: 'BOOM' });
    await settle();
    await realTick();

    expect(actors).toHaveLength(2);
    expect(first.getSnapshot().status).toBe('error');
    expect(current().getSnapshot().status).toBe('active');
    expect(current().getSnapshot().context.count).toBe(2);
    current().send({ type: 'INC' });
    expect(current().getSnapshot().context.count).toBe(3);
    expect(reports).toMatchObject([
      { source: 'sup/counter', severity: 'error', code: 'BOSUN_SUP_CHILD_CRASHED', action: 'restarted', error: new Error('kaboom') },
    ]);
    expect(uncaught).toEqual([]);
    expect(sup.status).toBe('running');
  });

  it('exits normally when the machine reaches a final state, so a transient child stays down', async () => {
    const { sup, current } = await superviseCounter({ restart: 'transient' });
    current().send({ type: 'FINISH' });
    await settle();
    expect(await sup.whichChildren()).toMatchObject([{ id: 'counter', status: 'stopped' }]);
    expect(reports).toEqual([]);
  });

  it('stops the actor on shutdown and describes its state in the tree', async () => {
    const { sup, current } = await superviseCounter();
    expect(sup.tree().children).toEqual([
      { id: 'counter', kind: 'worker', restarts: 0, state: 'idle', children: [], info: { status: 'active' } },
    ]);
    current().send({ type: 'NEST' });
    expect(sup.tree().children[0]!.state).toBe('{"busy":"working"}');
    const actor = current();
    await sup.terminateChild('counter');
    expect(actor.getSnapshot().status).toBe('stopped');
    expect(reports).toEqual([]);
  });

  it('runs delayed transitions on the injected clock', async () => {
    const { current } = await superviseCounter();
    current().send({ type: 'NEST' });
    await clock.advance(999);
    expect(current().getSnapshot().value).toEqual({ busy: 'working' });
    await clock.advance(1);
    expect(current().getSnapshot().value).toEqual({ busy: 'cooling' });
  });

  it('crashes the child when persisting a snapshot fails', async () => {
    let failing = false;
    const { actors, current } = await superviseCounter({
      saveSnapshot: () => {
        if (failing) throw new Error('disk full');
      },
    });
    failing = true;
    current().send({ type: 'INC' });
    failing = false;
    await settle();
    await realTick();
    expect(actors).toHaveLength(2);
    expect(reports).toMatchObject([{ code: 'BOSUN_SUP_CHILD_CRASHED', error: new Error('disk full'), action: 'restarted' }]);
    expect(uncaught).toEqual([]);
  });

  it('counts a machine that fails while starting as a failed start', async () => {
    const failure = await Supervisor.start({ id: 'sup', clock, children: [actorChild({ id: 'bad', logic: crashOnEntry })] }).catch(
      (error: unknown) => error,
    );
    await realTick();
    expect(failure).toMatchObject({ code: 'BOSUN_SUP_BAD_SPEC', reason: 'start_failed', cause: new Error('bad init') });
    expect(uncaught).toEqual([]);
  });

  it('reports the exit reasons of its handle: shutdown on stop, killed on kill', async () => {
    const stopped = startActor({ logic: counter });
    const killed = startActor({ logic: counter });
    const reasons: ExitReason[] = [];
    stopped.onExit((reason) => reasons.push(reason));
    killed.onExit((reason) => reasons.push(reason));
    await stopped.stop();
    killed.kill();
    expect(reasons).toEqual([{ kind: 'shutdown' }, { kind: 'killed' }]);
    expect(killed.actor.getSnapshot().status).toBe('stopped');
  });
});
