import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Scheduler } from 'fast-check';
import { VirtualClock } from '../../src/clock.ts';
import { BosunError } from '../../src/errors.ts';
import { decodeFrame, streamIdOf } from '../../src/delivery/frames.ts';
import type { Message } from '../../src/message.ts';
import type { MethodSpec } from '../../src/methods/types.ts';
import type { BosunNode, NodeErrorReport } from '../../src/runtime/Node.ts';
import { startNode } from '../../src/runtime/startNode.ts';
import { prefixRange } from '../../src/store/keys.ts';
import { MemoryStore } from '../../src/store/MemoryStore.ts';
import type { CommitStats, RangeOptions, Store, StoreOp, WriteOptions } from '../../src/store/types.ts';
import { EmbeddedBus, type BusFaults } from '../../src/transport/EmbeddedBus.ts';
import type { FrameHandler, Transport, TransportStatus } from '../../src/transport/types.ts';
import { signedFrameGuard, type FrameAttacker } from './frameAttacker.ts';
import { recorder } from './recorder.ts';
import { BatchedRecordLogs, type BatchCrashPoint } from './batchedRecord.ts';

/**
 * A fleet of real bosun nodes in one process, driven by a virtual clock, for model-based
 * fault-injection tests (Jepsen's shape, inside vitest): each node has its own
 * `MemoryStore`, every node shares one seeded `EmbeddedBus`, and the harness can crash a
 * node at chosen points, break the bus, move time, and finally heal and drain.
 *
 * Effects are the runs the test methods record (`recorder.ts`): one entry per execution,
 * keyed by the message id the harness gave it, so the checker sees exactly what ran where.
 */

/** Where an armed crash strikes. */
export type CrashPoint =
  /** Sender: the outbox write of the next test message is issued but not committed. */
  | 'beforePersist'
  /** Sender: the outbox write of the next test message committed, nothing sent yet. */
  | 'afterPersist'
  /** Receiver: the next inbox write committed, its ACK not yet sent. */
  | 'afterReceiveBeforeAck'
  /** Receiver: the `started` record of the next run committed, the handler not yet run. */
  | 'afterStartRecord'
  /** Receiver: the next handler ran (its effect is recorded), its outcome not yet recorded. */
  | 'afterApply'
  /** Receiver: the next run's outcome (and its reply, if any) committed, nothing after that. */
  | 'afterFinish'
  /**
   * Receiver: inside a batch of the ordered method, after its first message's effect.
   * Armed as `afterApply` (two in three `afterApply` crashes that reach a batch of several strike here),
   * so that the command arbitraries, and the counterexamples found with them, stay as
   * they were.
   */
  | 'midBatch';

export const SENDER_CRASH_POINTS = ['beforePersist', 'afterPersist'] as const satisfies readonly CrashPoint[];
export const RECEIVER_CRASH_POINTS = ['afterReceiveBeforeAck', 'afterStartRecord', 'afterApply', 'afterFinish'] as const satisfies readonly CrashPoint[];

export type StreamKind = 'ordered' | 'unordered';

export const METHOD_OF: Record<StreamKind, string> = { ordered: 'REQTestRecord', unordered: 'REQnTestRecord' };

/** Where replies go: every node serves it and records, per request id, the replies it got. */
export const REPLY_METHOD = 'REQnTestReply';

export interface HarnessOptions {
  nodes?: readonly string[];
  /** Seed of the bus's fault PRNG. */
  seed?: number;
  /** Frames in flight per stream; small, so that refills from the outbox are exercised. */
  windowSize?: number;
  /** ACKTimeout and retryWait (seconds) of the test messages. */
  ackTimeoutSeconds?: number;
  retryWaitSeconds?: number;
  /**
   * When set, every frame a node publishes is a task of this fast-check scheduler, so the
   * scheduler decides the order in which data, ACK and resume frames reach the bus.
   */
  scheduler?: Scheduler;
  /**
   * Someone on the bus who captures and replays frames; the nodes then sign their frames
   * (`signedFrameGuard`), as secure nodes do.
   */
  attacker?: FrameAttacker;
}

export interface SendResult {
  id: string;
  stream: string;
  /** `accepted`: durably in the outbox; `refused`: the accept answered with an error. */
  outcome: 'accepted' | 'refused';
  error?: { code: string; message: string };
}

