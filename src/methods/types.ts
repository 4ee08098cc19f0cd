import type { Logger } from 'pino';
import type { Message } from '../message.ts';
import type { LocalFiles } from './LocalFiles.ts';

/**
 * A request method: the code a node runs when a message for that method reaches it.
 * Ordering comes from the name: `REQ…` methods run one at a time in stream order,
 * `REQn…` methods run concurrently.
 */
export interface MethodSpec {
  name: string;
  /** A one-line description for `bosun methods` and the README. */
  summary: string;
  /**
   * Safe to run again after a crash interrupted it. Non-idempotent runs that a crash
   * interrupted are reported as interrupted, never re-run.
   */
  idempotent?: boolean;
  /**
   * A handler that is cheap and cannot hang (no I/O that may stall, no child process):
   * it runs directly, without an execution actor or a `methodTimeout`. Most handlers
   * should leave this off.
   */
  inline?: boolean;
  /**
   * Reaching `methodTimeout` is the method's normal end (a stream: tail, continuous
   * output), and it ends itself a little before it (`ownDeadlineMs`). The runtime then
   * stops it only a grace period after `methodTimeout`, so a busy machine that takes long
   * to wind the stream down does not turn its normal end into `BOSUN_METHOD_TIMEOUT`.
   */
  endsAtTimeout?: boolean;
  /** Whether the method's result is sent back as a reply (default true). */
  replies?: boolean;
  handler(ctx: MethodContext): Promise<MethodResult>;
  /**
   * Consecutive messages of one stream may run together: one `started` record, one
   * effect and one finish for the lot. Without it every message runs on its own.
   */
  batch?: BatchSpec;
}

/**
 * How a method runs several messages at once. The runtime plans a batch, records the
 * plan's checkpoint durably (in the batch's `started` record, for a non-idempotent
 * method), then applies it, then records every outcome in one write.
 *
 * A batch has no `methodTimeout`: its effect must be local and must not wait on anything
 * but the disk (a write, an `fdatasync`, a rename). A write cut off half way would leave
 * what `reconcile` exists to undo, so it is not stopped; what could wait on something
 * else (a pipe's reader, a process, the network) does not batch.
 */
export interface BatchSpec {
  /** Most messages in one batch. */
  max: number;
  /**
   * Prepares a batch without any effect yet: resolves targets, takes what the effect
   * needs to itself (a file's lock) and measures what a crash would leave to reconcile.
   * `holder` names who takes it, so that the next batch of the same stream can plan
   * while this one's finish is being written. With `wait: false` it answers undefined
   * rather than wait for something another holder has.
   */
  plan(contexts: MethodContext[], options: { holder: object; wait: boolean }): Promise<PlannedBatch | undefined>;
  /**
   * After a crash cut a batch short: undoes what its effect may have done, from the
   * checkpoint, so the batch can run again exactly once. Throws when it cannot; the
   * batch is then reported interrupted. Without it, a cut-short batch of a
   * non-idempotent method is always reported interrupted.
   */
  reconcile?(checkpoint: unknown, where: { filesDir: string; localFiles: LocalFiles }): Promise<void>;
}

export interface PlannedBatch {
  /** JSON kept in the `started` record: what `reconcile` needs after a crash. */
  checkpoint?: unknown;
  /** Runs the effect: one result per context, in order (an Error for one that failed). */
  apply(): Promise<Array<MethodResult | Error>>;
  /** Lets go of what `plan` took; called once the batch's finish is durable (or given up). */
  release(): void;
}

export interface MethodResult {
  /** The reply's data; nothing is sent when undefined. */
  output?: string;
  /**
   * Messages the run hands on, as they are (a relay's): written to the outbox in the same
   * write that records the run, so they leave exactly once.
   */
  forward?: Message[];
}

export interface MethodContext {
  /** This node's name. */
  node: string;
  /** The central node's name. */
  central: string;
  message: Message;
  /** `<data-dir>/files`: the root every file method is confined to. */
  filesDir: string;
  /** The files this node holds (locks, files open for appending); a process-wide set when absent. */
  localFiles?: LocalFiles;
  /** Aborted at `methodTimeout` and at shutdown; a handler stops its work when it fires. */
  signal: AbortSignal;
  log: Logger;
  /**
   * Sends one reply now, while the handler still runs (streaming methods send each line
   * this way). Resolves once the reply is durably in the outbox. Does nothing when the
   * request asked for no reply (`replyMethod: "none"`).
   */
  emit(data: string): Promise<void>;
  /**
   * Accepts a new message from this node, as an input would (a method that starts work
   * on other nodes). Resolves with the accept results.
   */
  send(message: Record<string, unknown>): Promise<Array<{ id: string; status: 'accepted' } | { error: { code: string; message: string } }>>;
  /**
   * Durable key-value data for methods (keys, ACLs, copy progress …), in the node's
   * store, written with `sync`. Keys are free-form strings; values JSON.
   */
  registry: MethodRegistryData;
  /** Central only: records a node's last contact (REQHello). */
  recordHello?(node: string, at: number, data: string | undefined): Promise<void>;
  /**
   * Control over the node's method subscribers (`REQOpCommand`); absent on a node that
   * does not offer it.
   */
  operator?: MethodOperator;
}

/**
 * Where a subscriber's state comes from: the node's configuration (its method switch), or
 * an operator's `startProc` / `stopProc`, which is kept across restarts until reset.
 */
export type ProcessSource = 'config' | 'operator';

/** One method subscriber as `MethodOperator.list` reports it. */
export interface OperatorProcess {
  method: string;
  /**
   * `running` while it takes messages, `stopped` once stopped (messages wait), `off` for a
   * method switched off in the configuration (messages are refused); a runtime may report
   * its own word for a running subscriber (`idle`, `busy`).
   */
  state: string;
  /** Where `state` and `allowedNodes` come from. */
  source?: ProcessSource;
  /** Nodes it takes messages from; undefined for every node. */
  allowedNodes?: string[];
  queued?: number;
  /** Runs in progress. */
  active?: number;
}

/**
 * What `REQOpCommand` needs from the runtime to list, start and stop method subscribers.
 * Each call rejects with a `BosunError` the reply can carry (an unknown method, say). A
 * runtime that keeps operators' changes across restarts has them durable before a call
 * resolves.
 */
export interface MethodOperator {
  list(): Promise<OperatorProcess[]>;
  /** Starts the subscriber for `method` (a method the node knows), taking messages from `allowedNodes` only when given. */
  start(method: string, allowedNodes?: string[]): Promise<void>;
  /** Stops the subscriber for `method`: messages for it wait in the inbox until it starts again. */
  stop(method: string): Promise<void>;
  /** Forgets the operator's start or stop of `method`: it does what the configuration says again. */
  reset(method: string): Promise<OperatorProcess>;
}

export interface MethodRegistryData {
  get<T = unknown>(key: string): Promise<T | undefined>;
  put(key: string, value: unknown): Promise<void>;
  del(key: string): Promise<void>;
  /** Entries whose key starts with `prefix`, in key order. */
  list<T = unknown>(prefix: string): Promise<Array<[string, T]>>;
}
