import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Subscriber } from '../delivery/Subscriber.ts';
import { BosunError } from '../errors.ts';
import { isValidName } from '../message.ts';
import type { MethodRegistry } from '../methods/registry.ts';
import type { MethodOperator, MethodSpec, OperatorProcess, ProcessSource } from '../methods/types.ts';
import { PROC_PREFIX, prefixRange, procKey } from '../store/keys.ts';
import type { Store, StoreOp } from '../store/types.ts';

/** An operator's start or stop of one method's subscriber, as the store keeps it. */
export interface ProcessOverride {
  state: 'running' | 'stopped';
  /** With `running`: the only nodes that may send the method here. */
  allowedNodes?: string[];
  /** The method's config switch when the operator acted. */
  switchedOn: boolean;
  /** When the operator acted, in ms since the epoch. */
  at: number;
}

/** What a method's subscriber does, and who decided it. */
export interface ProcessPlan {
  /** `off`: the method is not served and its messages are refused, as for an unknown method. */
  state: 'running' | 'stopped' | 'off';
  allowedNodes?: string[];
  source: ProcessSource;
}

/**
 * The precedence rule: an operator's start or stop is newer than the configuration it was
 * made against, so it wins; without one, the method switch decides.
 */
export function planFor(switchedOn: boolean, override: ProcessOverride | undefined): ProcessPlan {
  if (override) return { state: override.state, ...(override.allowedNodes ? { allowedNodes: override.allowedNodes } : {}), source: 'operator' };
  return { state: switchedOn ? 'running' : 'off', source: 'config' };
}

/**
 * Whether a kept override still applies at start-up. When the method's switch differs
 * from the one the operator acted against, the configuration was changed after the
 * operator's change: that is the newer decision, and the override is forgotten.
 */
export function overrideHolds(override: ProcessOverride, switchedOn: boolean): boolean {
  return override.switchedOn === switchedOn;
}

/** A stored record that is a well-formed override; anything else is left out. */
export function isProcessOverride(value: unknown): value is ProcessOverride {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Partial<ProcessOverride>;
  if (v.state !== 'running' && v.state !== 'stopped') return false;
  if (typeof v.switchedOn !== 'boolean' || typeof v.at !== 'number') return false;
  if (v.allowedNodes === undefined) return true;
  return v.state === 'running' && Array.isArray(v.allowedNodes) && v.allowedNodes.length > 0 && v.allowedNodes.every((n) => typeof n === 'string' && isValidName(n));
}

/**
 * Operators' changes are synced even on a store opened without sync: they are rare, and
 * the reply promises they survive a power cut.
 */
const DURABLE = { sync: true } as const;

export interface ProcessControlDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  /** The methods this node serves; an operator's start of a switched-off method adds it here. */
  methods: MethodRegistry;
  /** Built-in methods the configuration switched off: an operator may still start them. */
  switchedOff: readonly MethodSpec[];
  /** The subscribers there are now, by method. */
  subscribers: ReadonlyMap<string, Subscriber>;
  /** The method's subscriber, made (and supervised) when there is none. */
  subscriber(method: string): Subscriber;
}

/**
 * Process control for `REQOpCommand` that outlives restarts. An operator's `startProc` or
 * `stopProc` is written to the store (synced) before the subscriber changes and before
 * the call resolves, so the reply is never ahead of what a crash would keep. At every
 * start of the inbound subtree the kept changes are read back before any subscriber is
 * made, so a stopped method's inbox entries wait from the first moment.
 */
export class ProcessControl implements MethodOperator {
  #overrides = new Map<string, ProcessOverride>();
  readonly #switchedOff: ReadonlyMap<string, MethodSpec>;

  constructor(private readonly deps: ProcessControlDeps) {
    this.#switchedOff = new Map(deps.switchedOff.map((m) => [m.name, m]));
  }

  /** Reads the kept overrides, forgets those that no longer apply, and serves what they started. */
  async load(): Promise<void> {
    const kept = new Map<string, ProcessOverride>();
    const forget: StoreOp[] = [];
    for (const [key, value] of await this.deps.store.range<unknown>(prefixRange(PROC_PREFIX))) {
      const method = key.slice(PROC_PREFIX.length + 1);
      const why = this.#whyForget(method, value);
      if (why === undefined) kept.set(method, value as ProcessOverride);
      else {
        forget.push({ type: 'del', key });
        this.deps.log.warn({ method }, `forgot the operator's start or stop of ${method}: ${why}`);
      }
    }
    if (forget.length > 0) await this.deps.store.write(forget);
    this.#overrides = kept;
    for (const method of kept.keys()) this.#serveAsPlanned(method);
  }

