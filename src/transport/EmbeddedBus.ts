import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import { BosunError } from '../errors.ts';
import { FrameQueue } from './FrameQueue.ts';
import { reportUncaught } from './handlerErrors.ts';
import { seededRandom } from './seededRandom.ts';
import { StatusCell } from './StatusCell.ts';
import { addresseeOf, assertNodeName, isPublishSubject } from './subjects.ts';
import type { FrameHandler, HandlerErrorReporter, Transport, TransportStatus } from './types.ts';
import { assertStartable } from './startRule.ts';

export interface EmbeddedBusOptions {
  /** Seed of the PRNG behind fault injection; the same seed replays the same faults. Random by default. */
  seed?: number;
  /** Drives `delayMs` faults. */
  clock?: Clock;
  /** Where exceptions thrown by frame handlers go; by default they become uncaught exceptions. */
  onHandlerError?: HandlerErrorReporter;
}

/** Faults applied to every frame published from now on; probabilities are in [0, 1]. */
export interface BusFaults {
  /** Probability that a frame is lost. */
  drop?: number;
  /** Probability that a frame arrives twice. */
  duplicate?: number;
  /** Every frame is held for a uniformly random time in `[min, max]` ms of the bus clock. */
  delayMs?: readonly [min: number, max: number];
  /** Probability that a frame overtakes the frame queued just before it. */
  reorder?: number;
}

export interface BusStats {
  /** Frames handed to `publish` by started transports. */
  published: number;
  /** Handler invocations, duplicates included. */
  delivered: number;
  /** Frames lost to the `drop` fault, partitions, isolation, restarts, or the bus being down. */
  dropped: number;
  duplicated: number;
  delayed: number;
  reordered: number;
  /** Frames nobody was listening for, or whose subject is invalid or cannot match `<node>.>`. */
  unroutable: number;
}

/** What a transport may ask of its bus. */
interface BusLink {
  register(transport: EmbeddedTransport): void;
  unregister(transport: EmbeddedTransport): void;
  /** Delivers `<name>.>` to `transport` too, for a node it routes for. */
  addReceiver(name: string, transport: EmbeddedTransport): void;
  removeReceiver(name: string, transport: EmbeddedTransport): void;
  publish(from: string, subject: string, payload: Uint8Array): void;
}

/**
 * An in-process message bus shared by several nodes in one process: the default medium
 * when no broker is configured, and a controllable network for tests. Like core NATS it
 * delivers at most once and, when healthy, in publish order per publisher; faults, partitions
 * and restarts can be injected, driven by a seeded PRNG so that a failing run replays.
 *
 * Delivery is never synchronous with `publish`: frames queue and are handed out in batches,
 * one batch per turn of the event loop.
 */
