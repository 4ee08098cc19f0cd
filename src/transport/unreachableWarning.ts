import type { Logger } from 'pino';
import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import type { Transport } from './types.ts';

/** The first warning: long enough for a broker that is merely slow to answer. */
const FIRST_AFTER_MS = 5000;
/** Warnings then come at twice the last interval, up to this. */
const MAX_EVERY_MS = 5 * 60_000;

/**
 * Warns while a broker cannot be reached: 5 s after start (or after the link went down),
 * then again at doubling intervals up to every 5 minutes, each time naming the servers,
 * until the transport connects. Without it, a mistyped URL at start-up said nothing:
 * the node started, took messages, and kept them queued in silence.
 *
 * Returns the function that stops watching.
 */
export function warnWhileUnreachable(transport: Pick<Transport, 'status' | 'onStatus'>, servers: readonly string[], log: Logger, clock: Clock = systemClock): () => void {
  let timer: TimerHandle | undefined;
  let since = clock.now();
  const arm = (afterMs: number): void => {
    timer = clock.setTimer(afterMs, () => {
      if (transport.status === 'connected' || transport.status === 'closed') return;
      log.warn(
        { nats: servers, unreachableForMs: clock.now() - since },
        `NATS is still unreachable after ${Math.round((clock.now() - since) / 1000)} s at ${servers.join(', ')}; messages wait in the outbox, and bosun keeps trying`,
      );
      arm(Math.min(afterMs * 2, MAX_EVERY_MS));
    });
  };
  const stopListening = transport.onStatus((status) => {
    if (status === 'connected' || status === 'closed') {
      timer?.cancel();
      timer = undefined;
    } else if (!timer) {
      since = clock.now();
      arm(FIRST_AFTER_MS);
    }
  });
  if (transport.status !== 'connected' && transport.status !== 'closed') arm(FIRST_AFTER_MS);
  return () => {
    stopListening();
    timer?.cancel();
  };
}
