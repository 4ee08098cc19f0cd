import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Scheduler } from 'fast-check';
import { VirtualClock } from '../../src/clock.ts';
import type { Message } from '../../src/message.ts';
import type { MethodSpec } from '../../src/methods/types.ts';
import type { BosunNode, NodeErrorReport } from '../../src/runtime/Node.ts';
import { startNode } from '../../src/runtime/startNode.ts';
import { prefixRange } from '../../src/store/keys.ts';
import { MemoryStore } from '../../src/store/MemoryStore.ts';
import type { StoreOp } from '../../src/store/types.ts';
import { EmbeddedBus } from '../../src/transport/EmbeddedBus.ts';
import { BatchedRecordLogs, type BatchCrashPoint } from './batchedRecord.ts';
import { CrashPointStore, crashPointAfterWrite, hasTestOutboxPut } from './crashPointStore.ts';
import { signedFrameGuard, type FrameAttacker } from './frameAttacker.ts';
import { harnessMethods } from './harnessMethods.ts';
import { emptyHarnessStats, type CrashPoint, type HarnessOptions, type HarnessStats } from './harnessTypes.ts';
import { recorder } from './recorder.ts';
import { scheduledTransport } from './scheduledTransport.ts';
import { judgeStartedRuns } from './startedRuns.ts';

export interface Slot {
  name: string;
  node: BosunNode;
  memory: MemoryStore;
  incarnation: number;
  /** `down`: crashed, its code must have no more effects; `stopping`: a graceful stop. */
  state: 'up' | 'down' | 'stopping' | 'starting';
  armed: Set<CrashPoint>;
  storeFault: boolean;
  /** A targeted fault: the next `times` writes that `matches` fail. */
  writeFault?: { matches(ops: readonly StoreOp[]): boolean; times: number };
}

/**
 * Virtual time in whole milliseconds, as `Date.now()` gives: the bus draws fractional
 * delays, and the runtime builds store keys from timestamps, which must be integers.
 */
class WholeMsClock extends VirtualClock {
  override setTimer(ms: number, fn: () => void) {
    return super.setTimer(Math.ceil(ms), fn);
  }
}

/**
 * The nodes' files folders (`<dataDir>/files`; the test methods write no files). One
 * fixed place per process, reused by every run: a temporary folder per node start would
 * cost a directory creation each and leave thousands behind.
 */
const FILES_ROOT = path.join(os.tmpdir(), `bosun-harness-${process.pid}`);

/** Removes the files folders every harness of this process used. */
export async function removeHarnessFiles(): Promise<void> {
  await rm(FILES_ROOT, { recursive: true, force: true });
}

/** A node name nobody runs: error reports forwarded to "central" wait in outboxes, harmlessly. */
export const ABSENT_CENTRAL = 'central';

/**
 * The nodes of the fault-injection harness (`harness.ts`) and their lives: each a real
 * bosun node on its own `MemoryStore`, started, crashed at armed points or on command
 * (as `kill -9` or a power loss would), restarted on what its store kept, and stopped
 * gracefully. It keeps the account a checker needs of what crashes did: which messages
 * became unknown, which batches were reconciled, and what happened, in order.
 */
