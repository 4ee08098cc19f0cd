/**
 * Property tests: for arbitrary children, flags and crash sequences, the real Supervisor
 * must agree with a small model of OTP's rules after every command.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { settle, VirtualClock } from '../src/clock.ts';
import { Supervisor } from '../supervisors/Supervisor.ts';
import { FakeChildren } from './support/supervisors.ts';
import type { ErrorReport, ExitReason, RestartType } from '../supervisors/types.ts';

const numRuns = Number(process.env.BOSUN_FC_RUNS ?? 200);

type ExitKind = ExitReason['kind'];
type Command = { kind: 'exit'; child: number; reason: ExitKind } | { kind: 'advance'; ms: number };

const exitReason = (kind: ExitKind): ExitReason =>
  kind === 'error' ? { kind, error: new Error('boom') } : kind === 'shutdown' ? { kind } : { kind };

/** Any step, or one that lands a restart exactly on (or a millisecond either side of) the period's edge. */
const advanceMs = (periodSeconds: number) =>
  fc.oneof(
    fc.integer({ min: 0, max: 6000 }),
    fc.constantFrom(periodSeconds * 1000 - 1, periodSeconds * 1000, periodSeconds * 1000 + 1),
  );

const restartType = fc.constantFrom<RestartType>('permanent', 'permanent', 'transient', 'temporary');
const exitKind = fc.constantFrom<ExitKind>('error', 'error', 'normal', 'shutdown', 'killed');
const command = (children: number, periodSeconds: number) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('exit' as const), child: fc.nat(children - 1), reason: exitKind }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: advanceMs(periodSeconds) }) },
  );

const isClean = (kind: ExitKind) => kind === 'normal' || kind === 'shutdown';
const exitCode = (kind: ExitKind) =>
  kind === 'error' || kind === 'killed' ? 'BOSUN_SUP_CHILD_CRASHED' : 'BOSUN_SUP_CHILD_EXITED';

/** OTP's rules, written as plainly as possible. */
class Model {
  readonly children: { id: string; restart: RestartType; present: boolean; running: boolean; starts: number }[];
  readonly log: string[] = [];
  readonly reports: string[] = [];
  alive = true;
  #restarts: number[] = [];

  constructor(
    restarts: RestartType[],
    readonly strategy: 'one_for_one' | 'one_for_all' | 'rest_for_one',
    readonly intensity: number,
    readonly periodMs: number,
  ) {
    this.children = restarts.map((restart, i) => ({ id: `c${i}`, restart, present: true, running: true, starts: 1 }));
    for (const child of this.children) this.log.push(`start:${child.id}`);
  }

  exit(index: number, kind: ExitKind, now: number): void {
    const child = this.children[index]!;
    child.running = false;
    const restart = child.restart === 'permanent' || (child.restart === 'transient' && !isClean(kind));
    if (!restart) {
      if (child.restart === 'temporary') child.present = false;
      if (!isClean(kind)) this.reports.push(`sup/${child.id} ${exitCode(kind)} ignored`);
      return;
    }
    this.#restarts = [now, ...this.#restarts.filter((at) => at >= now - this.periodMs)];
    const allowed = this.#restarts.length <= this.intensity;
    this.reports.push(`sup/${child.id} ${exitCode(kind)} ${allowed ? 'restarted' : 'escalated'}`);
    if (!allowed) {
      this.reports.push('sup BOSUN_SUP_MAX_INTENSITY escalated');
      this.#stop(this.children);
      this.alive = false;
      return;
    }
    if (this.strategy === 'one_for_one') {
      this.#start(child);
      return;
    }
    const group = this.children.filter((other, i) => other.present && (this.strategy === 'one_for_all' || i >= index));
    this.#stop(group);
    for (const member of group) {
      if (member.restart === 'temporary') member.present = false;
      else this.#start(member);
    }
  }

  #start(child: Model['children'][number]): void {
    child.running = true;
    child.starts += 1;
    this.log.push(`start:${child.id}`);
  }

  #stop(children: Model['children']): void {
    for (const child of [...children].reverse()) {
      if (!child.running) continue;
      child.running = false;
      this.log.push(`stop:${child.id}`);
    }
  }
}