/** Counts of what the harness did, for the totals a test prints. */
export interface HarnessStats {
  crashes: number;
  powerLosses: number;
  crashPointsHit: Record<CrashPoint, number>;
  busFaults: number;
  partitions: number;
  isolations: number;
  busRestarts: number;
  busPauses: number;
  gracefulRestarts: number;
  storeFaults: number;
  /** Frames that went through the fast-check scheduler. */
  scheduledFrames: number;
  advancedMs: number;
}

interface Slot {
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
const ABSENT_CENTRAL = 'central';

export class Harness {
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
  readonly stats: HarnessStats = {
    crashes: 0,
    powerLosses: 0,
    crashPointsHit: { beforePersist: 0, afterPersist: 0, afterReceiveBeforeAck: 0, afterStartRecord: 0, afterApply: 0, afterFinish: 0, midBatch: 0 },
    busFaults: 0,
    partitions: 0,
    isolations: 0,
    busRestarts: 0,
    busPauses: 0,
    gracefulRestarts: 0,
    storeFaults: 0,
    scheduledFrames: 0,
    advancedMs: 0,
  };
  scheduler: Scheduler | undefined;
  readonly attacker: FrameAttacker | undefined;
  readonly #options: Required<Omit<HarnessOptions, 'scheduler' | 'nodes' | 'seed' | 'attacker'>>;
  readonly #slots = new Map<string, Slot>();
  /** id → stream of every message the harness sent. */
  readonly #streamOf = new Map<string, string>();
  #restarts = new Set<Promise<void>>();
  #hookErrors: unknown[] = [];
  #disposed = false;

  private constructor(options: HarnessOptions) {
    this.names = options.nodes ?? ['a', 'b', 'c'];
    this.bus = new EmbeddedBus({ seed: options.seed ?? 1, clock: this.clock });
    this.scheduler = options.scheduler;
    this.attacker = options.attacker;
    this.#options = {
      windowSize: options.windowSize ?? 4,
      ackTimeoutSeconds: options.ackTimeoutSeconds ?? 1,
      retryWaitSeconds: options.retryWaitSeconds ?? 0.5,
    };
  }

  static async create(options: HarnessOptions = {}): Promise<Harness> {
    const h = new Harness(options);
    await h.attacker?.join(h.bus);
    for (const name of h.names) {
      const slot: Slot = { name, node: undefined as never, memory: new MemoryStore({ sync: true }), incarnation: 0, state: 'starting', armed: new Set(), storeFault: false };
      h.#slots.set(name, slot);
      await h.#start(slot, slot.memory);
    }
    return h;
  }

  node(name: string): BosunNode {
    return this.#slot(name).node;
  }

  storeFaulty(name: string): boolean {
    return this.#slot(name).storeFault;
  }

  /** The store the node's current incarnation runs on. */
  store(name: string): MemoryStore {
    return this.#slot(name).memory;
  }

  /**
   * The stream the model orders `from`'s messages for `to` by. Messages relayed through
   * `via` are their own stream: their order is kept among themselves, end to end.
   */
  streamOf(from: string, to: string, kind: StreamKind, via?: string): string {
    return via === undefined ? streamIdOf(from, to, METHOD_OF[kind]) : `${from}~${to}~via-${via}~${METHOD_OF[kind]}`;
  }

  // ---- commands --------------------------------------------------------------------

  /**
   * Accepts test messages on `from` for `to`, in one input (one accept call), one result
   * each. With `crashAt`, `from` crashes at that point of the accept (and restarts); the
   * results say whether the accept answered `accepted` before that. With `reply`, each
   * run's result comes back to `from` as a `REQnTestReply` message (see `replies`). With
   * `retries`, a message may run out of them and go to the dead letters (see `deadLettered`).
   */
  async send(
    from: string,
    to: string,
    kind: StreamKind,
    ids: readonly string[],
    options: { crashAt?: 'beforePersist' | 'afterPersist'; reply?: boolean; retries?: number; via?: string } = {},
  ): Promise<SendResult[]> {
    const { crashAt } = options;
    const slot = this.#slot(from);
    const stream = this.streamOf(from, to, kind, options.via);
    for (const id of ids) this.#streamOf.set(id, stream);
    if (crashAt) slot.armed.add(crashAt);
    let results: SendResult[];
    try {
      const answers = await slot.node.accept(
        ids.map((id) => ({
          id,
          toNode: to,
          method: METHOD_OF[kind],
          data: id,
          replyMethod: options.reply ? REPLY_METHOD : 'none',
          ACKTimeout: this.#options.ackTimeoutSeconds,
          retryWait: this.#options.retryWaitSeconds,
          retries: options.retries ?? -1,
          ...(options.via !== undefined ? { relayViaNode: options.via } : {}),
        })),
      );
      results = ids.map((id, i) => {
        const r = answers[i];
        return r && 'status' in r && r.id === id ? { id, stream, outcome: 'accepted' } : { id, stream, outcome: 'refused', ...(r && 'error' in r ? { error: r.error } : {}) };
      });
    } finally {
      if (crashAt) slot.armed.delete(crashAt);
    }
    await this.settle();
    return results;
  }