export class EmbeddedBus {
  /** The seed in use, to replay a run. */
  readonly seed: number;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #onHandlerError: HandlerErrorReporter;
  readonly #queue = new FrameQueue();
  /** Copy-on-write, so a handler that closes a transport does not disturb a delivery loop. */
  readonly #receivers = new Map<string, readonly EmbeddedTransport[]>();
  readonly #delayed = new Set<TimerHandle>();
  readonly #cuts = new Map<string, Set<string>>();
  readonly #isolated = new Set<string>();
  #faults: BusFaults | undefined;
  #flushScheduled = false;
  #paused = false;
  #down = false;
  /** Bumped by `restart`, so a delivery loop or a pending come-back knows it is stale. */
  #epoch = 0;
  #stats: BusStats = emptyStats();
  readonly #link: BusLink = {
    register: (transport) => this.#register(transport),
    unregister: (transport) => this.#unregister(transport),
    addReceiver: (name, transport) => this.#addReceiver(name, transport),
    removeReceiver: (name, transport) => this.#removeReceiver(name, transport),
    publish: (from, subject, payload) => this.#publish(from, subject, payload),
  };

  constructor(options: EmbeddedBusOptions = {}) {
    this.seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
    this.#clock = options.clock ?? systemClock;
    this.#random = seededRandom(this.seed);
    this.#onHandlerError = options.onHandlerError ?? reportUncaught;
  }

  /** A new transport on this bus, for one node. */
  transport(): Transport {
    return new EmbeddedTransport(this.#link, this.#onHandlerError);
  }

  /** A snapshot of the counters. */
  get stats(): BusStats {
    return { ...this.#stats };
  }

  resetStats(): void {
    this.#stats = emptyStats();
  }

  /** Frames queued or delayed, not yet delivered. */
  get inFlight(): number {
    return this.#queue.size + this.#delayed.size;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Replaces the faults in force; `setFaults({})` makes the bus healthy again. */
  setFaults(faults: BusFaults): void {
    for (const key of ['drop', 'duplicate', 'reorder'] as const) {
      const p = faults[key];
      if (p !== undefined && !(p >= 0 && p <= 1)) {
        throw new BosunError('BOSUN_BAD_CONFIG', `fault ${key} must be a probability in [0, 1], got ${p}`);
      }
    }
    const delay = faults.delayMs;
    if (delay !== undefined && !(delay[0] >= 0 && delay[1] >= delay[0])) {
      throw new BosunError('BOSUN_BAD_CONFIG', `fault delayMs must be [min, max] with 0 <= min <= max, got [${delay.join(', ')}]`);
    }
    const active = Boolean(faults.drop || faults.duplicate || faults.reorder || delay);
    this.#faults = active ? { ...faults } : undefined;
  }

  /** Drops every frame between `a` and `b`, both ways, until `heal()`. */
  partition(a: string, b: string): void {
    this.#cut(a, b);
    this.#cut(b, a);
  }

  /** Drops every frame from or to `node`, until `heal()`. */
  isolate(node: string): void {
    this.#isolated.add(node);
  }

  /** Ends every partition and isolation. */
  heal(): void {
    this.#cuts.clear();
    this.#isolated.clear();
  }

  /** Holds every frame, as a stalled broker would; nothing is lost. */
  pause(): void {
    this.#paused = true;
  }

  /** Delivers what was held, and brings the bus back up if it was restarted meanwhile. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#down) this.#comeUp();
    if (this.#queue.size > 0) this.#scheduleFlush();
  }

  /**
   * Bounces the bus as a broker restart would: every frame in flight is lost, transports see
   * `disconnected`, and frames published until they see `connected` again are lost too. The
   * bus comes back on the next turn of the event loop, or on `resume()` if it is paused.
   */
  restart(): void {
    this.#epoch++;
    this.#stats.dropped += this.#queue.size + this.#delayed.size;
    this.#queue.clear();
    for (const timer of this.#delayed) timer.cancel();
    this.#delayed.clear();
    this.#down = true;
    this.#forEachTransport((transport) => transport.setStatus('disconnected'));
    if (this.#paused) return;
    const epoch = this.#epoch;
    setImmediate(() => {
      if (epoch === this.#epoch && !this.#paused) this.#comeUp();
    });
  }

  #comeUp(): void {
    this.#down = false;
    this.#forEachTransport((transport) => transport.setStatus('connected'));
  }

  #forEachTransport(fn: (transport: EmbeddedTransport) => void): void {
    // a transport that routes for other nodes is listed under several names
    const all = new Set<EmbeddedTransport>();
    for (const transports of this.#receivers.values()) for (const transport of transports) all.add(transport);
    for (const transport of all) fn(transport);
  }

  #cut(from: string, to: string): void {
    let cut = this.#cuts.get(from);
    if (cut === undefined) this.#cuts.set(from, (cut = new Set()));
    cut.add(to);
  }

  #isCut(from: string, to: string): boolean {
    return this.#isolated.has(from) || this.#isolated.has(to) || this.#cuts.get(from)?.has(to) === true;
  }

  #register(transport: EmbeddedTransport): void {
    this.#addReceiver(transport.node!, transport);
    transport.setStatus(this.#down ? 'connecting' : 'connected');
  }

  #unregister(transport: EmbeddedTransport): void {
    this.#removeReceiver(transport.node!, transport);
  }

  #addReceiver(name: string, transport: EmbeddedTransport): void {
    this.#receivers.set(name, [...(this.#receivers.get(name) ?? []), transport]);
  }

  #removeReceiver(name: string, transport: EmbeddedTransport): void {
    const rest = (this.#receivers.get(name) ?? []).filter((t) => t !== transport);
    if (rest.length > 0) this.#receivers.set(name, rest);
    else this.#receivers.delete(name);
  }

  #publish(from: string, subject: string, payload: Uint8Array): void {
    const stats = this.#stats;
    stats.published++;
    if (this.#down) {
      stats.dropped++;
      return;
    }
    const to = isPublishSubject(subject) ? addresseeOf(subject) : undefined;
    if (to === undefined) {
      stats.unroutable++;
      return;
    }
    const faults = this.#faults;
    if (faults === undefined) {
      this.#enqueue(from, to, subject, payload, 0);
      return;
    }
    if (faults.drop && this.#random() < faults.drop) {
      stats.dropped++;
      return;
    }
    const copies = faults.duplicate && this.#random() < faults.duplicate ? 2 : 1;
    if (copies === 2) stats.duplicated++;
    for (let copy = 0; copy < copies; copy++) {
      const delay = faults.delayMs;
      if (delay === undefined) {
        this.#enqueue(from, to, subject, payload, faults.reorder ?? 0);
        continue;
      }
      stats.delayed++;
      const ms = delay[0] + this.#random() * (delay[1] - delay[0]);
      const timer = this.#clock.setTimer(ms, () => {
        this.#delayed.delete(timer);
        this.#enqueue(from, to, subject, payload, this.#faults?.reorder ?? 0);
      });
      this.#delayed.add(timer);
    }
  }

  #enqueue(from: string, to: string, subject: string, payload: Uint8Array, reorder: number): void {
    const queue = this.#queue;
    if (reorder > 0 && queue.size > 0 && this.#random() < reorder) {
      queue.pushBeforeLast(from, to, subject, payload);
      this.#stats.reordered++;
    } else {
      queue.push(from, to, subject, payload);
    }
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#paused) return;
    this.#flushScheduled = true;
    setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const queue = this.#queue;
    const epoch = this.#epoch;
    // frames queued by handlers during this batch wait for the next one, so a ping-pong
    // between two nodes still lets timers and I/O run
    const end = queue.end;
    while (queue.head < end && !this.#paused && epoch === this.#epoch) {
      const i = queue.head++;
      this.#deliver(queue.from[i]!, queue.to[i]!, queue.subject[i]!, queue.payload[i]!);
    }
    queue.compact();
    if (queue.size > 0) this.#scheduleFlush();
  };

  #deliver(from: string, to: string, subject: string, payload: Uint8Array): void {
    if ((this.#isolated.size > 0 || this.#cuts.size > 0) && this.#isCut(from, to)) {
      this.#stats.dropped++;
      return;
    }
    const receivers = this.#receivers.get(to);
    if (receivers === undefined) {
      this.#stats.unroutable++;
      return;
    }
    for (const receiver of receivers) {
      this.#stats.delivered++;
      receiver.receive(subject, payload);
    }
  }
}

