import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { ErrorReport } from '../../supervisors/types.ts';
import type { Clock } from '../clock.ts';
import { prefixWithin } from '../delivery/frameBudget.ts';
import { streamIdOf } from '../delivery/frames.ts';
import type { MethodRegistry } from '../methods/registry.ts';
import type { AcceptResult, NodeCapabilities, NodeErrorReport, NodeStatus } from './nodeTypes.ts';

/** What an error report to central leaves for the rest of its message, around its text. */
const ERROR_REPORT_SHELL_BYTES = 4096;

/** Reports kept while they cannot be sent (the node starts, the error kernel restarts). */
const MAX_WAITING_REPORTS = 1000;

/** How often a report central could not be sent is tried, and how long after the first failure. */
const MAX_SEND_TRIES = 5;
const RETRY_AFTER_MS = 500;

const BOSUN_VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export interface CentralDeps {
  node: string;
  central: string;
  clock: Clock;
  filesDir: string;
  methods: MethodRegistry;
  /** True while a hello sent earlier still waits for its ACK. */
  helloInFlight(stream: string): boolean;
  helloIntervalSeconds: number;
  status(): NodeStatus;
  accept(input: unknown): Promise<AcceptResult[]>;
  maxFrameBytes(): number;
  /** The broker or gateway the transport is connected to, if it says. */
  server(): string | undefined;
  /** The embedder's listener for every report. */
  onError?(report: NodeErrorReport): void;
}

/**
 * This node's conversation with central: the error reports it forwards (`REQErrorLog`),
 * the hellos it sends (`REQHello`), and, on central itself, the nodes that said hello.
 *
 * Forwarding is open only while the error kernel's child runs: a report made while the
 * node starts, or while that child restarts, waits and goes once it is back, or central
 * would never hear of it.
 */
export class CentralLink {
  #open = false;
  #waiting: ErrorReport[] = [];
  #helloTimer: { cancel(): void } | undefined;
  readonly #lastSeen = new Map<string, { at: number; data?: string }>();

  constructor(private readonly deps: CentralDeps) {}

  /** The error kernel's forwarder: every report goes to the embedder's listener and to central. */
  forward(report: ErrorReport): void {
    try {
      this.deps.onError?.(report);
    } catch {
      // A listener's failure must not break the error path.
    }
    if (report.forward === false) return;
    const status = this.deps.status();
    if (!this.#open || status === 'starting') {
      if (this.#waiting.length < MAX_WAITING_REPORTS) this.#waiting.push(report);
      return;
    }
    this.#send(report);
  }

  /** Reports go out from now on; the ones that waited go first. */
  open(): void {
    this.#open = true;
    this.flush();
  }

  /** Reports wait from now on. */
  close(): void {
    this.#open = false;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /** Sends the reports that waited, if the node runs and the link is open. */
  flush(): void {
    if (!this.#open || this.deps.status() !== 'running') return;
    for (const report of this.#waiting.splice(0)) this.#send(report);
  }

  /** Reports waiting to go. */
  get waiting(): number {
    return this.#waiting.length;
  }

  #send(report: ErrorReport, tries = 1): void {
    if (this.deps.status() !== 'running') return;
    // A store that cannot write cannot take the error report either: sending one would
    // only make another failed write, and another report.
    if (report.code === 'BOSUN_STORE_WRITE_FAILED' || report.code === 'BOSUN_STORE_CLOSED') return;
    // A report must fit a frame, through a relay too, or it would be refused.
    const text = `${report.code} ${report.source}: ${report.message}`;
    const sent = this.deps.accept({
      toNode: this.deps.central,
      method: 'REQErrorLog',
      data: prefixWithin(text, this.deps.maxFrameBytes() - ERROR_REPORT_SHELL_BYTES, 2),
      replyMethod: 'none',
    });
    // A report of a crash is made while the tree restarts the outbound side it would go
    // out through: it is tried again a little later, not lost.
    void sent.then(
      (results) => results.some((r) => 'error' in r) && this.#retry(report, tries),
      () => this.#retry(report, tries),
    );
  }

  #retry(report: ErrorReport, tries: number): void {
    if (tries >= MAX_SEND_TRIES) return;
    this.deps.clock.setTimer(RETRY_AFTER_MS * tries, () => this.#send(report, tries + 1));
  }

  /** Says hello now and every `helloIntervalSeconds` while the node runs. */
  startHellos(): void {
    const { node, central, helloIntervalSeconds: every, clock } = this.deps;
    if (every <= 0 || node === central) return;
    const tick = () => {
      if (this.deps.status() !== 'running') return;
      // One hello in flight is enough: a central that is away gets the latest when back.
      if (!this.deps.helloInFlight(streamIdOf(node, central, 'REQHello'))) {
        void this.deps.accept({ toNode: central, method: 'REQHello', data: JSON.stringify(this.capabilities()), replyMethod: 'none' });
      }
      this.#helloTimer = clock.setTimer(every * 1000, tick);
    };
    tick();
  }

  stopHellos(): void {
    this.#helloTimer?.cancel();
    this.#helloTimer = undefined;
  }

  /** What this node tells central in its hellos. */
  capabilities(): NodeCapabilities {
    return {
      bosun: BOSUN_VERSION,
      hostname: os.hostname(),
      methods: this.deps.methods.list().map((m) => m.name),
      cpus: os.cpus().length,
      memoryBytes: os.totalmem(),
      freeMemoryBytes: os.freemem(),
      load: os.loadavg(),
      platform: `${os.platform()}-${os.arch()}`,
      ...serverInfo(this.deps.server()),
    };
  }

  /** Central: records a hello and touches `hello-messages/<node>/hello.log`. */
  async recordHello(node: string, at: number, data: string | undefined): Promise<void> {
    const known = this.#lastSeen.has(node);
    this.#lastSeen.set(node, { at, ...(data !== undefined ? { data } : {}) });
    const dir = path.join(this.deps.filesDir, 'hello-messages', node);
    if (!known) await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'hello.log'), `${new Date(at).toISOString()}\n`);
  }

  /** Nodes that said hello to this (central) node, with when. */
  lastSeen(): Map<string, { at: number; data?: string }> {
    return new Map(this.#lastSeen);
  }

  /** Central: every node that said hello, with when and its capabilities. */
  nodes(): Array<{ node: string; lastSeen: string; capabilities?: NodeCapabilities }> {
    return [...this.#lastSeen].map(([node, seen]) => {
      let capabilities: NodeCapabilities | undefined;
      try {
        capabilities = seen.data ? (JSON.parse(seen.data) as NodeCapabilities) : undefined;
      } catch {
        capabilities = undefined; // an older node's plain-text hello
      }
      return { node, lastSeen: new Date(seen.at).toISOString(), ...(capabilities ? { capabilities } : {}) };
    });
  }
}

/** Where the transport is connected, for hellos and the tree: `server=host:port`, or nothing. */
export function serverInfo(server: string | undefined): { server?: string } {
  return server === undefined ? {} : { server };
}
