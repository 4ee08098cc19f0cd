import type { Logger } from 'pino';
import type { Message } from '../message.ts';

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
  /** Whether the method's result is sent back as a reply (default true). */
  replies?: boolean;
  handler(ctx: MethodContext): Promise<MethodResult>;
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
