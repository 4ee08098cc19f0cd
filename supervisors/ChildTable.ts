/**
 * The children of one supervisor, in start order, with OTP's bookkeeping rules: which
 * specs are forgotten when their process ends, the order children are ended in, and how
 * the table is shown.
 * @internal
 */
import type { Clock } from '../src/clock.ts';
import type { ResolvedSpec } from './childSpec.ts';
import type { Incarnation } from './Incarnation.ts';
import type { ChildCounts, ChildInfo, ChildStatus, TreeNode } from './types.ts';

/** A child spec and its current run. */
export interface ChildRecord {
  id: string;
  spec: ResolvedSpec;
  /** The `startChild(args)` arguments of a dynamic child, passed again on restart. */
  args?: unknown;
  status: ChildStatus;
  current?: Incarnation;
  /** How many times it has been started; restarts are this minus one. */
  starts: number;
}

export function newRecord(spec: ResolvedSpec, id = spec.id, args?: unknown): ChildRecord {
  return { id, spec, args, status: 'stopped', starts: 0 };
}

function restartsOf(record: ChildRecord): number {
  return Math.max(0, record.starts - 1);
}

export class ChildTable {
  readonly #records = new Map<string, ChildRecord>();
  /** True for `simple_one_for_one`, whose children exist only while they run or restart. */
  readonly #dynamic: boolean;
  readonly #clock: Clock;
  readonly #onStopFailed: (record: ChildRecord, error: unknown) => void;

  constructor(dynamic: boolean, clock: Clock, onStopFailed: (record: ChildRecord, error: unknown) => void) {
    this.#dynamic = dynamic;
    this.#clock = clock;
    this.#onStopFailed = onStopFailed;
  }

  get size(): number {
    return this.#records.size;
  }

  get(id: string): ChildRecord | undefined {
    return this.#records.get(id);
  }

  /** True while this exact record is still in the table. */
  holds(record: ChildRecord): boolean {
    return this.#records.get(record.id) === record;
  }

  /** Adds a record last in start order. */
  add(record: ChildRecord): void {
    this.#records.set(record.id, record);
  }

  delete(id: string): void {
    this.#records.delete(id);
  }

  /** A copy, in start order. */
  list(): ChildRecord[] {
    return [...this.#records.values()];
  }

  /** OTP `del_child`: a temporary or dynamic child's spec goes when its process does. */
  forget(record: ChildRecord): void {
    if (this.#dynamic || record.spec.restart === 'temporary') this.#records.delete(record.id);
  }

  /** Ends one child by its shutdown policy, then forgets it if temporary or dynamic. */
  async terminate(record: ChildRecord): Promise<void> {
    const incarnation = record.current;
    if (incarnation) {
      const outcome = await incarnation.shutdown(record.spec.shutdown, this.#clock);
      if (outcome.kind === 'stop_failed') this.#onStopFailed(record, outcome.error);
    }
    if (record.current === incarnation) {
      record.current = undefined;
      record.status = 'stopped';
    }
    this.forget(record);
  }

  /** Ends these children one by one, last started first. */
  async terminateInReverse(records: readonly ChildRecord[]): Promise<void> {
    for (const record of [...records].reverse()) await this.terminate(record);
  }

  /** Ends every child: in reverse start order, or all at once for dynamic children as OTP does. */
  async terminateAll(): Promise<void> {
    if (this.#dynamic) await Promise.all(this.list().map((record) => this.terminate(record)));
    else await this.terminateInReverse(this.list());
  }

  /** Kills every child at once, last started first, without waiting. */
  killAll(): void {
    for (const record of this.list().reverse()) {
      record.current?.kill();
      record.current = undefined;
      record.status = 'stopped';
    }
  }

  /** OTP `do_auto_shutdown`, asked after `record` ended for good. */
  autoShutdownDue(record: ChildRecord, autoShutdown: 'never' | 'any_significant' | 'all_significant'): boolean {
    if (autoShutdown === 'never' || !record.spec.significant) return false;
    if (autoShutdown === 'any_significant') return true;
    if (this.#dynamic) return this.#records.size === 0;
    return !this.list().some((other) => other.spec.significant && other.status === 'running');
  }

  infos(): ChildInfo[] {
    return this.list().map((record) => ({
      id: record.id,
      type: record.spec.type,
      status: record.status,
      ...(record.current && { handle: record.current.handle }),
      restarts: restartsOf(record),
    }));
  }

  /** OTP `count_children`; for dynamic children `specs` is the one template. */
  counts(): ChildCounts {
    const records = this.list();
    const supervisors = records.filter((record) => record.spec.type === 'supervisor').length;
    return {
      specs: this.#dynamic ? 1 : records.length,
      active: records.filter((record) => record.status === 'running').length,
      supervisors,
      workers: records.length - supervisors,
    };
  }

  /** Tree nodes for the debug socket; a running child describes itself if it can. */
  nodes(): TreeNode[] {
    return this.list().map((record) => {
      const base = { id: record.id, kind: record.spec.type, restarts: restartsOf(record) };
      const handle = record.current?.handle;
      if (!handle) return { ...base, state: record.status, children: [] };
      try {
        return { ...base, state: 'running', children: [], ...handle.describe?.() };
      } catch (error) {
        return { ...base, state: 'running', children: [], info: { describeFailed: String(error) } };
      }
    });
  }
}