  /**
   * A graceful restart: `stop()` (refuse input, let runs finish, close the store), then a
   * new incarnation on the same store. Nothing may be interrupted by it.
   */
  async restartGracefully(name: string): Promise<void> {
    const slot = this.#slot(name);
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
    this.#slot(name).armed.add(point);
  }

  disarmAll(): void {
    for (const slot of this.#slots.values()) slot.armed.clear();
  }

  /** Crashes `name` now (a process crash, or a power loss), keeps it down for `downMs`, restarts it. */
  async crash(name: string, options: { powerLoss: boolean; downMs?: number }): Promise<void> {
    const slot = this.#slot(name);
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
    this.#slot(name).writeFault = { matches, times };
  }

  /**
   * Storage fault: every write of `name`'s store fails until turned off (or until the node
   * crashes: the restart finds a healthy store).
   */
  failWrites(name: string, on: boolean): void {
    const slot = this.#slot(name);
    this.stats.storeFaults += on ? 1 : 0;
    this.trace.push(`${name} store writes ${on ? 'fail' : 'work'}`);
    slot.storeFault = on;
    slot.memory.failWrites(on ? new Error(`injected write failure on ${name}`) : null);
  }

  setFaults(faults: BusFaults): void {
    this.stats.busFaults++;
    this.trace.push(`faults ${JSON.stringify(faults)}`);
    this.bus.setFaults(faults);
  }

  partition(a: string, b: string): void {
    this.stats.partitions++;
    this.trace.push(`partition ${a}|${b}`);
    this.bus.partition(a, b);
  }

  isolate(name: string): void {
    this.stats.isolations++;
    this.trace.push(`isolate ${name}`);
    this.bus.isolate(name);
  }

  heal(): void {
    this.trace.push('heal');
    this.bus.heal();
  }

  pauseBus(): void {
    this.stats.busPauses++;
    this.trace.push('bus pause');
    this.bus.pause();
  }

  resumeBus(): void {
    this.trace.push('bus resume');
    this.bus.resume();
  }

  async restartBus(): Promise<void> {
    this.stats.busRestarts++;
    this.trace.push('bus restart');
    this.bus.restart();
    await this.settle();
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

  /**
   * The liveness phase (Jepsen's final generator): faults off, partitions healed, the bus
   * resumed, crash points disarmed; then virtual time moves in steps until every node is
   * idle and `done()` holds, or `maxVirtualMs` passed. Returns the virtual ms it took.
   */
  async healAndDrain(options: { maxVirtualMs?: number; stepMs?: number; done?: () => boolean } = {}): Promise<number> {
    const maxVirtualMs = options.maxVirtualMs ?? 120_000;
    const stepMs = options.stepMs ?? 250;
    this.disarmAll();
    for (const slot of this.#slots.values()) if (slot.storeFault) this.failWrites(slot.name, false);
    this.bus.setFaults({});
    this.bus.heal();
    this.bus.resume();
    await this.settle();
    let stable = 0;
    let spent = 0;
    while (spent < maxVirtualMs) {
      if (this.idle && (options.done?.() ?? true)) {
        if (++stable >= 3) break;
      } else stable = 0;
      await this.advance(stepMs);
      spent += stepMs;
    }
    return spent;
  }

  /** True when no node has work for another harness node or a run queued or running. */
  get idle(): boolean {
    if (this.bus.inFlight > 0 || this.bus.paused) return false;
    for (const slot of this.#slots.values()) {
      if (slot.state !== 'up') return false;
      for (const [stream, sender] of slot.node.senders()) {
        const to = stream.split('~')[1]!;
        if (this.names.includes(to) && !sender.drained) return false;
      }
      for (const sub of slot.node.subscribers().values()) {
        const info = sub.info as { queued: number; running: number };
        if (info.queued > 0 || info.running > 0) return false;
      }
    }
    return true;
  }

  // ---- observations --------------------------------------------------------------

  /** The executions of every stream the harness sent on, in the order they ran. */
  appliedByStream(): Map<string, string[]> {
    const applied = new Map<string, string[]>();
    for (const [node, runs] of this.recorder.runs) {
      for (const id of runs) {
        const stream = this.#streamOf.get(id);
        // Something that ran where the harness never sent it lands under its own key,
        // which no model stream has: the checker calls it unexpected.
        const key = stream && stream.split('~')[1] === node ? stream : `unexpected@${node}`;
        let list = applied.get(key);
        if (!list) applied.set(key, (list = []));
        list.push(id);
      }
    }
    return applied;
  }

  /**
   * Ids of the messages a sender reported as dead-lettered (`BOSUN_DEAD_LETTER`, whose text
   * starts "message <id> ("): out of retries, lost but not silently.
   */
  deadLettered(): Set<string> {
    const dead = new Set<string>();
    for (const r of this.reports) {
      const id = r.code === 'BOSUN_DEAD_LETTER' ? /^message (\S+) \(/.exec(r.message)?.[1] : undefined;
      if (id) dead.add(id);
    }
    return dead;
  }

  /** The texts of the `BOSUN_INTERRUPTED` reports of every incarnation (each names its message). */
  interruptedReports(): string[] {
    return this.reports.filter((r) => r.code === 'BOSUN_INTERRUPTED').map((r) => r.message);
  }

  describe(): string {
    const lines = [`bus seed ${this.bus.seed}, virtual time +${this.stats.advancedMs}ms, bus ${JSON.stringify(this.bus.stats)}`];
    for (const slot of this.#slots.values()) {
      const senders = [...slot.node.senders()].filter(([s]) => !s.endsWith(`~${ABSENT_CENTRAL}~REQErrorLog`)).map(([s, x]) => `${s} ${JSON.stringify(x.info)}`);
      const receivers = [...slot.node.receivers()].map(([s, x]) => `${s} ${JSON.stringify(x.info)}`);
      lines.push(`${slot.name}#${slot.incarnation} ${slot.state}: senders [${senders.join('; ')}] receivers [${receivers.join('; ')}]`);
    }
    lines.push(`trace: ${this.trace.slice(-40).join(' | ')}`);
    const codes = this.reports.filter((r) => r.code !== 'BOSUN_SUP_CHILD_CRASHED').map((r) => `${r.node}#${r.incarnation} ${r.code}: ${r.message}`);
    lines.push(`reports: ${codes.slice(-12).join(' | ')}`);
    return lines.join('\n');
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await Promise.allSettled([...this.#restarts]);
    for (const slot of this.#slots.values()) {
      if (slot.state === 'up') await slot.node.crash();
    }
    this.bus.setFaults({});
    this.bus.heal();
    await this.attacker?.close();
  }

  // ---- internals -----------------------------------------------------------------

  #slot(name: string): Slot {
    const slot = this.#slots.get(name);
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
    void this.#noteStartedRuns(slot.name, started, inbox).catch((e) => this.#hookErrors.push(e));
    return survivor;
  }

  /**
   * A run whose `started` record is in the store when its node crashes will be reported
   * as interrupted and not re-run: that message becomes unknown. (Every write is synced,
   * so what the running process saw is what a power loss keeps.)
   */
  async #noteStartedRuns(node: string, started: Promise<Array<[string, unknown]>>, inbox: Promise<Array<[string, Message]>>): Promise<void> {
    const inboxByKey = new Map(await inbox);
    for (const [key, value] of await started) {
      const record = (value ?? {}) as { last?: number; checkpoint?: unknown };
      const rest = key.slice('exec!'.length);
      const stream = rest.slice(0, rest.lastIndexOf('!'));
      const first = Number(rest.slice(rest.lastIndexOf('!') + 1));
      for (let seq = first; seq <= (record.last ?? first); seq++) {
        const message = inboxByKey.get(`in!${stream}!${String(seq).padStart(16, '0')}`);
        // A batch with a checkpoint is reconciled and run again, not reported: not unknown.
        if (message && record.checkpoint !== undefined) {
          this.reconciled.add(message.id);
          this.trace.push(`reconciled ${message.id} (batch cut short on ${node})`);
        } else if (message && !this.unknown.has(message.id)) {
          this.unknown.add(message.id);
          this.trace.push(`unknown ${message.id} (run started on ${node})`);
        }
      }
    }
  }

  /** Crash from inside the runtime (a hook): restart once the crash has happened. */
  #crashFromHook(slot: Slot, point: CrashPoint): void {
    if (slot.state !== 'up' || !slot.armed.has(point)) return;
    slot.armed.delete(point);
    this.stats.crashPointsHit[point]++;
    const survivor = this.#crashNow(slot, false, point);
    const restart = this.#start(slot, survivor).catch((e: unknown) => {
      this.#hookErrors.push(e);
    });
    this.#restarts.add(restart);
    void restart.then(() => this.#restarts.delete(restart));
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
        if (slot.armed.has('afterPersist') && hasTestOutboxPut(ops)) this.#crashFromHook(slot, 'afterPersist');
        else if (slot.armed.has('afterReceiveBeforeAck') && ops.some((op) => op.type === 'put' && op.key.startsWith('in!'))) {
          this.#crashFromHook(slot, 'afterReceiveBeforeAck');
        } else if (slot.armed.has('afterStartRecord') && ops.some((op) => op.type === 'put' && op.key.startsWith('exec!'))) {
          this.#crashFromHook(slot, 'afterStartRecord');
        } else if (slot.armed.has('afterFinish') && ops.some((op) => op.type === 'del' && op.key.startsWith('in!'))) {
          this.#crashFromHook(slot, 'afterFinish');
        }
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
    const transport = this.scheduler ? new ScheduledTransport(onBus, this) : onBus;
    const node = await startNode({
      node: slot.name,
      central: ABSENT_CENTRAL,
      // With a store given, the data dir only places the files folder.
      dataDir: path.join(FILES_ROOT, slot.name),
      store,
      transport,
      clock: this.clock,
      helloIntervalSeconds: 0,
      windowSize: this.#options.windowSize,
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

  /**
   * The recorder's methods, with the `afterApply` crash point of this incarnation, and
   * the reply method. A crashed process runs nothing more: `crash()` cannot stop code that is already on its
   * way (a run whose `started` record just committed), so such a run has no effect.
   */
  #methodsFor(slot: Slot, incarnation: number): MethodSpec[] {
    const crashed = (id: string) => {
      if (slot.incarnation === incarnation && slot.state !== 'down') return false;
      this.trace.push(`${id} not run: ${slot.name}#${incarnation} has crashed`);
      return true;
    };
    const record = this.replies;
    const replies: MethodSpec = {
      name: REPLY_METHOD,
      summary: 'records the replies that come back (unordered)',
      async handler(ctx) {
        if (crashed(ctx.message.id)) return {};
        const request = ctx.message.inReplyTo?.id ?? `?${ctx.message.id}`;
        let list = record.get(request);
        if (!list) record.set(request, (list = []));
        list.push(ctx.message.data ?? '');
        return {};
      },
    };
    const batchCrashPoint = (point: BatchCrashPoint): boolean => {
      if (slot.incarnation !== incarnation || !slot.armed.has('afterApply')) return false;
      // A batch of several gets the crash after its first effect two times in three.
      if (point === 'midBatch' && this.#batchCrashes++ % 3 === 2) return false;
      if (point === 'midBatch') {
        slot.armed.delete('afterApply');
        slot.armed.add('midBatch');
      }
      this.#crashFromHook(slot, point);
      return true;
    };
    return [
      ...this.recorder.methods.map((method) => ({
        ...method,
        ...(method.name === METHOD_OF.ordered ? { batch: this.batched.spec({ crashed, crashPoint: batchCrashPoint }) } : {}),
        handler: async (ctx: Parameters<MethodSpec['handler']>[0]) => {
          if (crashed(ctx.message.id)) return {};
          const result = await method.handler(ctx);
          if (slot.incarnation === incarnation && slot.armed.has('afterApply')) this.#crashFromHook(slot, 'afterApply');
          return result;
        },
      })),
      replies,
    ];
  }
}

function hasTestOutboxPut(ops: readonly StoreOp[]): boolean {
  return ops.some(
    (op) =>
      op.type === 'put' &&
      op.key.startsWith('out!') &&
      (op.value as { message?: Message; attempts?: number }).attempts === undefined &&
      Object.values(METHOD_OF).includes((op.value as { message?: Message }).message?.method ?? ''),
  );
}

interface StoreHooks {
  beforeWrite(ops: readonly StoreOp[]): void;
  afterWrite(ops: readonly StoreOp[]): void;
  /** An error to fail this write with (a targeted storage fault), or undefined. */
  failWrite(ops: readonly StoreOp[]): Error | undefined;
  /** Reads failed this many times in a row: the runtime retries a failing read without pause. */
  readsSpinning(failuresInARow: number): void;
}

/** Consecutive failed reads after which the harness stops answering, so a hot loop cannot hang the test. */
export const READ_SPIN_LIMIT = 200;

/**
 * A store that lets the harness act right before a write is issued and right after it
 * commits, fail chosen writes, and notice a read retried in a hot loop.
 */
class CrashPointStore implements Store {
  #failedReadsInARow = 0;

  constructor(
    readonly inner: MemoryStore,
    private readonly hooks: StoreHooks,
  ) {}

  get status() {
    return this.inner.status;
  }

  get commitStats(): CommitStats {
    return this.inner.commitStats;
  }

  /** The node's listener for corrupt records goes to the store that finds them. */
  get onCorrupt(): ((key: string, error: unknown) => void) | undefined {
    return this.inner.onCorrupt;
  }

  set onCorrupt(listener: ((key: string, error: unknown) => void) | undefined) {
    this.inner.onCorrupt = listener;
  }

  open(): Promise<void> {
    return this.inner.open();
  }

  get<T = unknown>(key: string): Promise<T | undefined> {
    return this.#read(() => this.inner.get<T>(key));
  }

  range<T = unknown>(options: RangeOptions): Promise<Array<[string, T]>> {
    return this.#read(() => this.inner.range<T>(options));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  write(ops: StoreOp[], options?: WriteOptions): Promise<void> {
    this.hooks.beforeWrite(ops);
    const fault = this.hooks.failWrite(ops);
    if (fault) return Promise.reject(new BosunError('BOSUN_STORE_WRITE_FAILED', `store write failed, nothing of the batch was applied: ${fault.message}`, { cause: fault }));
    return this.inner.write(ops, options).then(() => this.hooks.afterWrite(ops));
  }

  #read<T>(read: () => Promise<T>): Promise<T> {
    if (this.#failedReadsInARow >= READ_SPIN_LIMIT) {
      this.hooks.readsSpinning(this.#failedReadsInARow);
      return new Promise<T>(() => {});
    }
    return read().then(
      (value) => {
        this.#failedReadsInARow = 0;
        return value;
      },
      (error: unknown) => {
        this.#failedReadsInARow++;
        throw error;
      },
    );
  }
}

/**
 * A transport whose every publish is a task of the harness's fast-check scheduler (while
 * it has one): the scheduler, not the bus, decides which frame goes out next.
 */
class ScheduledTransport implements Transport {
  readonly kind = 'embedded' as const;

  constructor(
    private readonly inner: Transport,
    private readonly harness: Harness,
  ) {}

  get status(): TransportStatus {
    return this.inner.status;
  }

  start(node: string, onFrame: FrameHandler): Promise<void> {
    return this.inner.start(node, onFrame);
  }

  publish(subject: string, payload: Uint8Array): void {
    const s = this.harness.scheduler;
    if (!s) return this.inner.publish(subject, payload);
    this.harness.stats.scheduledFrames++;
    void s.schedule(Promise.resolve(), frameLabel(subject, payload)).then(() => this.inner.publish(subject, payload));
  }

  onStatus(listener: (status: TransportStatus) => void): () => void {
    return this.inner.onStatus(listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

function frameLabel(subject: string, payload: Uint8Array): string {
  const f = decodeFrame(payload);
  if (!f) return subject;
  switch (f.type) {
    case 'data':
      return `${f.stream} data#${f.seq} ${f.message.id}`;
    case 'skip':
      return `${f.stream} skip#${f.seq}`;
    case 'ack':
      return `${f.stream} ack ${f.upTo !== undefined ? `upTo ${f.upTo}` : `[${f.seqs?.join(',')}]`}`;
    case 'resume':
      return `${f.stream} resume`;
  }
}
