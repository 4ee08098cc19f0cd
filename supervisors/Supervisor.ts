/**
 * An OTP supervisor. The rules follow `supervisor.erl`; where JavaScript forces a choice
 * the comment says so. Like an Erlang process, a supervisor handles one thing at a time:
 * child exits, API calls and its own shutdown go through one serial mailbox, so a crash
 * that arrives mid-restart waits its turn instead of interleaving with it.
 *
 * Escalation: when restarts exceed the intensity, the supervisor stops its children and
 * exits with `{kind: 'shutdown', detail: 'reached_max_restart_intensity'}`, exactly as
 * OTP exits with reason `shutdown`. Its parent sees a child exit and applies its own
 * strategy. Because `shutdown` is a clean exit, a *transient* supervisor child is then
 * not restarted and the failure stops climbing there; make a supervisor child
 * `permanent` (the default) for escalation to reach the parent's intensity.
 */
import { type Clock, systemClock } from '../src/clock.ts';
import { type ChildRecord, ChildTable, newRecord } from './ChildTable.ts';
import { type ResolvedFlags, type ResolvedSpec, resolveChildSpec, resolveChildSpecs, resolveFlags } from './childSpec.ts';
import { ExitSignal } from './ExitSignal.ts';
import { Incarnation, isChildHandle } from './Incarnation.ts';
import { Mailbox } from './Mailbox.ts';
import { describeExit, exitReport, internalErrorReport, maxIntensityReport } from './reports.ts';
import { safeReport, shutdownErrorReport, startFailedReport } from './reports.ts';
import { RestartIntensity } from './RestartIntensity.ts';
import { isCleanExit, restartsAfter } from './restartPolicy.ts';
import { SupervisorError, type SupervisorErrorReason } from './SupervisorError.ts';
import type { ChildCounts, ChildHandle, ChildInfo, ChildSpec, ErrorReport, ErrorSink, ExitReason } from './types.ts';
import type { StartedChild, SupervisorOptions, SupervisorStatus, TreeNode } from './types.ts';

const silentSink: ErrorSink = { report: () => {} };

export class Supervisor implements ChildHandle {
  readonly id: string;
  readonly #flags: ResolvedFlags;
  readonly #clock: Clock;
  readonly #errors: ErrorSink;
  readonly #intensity: RestartIntensity;
  /** The template of a `simple_one_for_one` supervisor. */
  readonly #template: ResolvedSpec | undefined;
  readonly #children: ChildTable;
  readonly #mailbox = new Mailbox();
  #nextDynamicId = 1;
  /** Set when a parent supervisor starts this one, so reports carry the full tree path. */
  #parent: { supervisor: Supervisor; childId: string } | undefined;
  #status: SupervisorStatus = 'starting';
  #stopRequested = false;
  readonly #exit = new ExitSignal((error) => this.#report(internalErrorReport(this.path, error)));

