import path from 'node:path';
import type { BosunNode, NodeErrorReport } from '../../src/runtime/Node.ts';
import { startNode } from '../../src/runtime/startNode.ts';
import { createSecurity, type Security } from '../../src/security/createSecurity.ts';
import { LevelStore } from '../../src/store/LevelStore.ts';
import { EmbeddedBus } from '../../src/transport/EmbeddedBus.ts';
import type { AcceptPlan, AcceptResult, NodeSpec, WaitResult } from '../harness/protocol.ts';
import { sleep, wallNow } from '../harness/time.ts';
import { OrderChecker } from './orderCheck.ts';

interface Hosted {
  node: BosunNode;
  order?: OrderChecker;
  errors: NodeErrorReport[];
  errorCount: number;
}

const KEEP_ERRORS = 20;
const POLL_MS = 2;

/**
 * The bosun nodes a worker process runs: usually one (a daemon of its own), two on the
 * in-process bus for `delivery-embedded`, or hundreds with memory stores for `fleet`.
 */
export class NodeHost {
  readonly #nodes = new Map<string, Hosted>();
  readonly #security = new Map<string, Security>();
  #bus: EmbeddedBus | undefined;

  async start(spec: NodeSpec): Promise<{ startedAt: number; readyAt: number }> {
    if (this.#nodes.has(spec.node)) throw new Error(`node ${spec.node} already runs in this worker`);
    const startedAt = wallNow();
    const order = spec.orderCheckFrom !== undefined ? new OrderChecker(spec.orderCheckFrom) : undefined;
    const tally = { errors: [] as NodeErrorReport[], errorCount: 0 };
    const secure = spec.secure ? await this.#secure(spec) : undefined;
    const node = await startNode({
      node: spec.node,
      ...(spec.dataDir ? { dataDir: spec.dataDir, sync: spec.sync ?? true } : {}),
      ...(secure ? { store: secure.store, guard: secure.security.guard } : {}),
      ...(spec.servers ? { nats: { servers: spec.servers } } : { bus: (this.#bus ??= new EmbeddedBus()) }),
      ...(spec.windowSize !== undefined ? { windowSize: spec.windowSize } : {}),
      helloIntervalSeconds: spec.helloIntervalSeconds ?? 0,
      ...(order || secure ? { methods: [...(order ? [order.method] : []), ...(secure ? secure.security.methods : [])] } : {}),
      onError: (report) => {
        tally.errorCount++;
        if (tally.errors.length < KEEP_ERRORS) tally.errors.push(report);
      },
    });
    // The error callback keeps counting into `tally`, which is the hosted record itself.
    this.#nodes.set(spec.node, Object.assign(tally, { node }, order ? { order } : {}));
    return { startedAt, readyAt: wallNow() };
  }

  /**
   * A secure node's store and security: central's own, or a node's that central (started
   * before, in this worker) allows at once, as an operator would, and whose key set it gets.
   */
  async #secure(spec: NodeSpec): Promise<{ store: LevelStore; security: Security }> {
    if (!spec.dataDir) throw new Error('a secure bench node needs a data dir');
    const store = new LevelStore(path.join(spec.dataDir, 'db'), { sync: spec.sync ?? true });
    const keyDir = path.join(spec.dataDir, 'keys');
    if (spec.node === 'central') {
      const security = await createSecurity({ node: 'central', central: 'central', keyDir, store, syncIntervalSeconds: 0 });
      this.#security.set('central', security);
      return { store, security };
    }
    const central = this.#security.get('central');
    if (!central) throw new Error('start the secure central first, in the same worker');
    const security = await createSecurity({ node: spec.node, central: 'central', keyDir, store, centralKey: central.keys.publicKey, syncIntervalSeconds: 0 });
    await central.authority!.notePresented(spec.node, security.keys.publicKey);
    await central.authority!.allow([spec.node]);
    await security.trust!.applyKeys(JSON.stringify(central.authority!.keySetDocument()));
    return { store, security };
  }

  get(name: string): Hosted {
    const h = this.#nodes.get(name);
    if (!h) throw new Error(`no node ${name} in this worker`);
    return h;
  }

  /**
   * Starts many nodes with memory stores, spread over `spreadMs` so that their hellos do
   * not all fall in the same instant of every second.
   */
  async startFleet(servers: string, names: string[], helloIntervalSeconds: number, spreadMs: number): Promise<{ startedAt: number; readyAt: number }> {
    const startedAt = wallNow();
    const gap = names.length > 0 ? spreadMs / names.length : 0;
    for (const [i, name] of names.entries()) {
      await this.start({ node: name, servers, helloIntervalSeconds });
      const due = startedAt + (i + 1) * gap;
      const wait = due - wallNow();
      if (wait > 0) await sleep(wait);
    }
    return { startedAt, readyAt: wallNow() };
  }

  get size(): number {
    return this.#nodes.size;
  }

  /** Accepts `plan.count` messages in array inputs of `plan.batch`, `plan.lanes` calls at a time. */
  async accept(name: string, plan: AcceptPlan): Promise<AcceptResult> {
    const { node } = this.get(name);
    const dataFrom = plan.dataFrom ?? 0;
    let next = 0;
    let accepted = 0;
    let refused = 0;
    const firstAt = wallNow();
    const lane = async () => {
      while (next < plan.count) {
        // Batches are cut and handed to accept() synchronously, so they reach the outbox
        // in index order even with several lanes.
        const from = next;
        const to = Math.min(plan.count, from + plan.batch);
        next = to;
        const batch = new Array(to - from);
        for (let i = from; i < to; i++) {
          batch[i - from] = { toNode: plan.toNode, method: plan.method, data: String(dataFrom + i), replyMethod: 'none', ...plan.fields };
        }
        const results = await node.accept(batch);
        for (const r of results) {
          if ('error' in r) refused++;
          else accepted++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, plan.lanes) }, lane));
    return { accepted, refused, firstAt, lastAt: wallNow() };
  }

  /** One input fanned out to many nodes; times the accept and the last ACK. */
  async acceptFanout(name: string, toNodes: string[], method: string, timeoutMs: number) {
    const { node } = this.get(name);
    const ackedBefore = node.counters.acked!;
    const startedAt = wallNow();
    const results = await node.accept({ toNodes, method, replyMethod: 'none' });
    const acceptedAt = wallNow();
    const accepted = results.filter((r) => !('error' in r)).length;
    const deadline = startedAt + timeoutMs;
    let acked = 0;
    for (;;) {
      acked = node.counters.acked! - ackedBefore;
      if (acked >= accepted || wallNow() > deadline) break;
      await sleep(1);
    }
    return { accepted, acked, startedAt, acceptedAt, lastAckAt: wallNow(), allAcked: acked >= accepted };
  }

  /**
   * Resolves once `count` runs happened on `name`: counted by the runtime (`counters`) or
   * by the order checker. Gives up when nothing ran for `stallMs`, or at `timeoutMs`.
   */
  async waitExecuted(name: string, count: number, timeoutMs: number, stallMs: number, source: 'counters' | 'orderCheck'): Promise<WaitResult> {
    const hosted = this.get(name);
    if (source === 'orderCheck' && !hosted.order) throw new Error(`node ${name} has no order checker`);
    const read = () => (source === 'orderCheck' ? hosted.order!.executed : hosted.node.counters.executed!);
    const start = wallNow();
    let last = read();
    let lastProgressAt: number | undefined;
    let firstAt: number | undefined = source === 'orderCheck' ? hosted.order!.firstAt : undefined;
    let reason: WaitResult['reason'];
    for (;;) {
      const now = wallNow();
      const n = read();
      if (n > last) {
        if (firstAt === undefined) firstAt = now;
        last = n;
        lastProgressAt = now;
      }
      if (n >= count) {
        reason = 'reached';
        break;
      }
      if (now - (lastProgressAt ?? start) > stallMs) {
        reason = 'stalled';
        break;
      }
      if (now - start > timeoutMs) {
        reason = 'timeout';
        break;
      }
      await sleep(POLL_MS);
    }
    const order = hosted.order?.report();
    // The order checker timestamps each run itself; counters are only seen when polled.
    const lastAt = source === 'orderCheck' ? hosted.order!.lastAt : lastProgressAt;
    return { executed: last, reached: reason === 'reached', reason, firstAt, lastAt, ...(order ? { order } : {}) };
  }

  async waitIdle(name: string, timeoutMs: number): Promise<{ idle: boolean; at: number }> {
    const { node } = this.get(name);
    const deadline = wallNow() + timeoutMs;
    while (!node.idle && wallNow() < deadline) await sleep(POLL_MS);
    return { idle: node.idle, at: wallNow() };
  }

  /** Sequential REQPing round trips: accept → reply back on this node, in ms. */
  async ping(name: string, toNode: string, count: number, warmup: number): Promise<number[]> {
    const { node } = this.get(name);
    const once = async () => {
      const t = performance.now();
      const d = await node.send({ toNode, method: 'REQPing', replyMethod: 'REQPong' });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no reply to REQPing ${d.id} within 30 s`)), 30_000);
      });
      try {
        await Promise.race([d.reply, timeout]);
      } finally {
        clearTimeout(timer);
      }
      return performance.now() - t;
    };
    for (let i = 0; i < warmup; i++) await once();
    const out: number[] = [];
    for (let i = 0; i < count; i++) out.push(await once());
    return out;
  }

  armNextExecution(name: string, notify: (at: number, data: string | undefined) => void): void {
    const { order } = this.get(name);
    if (!order) throw new Error(`node ${name} has no order checker`);
    order.armNext(notify);
  }

  status(name: string) {
    const h = this.get(name);
    return {
      transport: h.node.transport.status,
      counters: h.node.counters,
      idle: h.node.idle,
      senders: [...h.node.senders()].map(([id, s]) => ({ id, state: s.stateValue, ...s.info })),
      receivers: [...h.node.receivers()].map(([id, r]) => ({ id, ...r.info })),
      subscribers: [...h.node.subscribers()].map(([id, s]) => ({ id, ...s.info })),
      ...(h.order ? { order: h.order.report() } : {}),
      errorCount: h.errorCount,
      errors: h.errors,
    };
  }

  /** Sums over every hosted node: the view of a simulated fleet. */
  fleetStatus() {
    const totals: Record<string, number> = {};
    let connected = 0;
    let errorCount = 0;
    const errors: NodeErrorReport[] = [];
    for (const h of this.#nodes.values()) {
      for (const [k, v] of Object.entries(h.node.counters)) totals[k] = (totals[k] ?? 0) + v;
      if (h.node.transport.status === 'connected') connected++;
      errorCount += h.errorCount;
      if (errors.length < KEEP_ERRORS) errors.push(...h.errors.slice(0, KEEP_ERRORS - errors.length));
    }
    return { nodes: this.#nodes.size, connected, totals, errorCount, errors };
  }

  async stop(name: string): Promise<void> {
    const h = this.#nodes.get(name);
    if (!h) return;
    this.#nodes.delete(name);
    await h.node.stop(2000);
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled([...this.#nodes.keys()].map((n) => this.stop(n)));
  }
}