class EmbeddedTransport implements Transport {
  readonly kind = 'embedded' as const;
  readonly #link: BusLink;
  readonly #onHandlerError: HandlerErrorReporter;
  readonly #status = new StatusCell('connecting');
  #node: string | undefined;
  #onFrame: FrameHandler | undefined;
  /** Nodes this transport receives for besides its own, with how many routes ask for each. */
  readonly #routes = new Map<string, number>();

  constructor(link: BusLink, onHandlerError: HandlerErrorReporter) {
    this.#link = link;
    this.#onHandlerError = onHandlerError;
  }

  get status(): TransportStatus {
    return this.#status.value;
  }

  get node(): string | undefined {
    return this.#node;
  }

  async start(node: string, onFrame: FrameHandler): Promise<void> {
    assertStartable(this.#status.value === 'closed', this.#node);
    assertNodeName(node);
    this.#node = node;
    this.#onFrame = onFrame;
    this.#link.register(this);
  }

  publish(subject: string, payload: Uint8Array): void {
    // unstarted or closed: nobody to publish as, and nothing may throw
    if (this.#node === undefined || this.#status.value === 'closed') return;
    this.#link.publish(this.#node, subject, payload);
  }

  route(node: string): () => void {
    if (this.#node === undefined) throw new BosunError('BOSUN_TRANSPORT', 'start the transport before routing for other nodes');
    assertNodeName(node);
    if (this.#status.value === 'closed') return () => {};
    const count = this.#routes.get(node) ?? 0;
    this.#routes.set(node, count + 1);
    if (count === 0) this.#link.addReceiver(node, this);
    let removed = false;
    return () => {
      if (removed || this.#status.value === 'closed') return;
      removed = true;
      const left = this.#routes.get(node)! - 1;
      if (left > 0) {
        this.#routes.set(node, left);
        return;
      }
      this.#routes.delete(node);
      this.#link.removeReceiver(node, this);
    };
  }

  onStatus(listener: (status: TransportStatus) => void): () => void {
    return this.#status.listen(listener);
  }

  async close(): Promise<void> {
    if (this.#status.value === 'closed') return;
    if (this.#node !== undefined) this.#link.unregister(this);
    for (const node of this.#routes.keys()) this.#link.removeReceiver(node, this);
    this.#routes.clear();
    this.#status.set('closed');
  }

  setStatus(status: TransportStatus): void {
    this.#status.set(status);
  }

  receive(subject: string, payload: Uint8Array): void {
    try {
      this.#onFrame!(subject, payload);
    } catch (error) {
      this.#onHandlerError(error, subject);
    }
  }
}

function emptyStats(): BusStats {
  return { published: 0, delivered: 0, dropped: 0, duplicated: 0, delayed: 0, reordered: 0, unroutable: 0 };
}