export class HarnessFleet {
  readonly clock: VirtualClock = new WholeMsClock();
  readonly bus: EmbeddedBus;
  readonly names: readonly string[];
  readonly recorder = recorder();
  /** The ordered method's effect: batches of it, with an effect a crash is reconciled in. */
  readonly batched = new BatchedRecordLogs(this.recorder.runs);
  /** `afterApply` crashes that reached a batch of several: two in three strike mid-batch. */
  #batchCrashes = 0;
  /** Request id → the data of every reply that reached its sender, in arrival order. */
  readonly replies = new Map<string, string[]>();
  /** Every error report, by node, across incarnations. */
  readonly reports: Array<NodeErrorReport & { node: string; incarnation: number }> = [];
  /** Nodes whose runtime retried a failing store read in a hot loop (see `READ_SPIN_LIMIT`). */
  readonly readSpins: string[] = [];
  /** What happened, in order: crashes, crash points hit, faults; for failure messages. */
  readonly trace: string[] = [];
  /**
   * Jepsen's `:info`: messages whose run had durably started (an `exec` record) when their
   * node crashed. The runtime reports them as interrupted and never runs them again, so
   * they may be missing, but never run twice.
   */
  readonly unknown = new Set<string>();
  /**
   * Messages in a batch with a checkpoint when their node crashed: the batch is cut back
   * and run again, so unless a later crash makes them unknown they must run exactly once
   * and never be reported interrupted.
   */
  readonly reconciled = new Set<string>();
  readonly stats: HarnessStats = emptyHarnessStats();
  scheduler: Scheduler | undefined;
  readonly attacker: FrameAttacker | undefined;
  protected readonly options: Required<Omit<HarnessOptions, 'scheduler' | 'nodes' | 'seed' | 'attacker'>>;
  protected readonly slots = new Map<string, Slot>();
  #restarts = new Set<Promise<void>>();
  #hookErrors: unknown[] = [];
  #disposed = false;

  protected constructor(options: HarnessOptions) {
    this.names = options.nodes ?? ['a', 'b', 'c'];
    this.bus = new EmbeddedBus({ seed: options.seed ?? 1, clock: this.clock });
    this.scheduler = options.scheduler;
    this.attacker = options.attacker;
    this.options = {
      windowSize: options.windowSize ?? 4,
      ackTimeoutSeconds: options.ackTimeoutSeconds ?? 1,
      retryWaitSeconds: options.retryWaitSeconds ?? 0.5,
    };
  }

  /** Starts every node, one after the other. */
  protected async startNodes(): Promise<void> {
    await this.attacker?.join(this.bus);
    for (const name of this.names) {
      const slot: Slot = { name, node: undefined as never, memory: new MemoryStore({ sync: true }), incarnation: 0, state: 'starting', armed: new Set(), storeFault: false };
      this.slots.set(name, slot);
      await this.#start(slot, slot.memory);
    }
  }

  node(name: string): BosunNode {
    return this.slot(name).node;
  }

  storeFaulty(name: string): boolean {
    return this.slot(name).storeFault;
  }

  /** The store the node's current incarnation runs on. */
  store(name: string): MemoryStore {
    return this.slot(name).memory;
  }

