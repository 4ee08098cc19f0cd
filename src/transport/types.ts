/**
 * The one narrow interface every transport adapter implements. A transport moves opaque
 * frames between nodes at most once: it may drop, duplicate or reorder them. Delivery
 * guarantees are bosun's own protocol on top (see `src/delivery/`).
 *
 * Subjects follow steward: `<toNode>.<method>.<kind>`. A node receives every subject
 * under `<node>.>`, which lets NATS permissions confine a node to its own subjects.
 */
export type TransportStatus = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** The frame size a node assumes of a transport that names none: a NATS server's default `max_payload`. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/**
 * Receives one frame. Payloads are shared, not copied: neither the publisher nor a
 * receiver may mutate a payload after it was published. A handler should not throw; if it
 * does, the transport keeps running and reports the error (see `HandlerErrorReporter`).
 */
export type FrameHandler = (subject: string, payload: Uint8Array) => void;

/** Where a transport sends an exception thrown by a `FrameHandler`. */
export type HandlerErrorReporter = (error: unknown, subject: string) => void;

export interface Transport {
  readonly kind: 'embedded' | 'nats' | 'ws';
  readonly status: TransportStatus;
  /**
   * The largest payload `publish` carries, to any subject; a larger one is dropped. May
   * change when the transport learns its broker's limit. Absent: `DEFAULT_MAX_PAYLOAD_BYTES`.
   */
  readonly maxPayloadBytes?: number;
  /**
   * Where the transport is connected now, for operators (`bosun tree`): a broker's
   * `host:port`, or a gateway's URL. Absent while disconnected, or for a transport with
   * no remote end (embedded).
   */
  readonly server?: string;
  /**
   * Starts receiving every subject under `<node>.>` and connecting. Resolves without
   * waiting for a broker that is down: connection goes on in the background, forever.
   */
  start(node: string, onFrame: FrameHandler): Promise<void>;
  /**
   * Fire and forget. While disconnected a frame may be buffered or dropped; never throws.
   * A frame to an invalid subject (see `isPublishSubject`) is dropped.
   */
  publish(subject: string, payload: Uint8Array): void;
  /**
   * Optional, for a medium that can carry other nodes' subjects to this transport: from now
   * on also receive every subject under `<node>.>`, for a node reachable through this one
   * (a ws peer of a gateway node). Those frames go to the handler given to `start`. Call
   * after `start`. Returns the function that removes the route; routes to the same node
   * are counted, so the subjects keep coming until every route to it is removed.
   */
  route?(node: string): () => void;
  /** Listens to status changes; returns the function that stops listening. */
  onStatus(listener: (status: TransportStatus) => void): () => void;
  /** Stops receiving and releases the connection. */
  close(): Promise<void>;
}
