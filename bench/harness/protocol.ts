/**
 * What the bench harness and its worker processes say to each other over Node's IPC
 * channel. Every command carries an `id`; the worker answers each with one reply of the
 * same `id`. Events are unsolicited (the "next execution happened" notice of `recovery`).
 *
 * Times crossing the channel are wall-clock milliseconds with sub-millisecond precision
 * (`performance.timeOrigin + performance.now()`), so figures from two processes on the
 * same machine can be subtracted.
 */

/** A process's own account of its resources, taken when asked. */
export interface Usage {
  at: number;
  /** `process.cpuUsage()`, µs since the process started. */
  cpuUserUs: number;
  cpuSystemUs: number;
  rssBytes: number;
  /** Highest RSS seen: sampled `memoryUsage().rss` and the kernel's `maxRSS`, whichever is higher. */
  peakRssBytes: number;
}

/** Options of a bosun node hosted by a worker (a subset of `startNode`'s). */
export interface NodeSpec {
  node: string;
  dataDir?: string;
  sync?: boolean;
  /** NATS server URL; without it the node joins the worker's in-process bus. */
  servers?: string;
  windowSize?: number;
  helloIntervalSeconds?: number;
  /** Register the order-checking methods, expecting this data index first. */
  orderCheckFrom?: number;
  /**
   * Sign and check every message and frame (`--secure`). Central must run in the same
   * worker and start first: a node started after it is allowed by it in-process.
   */
  secure?: boolean;
}

export interface AcceptPlan {
  toNode: string;
  method: string;
  count: number;
  /** Messages per `accept` call (an array input, as a client sends it). */
  batch: number;
  /** `accept` calls in flight at once. */
  lanes: number;
  /** `data` of the first message is this index as a string; the next ones count up. */
  dataFrom?: number;
  /** Further fields of every message (`directory`, `fileName`, `methodArgs`, `replyMethod` …). */
  fields?: Record<string, unknown>;
}

export type Command =
  | { cmd: 'usage' }
  | { cmd: 'exit' }
  // raw nats.js roles: the baselines
  | { cmd: 'raw.responder'; servers: string; subject: string }
  | { cmd: 'raw.echo'; servers: string; subject: string }
  | { cmd: 'raw.requestWindow'; servers: string; subject: string; count: number; window: number; payloadBytes: number }
  | { cmd: 'raw.publishEcho'; servers: string; subject: string; count: number; window: number; payloadBytes: number }
  | { cmd: 'raw.latency'; servers: string; subject: string; count: number; warmup: number; payloadBytes: number }
  | { cmd: 'raw.level'; dir: string; count: number; batch: number; lanes: number; valueBytes: number }
  | { cmd: 'raw.levelPutLatency'; dir: string; count: number; valueBytes: number }
  | { cmd: 'raw.jsSetUp'; servers: string; stream: string; subject: string }
  | { cmd: 'raw.jsPublish'; servers: string; subject: string; count: number; window: number }
  | { cmd: 'raw.jsConsume'; servers: string; stream: string; file: string; count: number }
  | { cmd: 'raw.spawn'; command: string; args: string[]; count: number; concurrency: number }
  | { cmd: 'raw.writeLines'; file: string; count: number; chunk: number }
  // one bosun node
  // bosun nodes hosted by the worker, by name (several share the in-process bus)
  | { cmd: 'node.start'; spec: NodeSpec }
  | { cmd: 'node.accept'; node: string; plan: AcceptPlan }
  | { cmd: 'node.acceptFanout'; node: string; toNodes: string[]; method: string; timeoutMs: number }
  | { cmd: 'node.waitExecuted'; node: string; count: number; timeoutMs: number; stallMs: number; source: 'counters' | 'orderCheck' }
  | { cmd: 'node.waitIdle'; node: string; timeoutMs: number }
  | { cmd: 'node.ping'; node: string; toNode: string; count: number; warmup: number }
  | { cmd: 'node.status'; node: string }
  | { cmd: 'node.armNextExecution'; node: string }
  | { cmd: 'node.stop'; node: string }
  // many lightweight nodes (memory stores) on NATS
  | { cmd: 'fleet.start'; servers: string; names: string[]; helloIntervalSeconds: number; spreadMs: number }
  | { cmd: 'fleet.status' };

export type Request = Command & { id: number };

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export type WorkerEvent = { event: 'nextExecution'; node: string; at: number; data: string | undefined } | { event: 'ready'; at: number };

/** What the order-checking method saw. */
export interface OrderReport {
  executed: number;
  /** Next data index expected. */
  expected: number;
  /** Data below the expected index: a message that ran twice (or out of order, backwards). */
  duplicates: number;
  /** Data above the expected index: a message skipped (lost) or overtaken. */
  gaps: number;
  /** Messages the gaps jumped over. */
  skipped: number;
  firstAt: number | undefined;
  lastAt: number | undefined;
}

export interface WaitResult {
  executed: number;
  /** True when `count` was reached; false when progress stalled or time ran out. */
  reached: boolean;
  reason: 'reached' | 'stalled' | 'timeout';
  firstAt: number | undefined;
  /** When the count was reached, or of the last progress seen. */
  lastAt: number | undefined;
  order?: OrderReport;
}

export interface AcceptResult {
  accepted: number;
  refused: number;
  firstAt: number;
  lastAt: number;
}
