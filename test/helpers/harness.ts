import { streamIdOf } from '../../src/delivery/frames.ts';
import type { BusFaults } from '../../src/transport/EmbeddedBus.ts';
import { ABSENT_CENTRAL, HarnessFleet } from './harnessFleet.ts';
import { METHOD_OF, REPLY_METHOD, type HarnessOptions, type SendResult, type StreamKind } from './harnessTypes.ts';

export { removeHarnessFiles } from './harnessFleet.ts';

/**
 * A fleet of real bosun nodes in one process, driven by a virtual clock, for model-based
 * fault-injection tests (Jepsen's shape, inside vitest): each node has its own
 * `MemoryStore`, every node shares one seeded `EmbeddedBus`, and the harness can crash a
 * node at chosen points, break the bus, move time, and finally heal and drain.
 *
 * Effects are the runs the test methods record (`recorder.ts`): one entry per execution,
 * keyed by the message id the harness gave it, so the checker sees exactly what ran where.
 * This class holds the commands a model test issues and what it observes; the nodes'
 * lives are `HarnessFleet`'s, and the harness's vocabulary (crash points, options,
 * counts) is in `harnessTypes.ts`.
 */
export class Harness extends HarnessFleet {
  /** id → stream of every message the harness sent. */
  readonly #streamOf = new Map<string, string>();

  static async create(options: HarnessOptions = {}): Promise<Harness> {
    const h = new Harness(options);
    await h.startNodes();
    return h;
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
    const slot = this.slot(from);
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
          ACKTimeout: this.options.ackTimeoutSeconds,
          retryWait: this.options.retryWaitSeconds,
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

  /**
   * The liveness phase (Jepsen's final generator): faults off, partitions healed, the bus
   * resumed, crash points disarmed; then virtual time moves in steps until every node is
   * idle and `done()` holds, or `maxVirtualMs` passed. Returns the virtual ms it took.
   */
  async healAndDrain(options: { maxVirtualMs?: number; stepMs?: number; done?: () => boolean } = {}): Promise<number> {
    const maxVirtualMs = options.maxVirtualMs ?? 120_000;
    const stepMs = options.stepMs ?? 250;
    this.disarmAll();
    for (const slot of this.slots.values()) if (slot.storeFault) this.failWrites(slot.name, false);
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
    for (const slot of this.slots.values()) {
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
    for (const slot of this.slots.values()) {
      const senders = [...slot.node.senders()].filter(([s]) => !s.endsWith(`~${ABSENT_CENTRAL}~REQErrorLog`)).map(([s, x]) => `${s} ${JSON.stringify(x.info)}`);
      const receivers = [...slot.node.receivers()].map(([s, x]) => `${s} ${JSON.stringify(x.info)}`);
      lines.push(`${slot.name}#${slot.incarnation} ${slot.state}: senders [${senders.join('; ')}] receivers [${receivers.join('; ')}]`);
    }
    lines.push(`trace: ${this.trace.slice(-40).join(' | ')}`);
    const codes = this.reports.filter((r) => r.code !== 'BOSUN_SUP_CHILD_CRASHED').map((r) => `${r.node}#${r.incarnation} ${r.code}: ${r.message}`);
    lines.push(`reports: ${codes.slice(-12).join(' | ')}`);
    return lines.join('\n');
  }
}