  /**
   * A graceful restart: `stop()` (refuse input, let runs finish, close the store), then a
   * new incarnation on the same store. Nothing may be interrupted by it.
   */
  async restartGracefully(name: string): Promise<void> {
    const slot = this.slot(name);
    await this.settle();
    if (slot.state !== 'up') return;
    this.trace.push(`stop ${slot.name}#${slot.incarnation}`);
    slot.state = 'stopping';
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`node ${name}: stop() did not finish within 10s of real time`)), 10_000);
    });
    try {
      await Promise.race([slot.node.stop(1000), hung]);
    } finally {
      clearTimeout(timer);
    }
    this.stats.gracefulRestarts++;
    await this.#start(slot, slot.memory);
    await this.settle();
  }

  /** Arms a crash of `name` at the next time its runtime reaches `point`. */
  arm(name: string, point: CrashPoint): void {
    this.slot(name).armed.add(point);
  }

  disarmAll(): void {
    for (const slot of this.slots.values()) slot.armed.clear();
  }

  /** Crashes `name` now (a process crash, or a power loss), keeps it down for `downMs`, restarts it. */
  async crash(name: string, options: { powerLoss: boolean; downMs?: number }): Promise<void> {
    const slot = this.slot(name);
    await this.settle();
    if (slot.state !== 'up') return;
    const survivor = this.#crashNow(slot, options.powerLoss, 'command');
    if (options.downMs) await this.advance(options.downMs);
    await this.#start(slot, survivor);
    await this.settle();
  }

  /**
   * Fails the next `times` writes of `name` whose operations `matches` (every other write
   * works), until the node restarts.
   */
  failWritesWhere(name: string, matches: (ops: readonly StoreOp[]) => boolean, times = 1): void {
    this.slot(name).writeFault = { matches, times };
  }

  /**
   * Storage fault: every write of `name`'s store fails until turned off (or until the node
   * crashes: the restart finds a healthy store).
   */
  failWrites(name: string, on: boolean): void {
    const slot = this.slot(name);
    this.stats.storeFaults += on ? 1 : 0;
    this.trace.push(`${name} store writes ${on ? 'fail' : 'work'}`);
    slot.storeFault = on;
    slot.memory.failWrites(on ? new Error(`injected write failure on ${name}`) : null);
  }

  /** Moves virtual time; timers fire in order, and whatever they start settles. */
  async advance(ms: number): Promise<void> {
    this.stats.advancedMs += ms;
    await this.clock.advance(ms);
    await this.settle();
  }

  /**
   * Lets the event loop run until nothing is left to do right now: frames queued on the
   * bus are delivered, store batches commit, crashed nodes finish restarting.
   */
  async settle(rounds = 12): Promise<void> {
    for (;;) {
      for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#restarts.size === 0) break;
      await Promise.all([...this.#restarts]);
    }
    if (this.#hookErrors.length > 0) {
      const [error] = this.#hookErrors.splice(0);
      throw error;
    }
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await Promise.allSettled([...this.#restarts]);
    for (const slot of this.slots.values()) {
      if (slot.state === 'up') await slot.node.crash();
    }
    this.bus.setFaults({});
    this.bus.heal();
    await this.attacker?.close();
  }

  // ---- internals -----------------------------------------------------------------

  protected slot(name: string): Slot {
    const slot = this.slots.get(name);
    if (!slot) throw new Error(`the harness has no node ${name}`);
    return slot;
  }

  /**
   * Crashes the node synchronously, as `kill -9` would: nothing after this line of its
   * code runs against the store. Records which runs had durably started (the `unknown`
   * messages) and returns the store a restart finds.
   */
  #crashNow(slot: Slot, powerLoss: boolean, why: string): MemoryStore {
    slot.state = 'down';
    this.stats.crashes++;
    if (powerLoss) this.stats.powerLosses++;
    this.trace.push(`crash ${slot.name}#${slot.incarnation} (${why}${powerLoss ? ', power loss' : ''})`);
    // MemoryStore reads happen synchronously inside its async methods: these two promises
    // hold the state at this very moment, before the crash below.
    const started = slot.memory.range(prefixRange('exec'));
    const inbox = slot.memory.range<Message>(prefixRange('in'));
    void slot.node.crash();
    const survivor = slot.memory.crash({ powerLoss });
    // A run whose `started` record is in the store now will be reported as interrupted and
    // not re-run: its message becomes unknown, unless its batch is reconciled.
    const verdicts = {
      reconciled: (id: string) => {
        this.reconciled.add(id);
        this.trace.push(`reconciled ${id} (batch cut short on ${slot.name})`);
      },
      unknown: (id: string) => {
        if (this.unknown.has(id)) return;
        this.unknown.add(id);
        this.trace.push(`unknown ${id} (run started on ${slot.name})`);
      },
    };
    void judgeStartedRuns(started, inbox, verdicts).catch((e) => this.#hookErrors.push(e));
    return survivor;
  }

  /**
   * Crash from inside the runtime (a hook): restart once the crash has happened. False
   * (nothing happens) while the node is not up, or the point is not armed.
   */
  #crashFromHook(slot: Slot, point: CrashPoint): boolean {
    if (slot.state !== 'up' || !slot.armed.has(point)) return false;
    slot.armed.delete(point);
    this.stats.crashPointsHit[point]++;
    const survivor = this.#crashNow(slot, false, point);
    const restart = this.#start(slot, survivor).catch((e: unknown) => {
      this.#hookErrors.push(e);
    });
    this.#restarts.add(restart);
    void restart.then(() => this.#restarts.delete(restart));
    return true;
  }

  async #start(slot: Slot, memory: MemoryStore): Promise<void> {
    slot.state = 'starting';
    slot.memory = memory;
    slot.storeFault = false;
    slot.writeFault = undefined;
    memory.failWrites(null);
    const incarnation = ++slot.incarnation;
    const store = new CrashPointStore(memory, {
      beforeWrite: (ops) => {
        // The crash lands before the write reaches the store, so it never commits.
        if (slot.incarnation === incarnation && slot.armed.has('beforePersist') && hasTestOutboxPut(ops)) this.#crashFromHook(slot, 'beforePersist');
      },
      afterWrite: (ops) => {
        if (slot.incarnation !== incarnation) return;
        const point = crashPointAfterWrite(slot.armed, ops);
        if (point) this.#crashFromHook(slot, point);
      },
      failWrite: (ops) => {
        const fault = slot.writeFault;
        if (!fault || fault.times <= 0 || !fault.matches(ops)) return undefined;
        fault.times--;
        return new Error(`injected write failure on ${slot.name}`);
      },
      readsSpinning: (n) => {
        if (!this.readSpins.includes(slot.name)) {
          this.readSpins.push(slot.name);
          this.trace.push(`${slot.name}#${incarnation} retried a failing read ${n} times in a row; reads now hang`);
        }
      },
    });
    const onBus = this.attacker ? this.attacker.tap(this.bus.transport()) : this.bus.transport();
    const transport = this.scheduler ? scheduledTransport(onBus, this) : onBus;
    const node = await startNode({
      node: slot.name,
      central: ABSENT_CENTRAL,
      // With a store given, the data dir only places the files folder.
      dataDir: path.join(FILES_ROOT, slot.name),
      store,
      transport,
      clock: this.clock,
      helloIntervalSeconds: 0,
      windowSize: this.options.windowSize,
      // Only the error reports to the absent central use these: retry them rarely.
      defaults: { ACKTimeout: 600, retryWait: 600, replyMethod: 'none' },
      // Only the test methods: every served method is a supervised subscriber, and a
      // dozen built-ins would make each start several times dearer.
      enabledMethods: ['REQRelay', 'REQnRelay'],
      methods: this.#methodsFor(slot, incarnation),
      onError: (report) => this.reports.push({ ...report, node: slot.name, incarnation }),
      ...(this.attacker ? { guard: signedFrameGuard(slot.name) } : {}),
    });
    if (slot.incarnation !== incarnation) return;
    slot.node = node;
    slot.state = 'up';
  }

  /** The test methods of one incarnation of `slot`, with its crash points. */
  #methodsFor(slot: Slot, incarnation: number): MethodSpec[] {
    return harnessMethods(this.recorder, this.batched, this.replies, {
      crashed: (id) => {
        if (slot.incarnation === incarnation && slot.state !== 'down') return false;
        this.trace.push(`${id} not run: ${slot.name}#${incarnation} has crashed`);
        return true;
      },
      afterApply: () => {
        if (slot.incarnation === incarnation && slot.armed.has('afterApply')) this.#crashFromHook(slot, 'afterApply');
      },
      batchCrashPoint: (point: BatchCrashPoint) => {
        if (slot.incarnation !== incarnation) return false;
        // Armed for it on its own: the next batch of several crashes after its first effect.
        // A batch that runs while its node is still starting is not crashed: it is applied whole.
        if (point === 'midBatch' && slot.armed.has('midBatch')) return this.#crashFromHook(slot, 'midBatch');
        if (!slot.armed.has('afterApply') || slot.state !== 'up') return false;
        // A batch of several gets the crash after its first effect two times in three.
        if (point === 'midBatch' && this.#batchCrashes++ % 3 === 2) return false;
        if (point === 'midBatch') {
          slot.armed.delete('afterApply');
          slot.armed.add('midBatch');
        }
        return this.#crashFromHook(slot, point);
      },
    });
  }
}
