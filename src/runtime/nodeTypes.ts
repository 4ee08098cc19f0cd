/**
 * The shapes a node's public API speaks in: its options, what `accept` and `send` give
 * back, what it says in hellos. Apart from `Node.ts` so that the parts the node assembles
 * can name them without importing the node.
 */
import type { Logger } from 'pino';
import type { ChildSpec, ErrorReport } from '../../supervisors/types.ts';
import type { Clock } from '../clock.ts';
import type { MessageDefaults } from '../message.ts';
import type { MethodSpec } from '../methods/types.ts';
import type { Store, StoreOp } from '../store/types.ts';
import type { Transport } from '../transport/types.ts';
import type { MessageGuard } from './MessageGuard.ts';

export interface NodeOptions {
  /** This node's name: letters, digits, `-` and `_`. */
  node: string;
  /** The node that collects hellos and error logs (default `central`). */
  central?: string;
  /**
   * Relays by target node: a message for a node named here, that names no relay of its
   * own, goes through the given node (`relayViaNode`). A node behind a relay names it for
   * central, so its hellos, error reports and key requests get there; central names it
   * for the node, so its key and ACL updates do.
   */
  routes?: Record<string, string>;
  store: Store;
  transport: Transport;
  /** `<dataDir>/files` by default; every file method is confined to it. */
  filesDir: string;
  /** The files folder is temporary: removed when the node stops. */
  removeFilesDirOnStop?: boolean;
  clock?: Clock;
  logger?: Logger;
  defaults?: Partial<MessageDefaults>;
  /** Frames in flight per stream (default 1000). */
  windowSize?: number;
  /** Seconds between hellos to central; 0 turns them off (default 30). */
  helloIntervalSeconds?: number;
  /** Methods this node serves besides the built-in ones. */
  methods?: MethodSpec[];
  /** Only these built-in methods are served (default: all). */
  enabledMethods?: string[];
  /** Concurrent runs of one method (default 32); an ordered method runs one per stream at a time. */
  unorderedConcurrency?: number;
  /** Called for every report the error kernel receives. */
  onError?(report: NodeErrorReport): void;
  /** Signing, verification and access control (none by default). */
  guard?: MessageGuard;
  /** Keep message data out of the audit log (default false: keep it, to re-create messages). */
  auditStripData?: boolean;
  /** Called if the supervision tree gives up (its root exceeded its restart intensity). */
  onFatal?(reason: unknown): void;
  /** How long a client-given message id is remembered (default 24 h; 0 turns it off). */
  acceptDedupWindowMs?: number;
}

/**
 * The subtrees a host (the daemon) plugs into a running node's tree with `attach`. On
 * stop, `services` and `inputs` end before running handlers are drained, so nothing new
 * arrives; `inputsClosedLast` only after.
 */
export interface NodePlugIns {
  /** Where messages come in: sockets, listeners, files. */
  inputs?: ChildSpec[];
  /**
   * Inputs that end only after the drain (an HTTP input's health checks must see it);
   * they sit under `inputs` too.
   */
  inputsClosedLast?: ChildSpec[];
  /** Optional subsystems: the gateway, events, work units, metrics. */
  services?: ChildSpec[];
  /** The debug socket. */
  debug?: ChildSpec;
}

export type NodeErrorReport = ErrorReport;

/** What a node says about itself in its hellos; central keeps the latest per node. */
export interface NodeCapabilities {
  bosun: string;
  hostname: string;
  methods: string[];
  cpus: number;
  memoryBytes: number;
  freeMemoryBytes: number;
  load: number[];
  platform: string;
  /** The broker (`host:port`) or gateway the node was connected to when it said hello. */
  server?: string;
}

export interface AcceptOptions {
  /**
   * Records written in the same batch as the accepted messages (an input's progress):
   * durable together with them, or not at all. Written on their own when every message
   * is refused.
   */
  alsoWrite?: StoreOp[];
}

export type AcceptResult =
  | { id: string; toNode: string; status: 'accepted' }
  /** The id was accepted before (within the dedup window): the first acceptance, nothing queued again. */
  | { id: string; toNode: string; status: 'duplicate' }
  | { error: { code: string; message: string } };

/** What `send` gives back: the message's id and promises for its ACK and its reply. */
export interface Delivery {
  id: string;
  /** Resolves when the receiving node has the message durably. */
  acked: Promise<void>;
  /** Resolves with the reply message when it reaches this node. */
  reply: Promise<import('../message.ts').Message>;
}

/** Where the node is in its life. */
export type NodeStatus = 'starting' | 'running' | 'draining' | 'stopped';

/** What the node counts, for `stats`. */
export interface NodeCounters {
  accepted: number;
  refused: number;
  acked: number;
  dead: number;
  executed: number;
  failedRuns: number;
  badFrames: number;
}

export function newCounters(): NodeCounters {
  return { accepted: 0, refused: 0, acked: 0, dead: 0, executed: 0, failedRuns: 0, badFrames: 0 };
}
