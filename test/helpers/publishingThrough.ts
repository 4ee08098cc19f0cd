import type { Transport } from '../../src/transport/types.ts';

/**
 * `inner` in every way but `publish`, which goes to `publish` instead (it calls
 * `inner.publish` itself, later, or not at all): for tests that count, fail, tap or
 * reorder what a node publishes.
 */
export function publishingThrough(inner: Transport, publish: (subject: string, payload: Uint8Array) => void): Transport {
  return {
    kind: inner.kind,
    get status() {
      return inner.status;
    },
    start: (node, onFrame) => inner.start(node, onFrame),
    publish,
    onStatus: (listener) => inner.onStatus(listener),
    close: () => inner.close(),
  };
}