  private constructor(options: SupervisorOptions, flags: ResolvedFlags, specs: ResolvedSpec[]) {
    this.id = options.id;
    this.#flags = flags;
    this.#clock = options.clock ?? systemClock;
    this.#errors = options.errors ?? silentSink;
    this.#intensity = new RestartIntensity(flags.intensity, flags.periodSeconds);
    this.#template = flags.strategy === 'simple_one_for_one' ? specs[0] : undefined;
    this.#children = new ChildTable(this.#template !== undefined, this.#clock, (record, error) =>
      this.#report(shutdownErrorReport(this.#childPath(record.id), record.id, error, 'failed to stop')),
    );
  }

  /**
   * Validates the flags and specs, then starts the children left to right. If one fails
   * to start, those already started are stopped in reverse order and the promise rejects
   * with a `SupervisorError` (`BOSUN_SUP_BAD_SPEC`, reason `start_failed`, the child's
   * error as `cause`); invalid options reject with reason `bad_spec`.
   */
  static async start(options: SupervisorOptions): Promise<Supervisor> {
    if (typeof options?.id !== 'string' || options.id === '') {
      throw new SupervisorError('bad_spec', 'a supervisor needs a non-empty string id');
    }
    const flags = resolveFlags(options);
    const specs = resolveChildSpecs(options.children ?? [], flags);
    const supervisor = new Supervisor(options, flags, specs);
    await supervisor.#mailbox.run(() => supervisor.#init(specs));
    return supervisor;
  }

  get status(): SupervisorStatus {
    return this.#status;
  }

  /** Where this supervisor sits in the tree, e.g. `bosun/inbound`. */
  get path(): string {
    return this.#parent ? `${this.#parent.supervisor.path}/${this.#parent.childId}` : this.id;
  }

  /**
   * OTP `start_child/2`. Given a spec, adds it last in start order and starts it. On a
   * `simple_one_for_one` supervisor the argument is passed to the template's `start`
   * instead, and the new child gets the id `<template id>:<n>`.
   */
  startChild(spec: ChildSpec): Promise<StartedChild>;
  startChild(args?: unknown): Promise<StartedChild>;
  startChild(specOrArgs?: unknown): Promise<StartedChild> {
    return this.#call(async () => {
      let record: ChildRecord;
      if (this.#template) {
        record = newRecord(this.#template, `${this.#template.id}:${this.#nextDynamicId++}`, specOrArgs);
      } else {
        const spec = resolveChildSpec(specOrArgs as ChildSpec, this.#flags.autoShutdown);
        const existing = this.#children.get(spec.id);
        if (existing) throw this.#refuse(existing.status === 'running' ? 'already_started' : 'already_present', spec.id);
        record = newRecord(spec);
      }
      const incarnation = await this.#startOrExplain(record);
      this.#children.add(record);
      return { id: record.id, handle: incarnation.handle };
    });
  }

  /**
   * OTP `terminate_child/2`: shuts the child down by its shutdown policy. The spec is
   * kept (and may be restarted later) unless the child is temporary or dynamic.
   */
  terminateChild(id: string): Promise<void> {
    return this.#call(async () => {
      const record = this.#children.get(id);
      if (!record) throw this.#refuse('not_found', id);
      await this.#children.terminate(record);
    });
  }

  /** OTP `delete_child/2`: forgets the spec of a child that is not running. */
  deleteChild(id: string): Promise<void> {
    return this.#call(() => this.#children.delete(this.#stoppedRecord(id).id));
  }

  /** OTP `restart_child/2`: starts a stopped child again. Does not count towards intensity. */
  restartChild(id: string): Promise<StartedChild> {
    return this.#call(async () => {
      const incarnation = await this.#startOrExplain(this.#stoppedRecord(id));
      return { id, handle: incarnation.handle };
    });
  }

  /** OTP `which_children/1`, in start order. */
  whichChildren(): Promise<ChildInfo[]> {
    return this.#call(() => this.#children.infos());
  }

  /** OTP `count_children/1`. */
  countChildren(): Promise<ChildCounts> {
    return this.#call(() => this.#children.counts());
  }

  /** The live tree below and including this supervisor. */
  tree(): TreeNode {
    return { id: this.id, kind: 'supervisor', restarts: 0, ...this.describe() };
  }

  describe(): Omit<TreeNode, 'id' | 'restarts' | 'kind'> {
    const { strategy, intensity, periodSeconds } = this.#flags;
    return {
      state: this.#status,
      children: this.#children.nodes(),
      info: { strategy, intensity, periodSeconds, recentRestarts: this.#intensity.recent },
    };
  }

  /** Shuts the children down in reverse start order, then exits with reason `shutdown`. */
  stop(): Promise<void> {
    if (this.#status !== 'stopped' && !this.#stopRequested) {
      this.#stopRequested = true;
      this.#enqueue(() => this.#terminateSelf({ kind: 'shutdown' }));
    }
    return this.#exit.wait().then(() => {});
  }

  /** Kills every child at once and exits with reason `killed`. */
  kill(): void {
    if (this.#status === 'stopped') return;
    this.#children.killAll();
    this.#finish({ kind: 'killed' });
  }

  onExit(listener: (reason: ExitReason) => void): void {
    this.#exit.listen(listener);
  }

  /** Fails as a supervisor process that crashed: its children stop, it exits with `error`. */
  fault(error: Error): void {
    this.#enqueue(() => this.#terminateSelf({ kind: 'error', error }));
  }

  // --- mailbox ---------------------------------------------------------------------------

  #enqueue(op: () => Promise<void>): void {
    this.#mailbox.run(op).catch((error: unknown) => this.#report(internalErrorReport(this.path, error)));
  }

  #call<T>(op: () => T | Promise<T>): Promise<T> {
    return this.#mailbox.run(() => {
      if (this.#status !== 'running') {
        throw new SupervisorError('not_running', `supervisor "${this.id}" is not running`);
      }
      return op();
    });
  }

  // --- starting --------------------------------------------------------------------------

  async #init(specs: ResolvedSpec[]): Promise<void> {
    if (!this.#template) {
      for (const spec of specs) {
        const record = newRecord(spec);
        this.#children.add(record);
        try {
          await this.#startRecord(record);
        } catch (error) {
          this.#report(startFailedReport(this.#childPath(spec.id), spec.id, error, 'escalated'));
          this.#status = 'stopping';
          await this.#children.terminateAll();
          this.#status = 'stopped';
          const message = `supervisor "${this.id}": child "${spec.id}" failed to start`;
          throw new SupervisorError('start_failed', message, { cause: error });
        }
      }
    }
    this.#status = 'running';
  }

  async #startRecord(record: ChildRecord): Promise<Incarnation> {
    const handle: unknown = await record.spec.start(record.args);
    if (!isChildHandle(handle)) {
      throw new SupervisorError('bad_spec', `child "${record.id}": start did not return a ChildHandle`);
    }
    const incarnation = new Incarnation(handle);
    if (this.#status === 'stopped') {
      incarnation.kill();
      throw new SupervisorError('not_running', `supervisor "${this.id}" was killed while "${record.id}" started`);
    }
    if (handle instanceof Supervisor) handle.#parent = { supervisor: this, childId: record.id };
    record.current = incarnation;
    record.status = 'running';
    record.starts += 1;
    try {
      handle.onExit((reason) => {
        if (incarnation.recordExit(reason)) this.#enqueue(() => this.#childExited(record, incarnation, reason));
      });
    } catch (error) {
      incarnation.kill();
      record.current = undefined;
      record.status = 'stopped';
      throw error;
    }
    return incarnation;
  }

  /** Starts a child for an API call, turning a failure into OTP's `{error, Reason}`. */
  async #startOrExplain(record: ChildRecord): Promise<Incarnation> {
    try {
      return await this.#startRecord(record);
    } catch (error) {
      throw new SupervisorError('start_failed', `child "${record.id}" failed to start`, { cause: error });
    }
  }

  /** One restart attempt for one child; false if its start threw. */
  async #tryStart(record: ChildRecord): Promise<boolean> {
    try {
      await this.#startRecord(record);
      return true;
    } catch (error) {
      if (this.#status !== 'stopped') {
        this.#report(startFailedReport(this.#childPath(record.id), record.id, error, 'restarted'));
      }
      return false;
    }
  }

  // --- exits and restarts ----------------------------------------------------------------

  async #childExited(record: ChildRecord, incarnation: Incarnation, reason: ExitReason): Promise<void> {
    if (this.#status !== 'running' || record.current !== incarnation || incarnation.terminating) {
      // We were already ending it; OTP reports an unexpected reason as a shutdown_error.
      if (reason.kind === 'error') {
        this.#report(shutdownErrorReport(this.#childPath(record.id), record.id, reason.error, describeExit(reason)));
      }
      return;
    }
    record.current = undefined;
    record.status = 'stopped';
    if (restartsAfter(record.spec.restart, reason)) {
      await this.#restart(record, reason);
      return;
    }
    this.#children.forget(record);
    const shutDownSelf = this.#children.autoShutdownDue(record, this.#flags.autoShutdown);
    if (!isCleanExit(reason)) {
      this.#report(exitReport(this.#childPath(record.id), record.id, reason, shutDownSelf ? 'escalated' : 'ignored'));
    }
    if (shutDownSelf) await this.#terminateSelf({ kind: 'shutdown', detail: 'auto_shutdown' });
  }

  /**
   * OTP `restart/2`: count the restart, give up if that exceeds the intensity, else
   * restart by strategy. A child that fails to start is marked `restarting` and tried
   * again through the mailbox (OTP `try_again_restart`), so other requests get in
   * between, and each attempt counts again.
   */
  async #restart(record: ChildRecord, cause?: ExitReason): Promise<void> {
    const allowed = this.#intensity.add(this.#clock.now());
    if (cause) this.#report(exitReport(this.#childPath(record.id), record.id, cause, allowed ? 'restarted' : 'escalated'));
    if (!allowed) {
      this.#report(maxIntensityReport(this.path, this.#flags.intensity, this.#flags.periodSeconds));
      await this.#terminateSelf({ kind: 'shutdown', detail: 'reached_max_restart_intensity' });
      return;
    }
    const failed = await this.#restartByStrategy(record);
    if (!failed) return;
    failed.status = 'restarting';
    this.#enqueue(async () => {
      if (this.#status === 'running' && failed.status === 'restarting' && this.#children.holds(failed)) {
        await this.#restart(failed);
      }
    });
  }

  /** Returns the child that failed to start, if one did; the ones after it stay stopped. */
  async #restartByStrategy(record: ChildRecord): Promise<ChildRecord | undefined> {
    const { strategy } = this.#flags;
    if (strategy === 'one_for_one' || strategy === 'simple_one_for_one') {
      return (await this.#tryStart(record)) ? undefined : record;
    }
    const all = this.#children.list();
    const group = strategy === 'one_for_all' ? all : all.slice(all.indexOf(record));
    await this.#children.terminateInReverse(group);
    // Every spec left in the group starts, including ones that were already down;
    // temporary ones were dropped by the terminate above.
    for (const member of group) {
      if (this.#children.holds(member) && !(await this.#tryStart(member))) return member;
    }
    return undefined;
  }

  #stoppedRecord(id: string): ChildRecord {
    if (this.#template) throw this.#refuse('simple_one_for_one', id);
    const record = this.#children.get(id);
    if (!record) throw this.#refuse('not_found', id);
    if (record.status !== 'stopped') throw this.#refuse(record.status, id);
    return record;
  }

  // --- shutting down ---------------------------------------------------------------------

  async #terminateSelf(reason: ExitReason): Promise<void> {
    if (this.#status !== 'running') return;
    this.#status = 'stopping';
    await this.#children.terminateAll();
    this.#finish(reason);
  }

  #finish(reason: ExitReason): void {
    if (this.#exit.reason) return;
    this.#status = 'stopped';
    this.#exit.fire(reason);
  }

  // --- reporting -------------------------------------------------------------------------

  #childPath(id: string): string {
    return `${this.path}/${id}`;
  }

  #refuse(reason: SupervisorErrorReason, id: string): SupervisorError {
    return new SupervisorError(reason, `supervisor "${this.id}", child "${id}": ${reason.replaceAll('_', ' ')}`);
  }

  #report(report: ErrorReport): void {
    safeReport(this.#errors, report);
  }
}
