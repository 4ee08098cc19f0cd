/**
 * The one narrow interface every transport adapter implements. A transport moves opaque
 * frames between nodes at most once: it may drop, duplicate or reorder them. Delivery
 * guarantees are bosun's own protocol on top (see `src/delivery/`).
 *
 * Subjects follow steward: `<toNode>.<method>.<kind>`. A node receives every subject
 * under `<node>.>`, which lets NATS permissions confine a node to its own subjects.
 */
export type TransportStatus = 'connecting' | 'connected' | 'disconnected' | 'closed';

export type FrameHandler = (subject: string, payload: Uint8Array) => void;

export interface Transport {
  readonly kind: 'embedded' | 'nats' | 'ws';
  readonly status: TransportStatus;
  /**
   * Starts receiving every subject under `<node>.>` and connecting. Resolves without
   * waiting for a broker that is down: connection goes on in the background, forever.
   */
  start(node: string, onFrame: FrameHandler): Promise<void>;
  /** Fire and forget. While disconnected a frame may be buffered or dropped; never throws. */
  publish(subject: string, payload: Uint8Array): void;
  /** Listens to status changes; returns the function that stops listening. */
  onStatus(listener: (status: TransportStatus) => void): () => void;
  /** Stops receiving and releases the connection. */
  close(): Promise<void>;
}