describe('supervisor against the OTP model', () => {
  it('agrees on running children, start counts, order of starts and stops, reports and death', async () => {
    const scenario = fc
      .record({
        restarts: fc.array(restartType, { minLength: 1, maxLength: 5 }),
        strategy: fc.constantFrom('one_for_one' as const, 'one_for_all' as const, 'rest_for_one' as const),
        intensity: fc.integer({ min: 0, max: 4 }),
        periodSeconds: fc.integer({ min: 1, max: 10 }),
      })
      .chain((setup) => fc.record({ setup: fc.constant(setup), commands: fc.array(command(setup.restarts.length, setup.periodSeconds), { maxLength: 30 }) }));

    await fc.assert(
      fc.asyncProperty(scenario, async ({ setup, commands }) => {
        const clock = new VirtualClock();
        const fakes = new FakeChildren();
        const reports: ErrorReport[] = [];
        const exits: ExitReason[] = [];
        const model = new Model(setup.restarts, setup.strategy, setup.intensity, setup.periodSeconds * 1000);
        const sup = await Supervisor.start({
          id: 'sup',
          clock,
          errors: { report: (report) => reports.push(report) },
          strategy: setup.strategy,
          intensity: setup.intensity,
          periodSeconds: setup.periodSeconds,
          children: model.children.map((child) => fakes.spec(child.id, { restart: child.restart })),
        });
        sup.onExit((reason) => exits.push(reason));

        for (const step of commands) {
          if (step.kind === 'advance') {
            await clock.advance(step.ms);
          } else {
            const id = `c${step.child}`;
            const real = fakes.all(id).at(-1);
            const modelChild = model.children[step.child]!;
            if (model.alive && modelChild.present && modelChild.running) model.exit(step.child, step.reason, clock.now());
            if (real?.alive) real.exit(exitReason(step.reason));
            await settle();
          }

          expect(fakes.log).toEqual(model.log);
          expect(reports.map((report) => `${report.source} ${report.code} ${report.action}`)).toEqual(model.reports);
          for (const child of model.children) {
            expect(fakes.starts(child.id)).toBe(child.starts);
            expect(fakes.latest(child.id).alive).toBe(child.running);
          }
          expect(sup.status).toBe(model.alive ? 'running' : 'stopped');
          if (model.alive) {
            const which = await sup.whichChildren();
            const expected = model.children.filter((child) => child.present);
            expect(which.map((child) => [child.id, child.status])).toEqual(
              expected.map((child) => [child.id, child.running ? 'running' : 'stopped']),
            );
          } else {
            expect(exits).toEqual([{ kind: 'shutdown', detail: 'reached_max_restart_intensity' }]);
          }
        }
      }),
      { numRuns },
    );
  });

  it('simple_one_for_one: dynamic children live, restart and die by the same rules', async () => {
    type DynCommand = { kind: 'start' } | { kind: 'exit'; pick: number; reason: ExitKind } | { kind: 'advance'; ms: number };
    const dynCommand = (periodSeconds: number): fc.Arbitrary<DynCommand> =>
      fc.oneof(
        fc.record({ kind: fc.constant('start' as const) }),
        fc.record({ kind: fc.constant('exit' as const), pick: fc.nat(20), reason: exitKind }),
        fc.record({ kind: fc.constant('advance' as const), ms: advanceMs(periodSeconds) }),
      );
    const scenario = fc
      .record({ restart: restartType, intensity: fc.integer({ min: 0, max: 4 }), periodSeconds: fc.integer({ min: 1, max: 10 }) })
      .chain((setup) => fc.array(dynCommand(setup.periodSeconds), { maxLength: 30 }).map((commands) => ({ ...setup, commands })));

    await fc.assert(
      fc.asyncProperty(scenario, async ({ restart, intensity, periodSeconds, commands }) => {
        const clock = new VirtualClock();
        const fakes = new FakeChildren();
        const sup = await Supervisor.start({
          id: 'sup',
          clock,
          strategy: 'simple_one_for_one',
          intensity,
          periodSeconds,
          children: [fakes.spec('w', { restart })],
        });
        /** Model: dynamic id → start count, for children that exist; plus the restart times. */
        const alive = new Map<string, number>();
        let restarts: number[] = [];
        let dead = false;
        let next = 1;

        for (const step of commands) {
          if (dead) break;
          if (step.kind === 'advance') {
            await clock.advance(step.ms);
            continue;
          }
          if (step.kind === 'start') {
            const { id } = await sup.startChild(next);
            expect(id).toBe(`w:${next}`);
            alive.set(id, 1);
            next += 1;
            continue;
          }
          const ids = [...alive.keys()];
          if (ids.length === 0) continue;
          const id = ids[step.pick % ids.length]!;
          const argument = Number(id.slice(2));
          const real = fakes.all('w').filter((child) => child.args === argument).at(-1)!;
          real.exit(exitReason(step.reason));
          await settle();
          if (restart === 'permanent' || (restart === 'transient' && !isClean(step.reason))) {
            const now = clock.now();
            restarts = [now, ...restarts.filter((at) => at >= now - periodSeconds * 1000)];
            if (restarts.length > intensity) {
              dead = true;
              expect(sup.status).toBe('stopped');
              expect(fakes.all('w').every((child) => !child.alive)).toBe(true);
              break;
            }
            alive.set(id, alive.get(id)! + 1);
          } else {
            alive.delete(id);
          }
          const which = await sup.whichChildren();
          expect(which.map((child) => [child.id, child.restarts])).toEqual([...alive].map(([key, starts]) => [key, starts - 1]));
          expect(fakes.all('w').filter((child) => child.alive)).toHaveLength(alive.size);
        }
        if (!dead) expect(sup.status).toBe('running');
      }),
      { numRuns },
    );
  });
});