  /** Brings a new subscriber to its planned state before it takes any entry. */
  apply(sub: Subscriber): void {
    const plan = this.plan(sub.method);
    sub.serve(plan.state === 'off' ? undefined : this.#specOf(sub.method));
    sub.allowedNodes = plan.allowedNodes;
    if (plan.state === 'stopped') sub.pause();
    else if (sub.paused) sub.resume();
  }

  /** What the method's subscriber should do now, and why. */
  plan(method: string): ProcessPlan {
    return planFor(!this.#switchedOff.has(method), this.#overrides.get(method));
  }

  async list(): Promise<OperatorProcess[]> {
    const methods = new Set([...this.deps.methods.list().map((m) => m.name), ...this.#switchedOff.keys()]);
    return [...methods].sort((a, b) => a.localeCompare(b)).map((m) => this.#describe(m));
  }

  async start(method: string, allowedNodes?: string[]): Promise<void> {
    await this.#keep(method, { state: 'running', ...(allowedNodes && allowedNodes.length > 0 ? { allowedNodes } : {}) });
  }

  async stop(method: string): Promise<void> {
    await this.#keep(method, { state: 'stopped' });
  }

  async reset(method: string): Promise<OperatorProcess> {
    this.#specOrRefuse(method);
    if (this.#overrides.has(method)) {
      await this.deps.store.write([{ type: 'del', key: procKey(method) }], DURABLE);
      this.#overrides.delete(method);
      this.#enact(method);
    }
    return this.#describe(method);
  }

  /** Makes the change durable first: a crash after the reply must not undo it. */
  async #keep(method: string, change: Pick<ProcessOverride, 'state' | 'allowedNodes'>): Promise<void> {
    this.#specOrRefuse(method);
    const override: ProcessOverride = { ...change, switchedOn: !this.#switchedOff.has(method), at: this.deps.clock.now() };
    await this.deps.store.write([{ type: 'put', key: procKey(method), value: override }], DURABLE);
    this.#overrides.set(method, override);
    this.#enact(method);
  }

  /** Carries the plan out on the live node: the registry, then the subscriber (made if needed). */
  #enact(method: string): void {
    const serving = this.#serveAsPlanned(method);
    const sub = serving ? this.deps.subscriber(method) : this.deps.subscribers.get(method);
    if (sub) this.apply(sub);
  }

  /**
   * Adds a switched-off method to the served ones while an operator's change covers it, and
   * takes it out again when the change is reset: hellos and `ps` then tell the truth.
   */
  #serveAsPlanned(method: string): boolean {
    const serving = this.plan(method).state !== 'off';
    const switchedOff = this.#switchedOff.get(method);
    if (switchedOff && serving && !this.deps.methods.has(method)) this.deps.methods.register(switchedOff);
    if (switchedOff && !serving) this.deps.methods.delete(method);
    return serving;
  }

  #describe(method: string): OperatorProcess {
    const plan = this.plan(method);
    const sub = this.deps.subscribers.get(method);
    const info = sub?.info as { queued: number; running: number } | undefined;
    // A running subscriber says what its actor is doing (idle, busy, draining).
    const state = plan.state === 'running' && sub ? String(sub.actor.getSnapshot().value) : plan.state;
    return {
      method,
      state,
      source: plan.source,
      ...(plan.allowedNodes ? { allowedNodes: plan.allowedNodes } : {}),
      ...(info ? { queued: info.queued, active: info.running } : {}),
    };
  }

  #specOf(method: string): MethodSpec | undefined {
    return this.deps.methods.get(method) ?? this.#switchedOff.get(method);
  }

  #specOrRefuse(method: string): MethodSpec {
    const spec = this.#specOf(method);
    if (!spec) throw new BosunError('BOSUN_UNKNOWN_METHOD', `this node has no method ${method}`);
    return spec;
  }

  /** Why a kept record no longer applies, or undefined when it does. */
  #whyForget(method: string, value: unknown): string | undefined {
    if (!isProcessOverride(value)) return 'the record is not a start or stop this version understands';
    if (!this.#specOf(method)) return 'this node no longer has the method';
    const switchedOn = !this.#switchedOff.has(method);
    if (!overrideHolds(value, switchedOn)) {
      return `its method switch was changed to ${switchedOn ? 'on' : 'off'} since, which is the newer decision`;
    }
    return undefined;
  }
}
