/**
 * Carries the responses log into a JetStream stream, so consumers on NATS lose nothing
 * while they are down. The log in the node's store stays the first, durable write: a
 * reply is never waiting on NATS. This forwarder follows the log from a cursor persisted
 * in the store and moves the cursor only once JetStream acknowledged the publish; while
 * NATS or JetStream is down it retries, and the log keeps what arrives meanwhile.
 *
 * Each record is published with its `message_id` as `Nats-Msg-Id`, so a record published
 * again after a crash (stored, but its acknowledgement lost) is dropped by JetStream as
 * a duplicate within the stream's duplicate window.
 */
import { headers, type JetStreamClient, type JetStreamManager, JSONCodec } from 'nats';
import type { ErrorSink } from '../../supervisors/types.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import { describeError } from '../errors.ts';
import { regKey } from '../store/keys.ts';
import type { Store } from '../store/types.ts';
import type { GatewayLogger } from './gateway.ts';
import { ensureStream, isNoResponders, responsesStreamConfig } from './jetstream.ts';
import type { GatewayMetrics } from './metrics.ts';
import { keySegment } from './registry.ts';
import type { LoggedResponse, ResponseLog } from './responses.ts';

/** The header carrying the record's key (the job id), which Kafka carried as the message key. */
export const RESPONSE_KEY_HEADER = 'Key';
const PAGE = 100;
const PUBLISH_TIMEOUT_MS = 5000;
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5000;
/** Waits for new records are cut this often, so a stop never waits on an idle log. */
const IDLE_WAIT_MS = 30_000;

export interface ResponseForwarderDeps {
  jsm: JetStreamManager;
  js: JetStreamClient;
  log: ResponseLog;
  store: Store;
  clock: Clock;
  logger: GatewayLogger;
  errors: ErrorSink;
  metrics: GatewayMetrics;
  stream: string;
  subject: string;
}

const codec = JSONCodec<unknown>();

function cursorKey(stream: string): string {
  return regKey(`receptor!resp-forwarded!${keySegment(stream)}`);
}

/** The last log seq a forwarder to `stream` saw JetStream acknowledge, as stored; 0 before the first. */
export async function readForwardedCursor(store: Store, stream: string): Promise<number> {
  return (await store.get<number>(cursorKey(stream))) ?? 0;
}

export class ResponseForwarder {
  readonly #deps: ResponseForwarderDeps;
  #state: 'running' | 'stopping' | 'stopped' = 'running';
  /** Every log seq up to this one is in JetStream. */
  #cursor: number;
  #loop: Promise<void> = Promise.resolve();
  /** Ends the current wait (for new records or before a retry) early, at stop. */
  #interrupt: (() => void) | undefined;
  #failing = false;

  private constructor(deps: ResponseForwarderDeps, cursor: number) {
    this.#deps = deps;
    this.#cursor = cursor;
  }

  /** Reads the persisted cursor and starts forwarding; the stream is created if missing. */
  static async start(deps: ResponseForwarderDeps): Promise<ResponseForwarder> {
    const cursor = await readForwardedCursor(deps.store, deps.stream);
    await ensureStream(deps.jsm, responsesStreamConfig(deps.stream), deps.subject);
    const forwarder = new ResponseForwarder(deps, cursor);
    forwarder.#loop = forwarder.#run();
    return forwarder;
  }

  /** The last log seq known to be in JetStream. */
  get cursor(): number {
    return this.#cursor;
  }

  /** Stops after the publish in flight; what is left goes out at the next start. */
  async stop(): Promise<void> {
    if (this.#state !== 'running') return this.#loop;
    this.#state = 'stopping';
    this.#interrupt?.();
    await this.#loop;
    this.#state = 'stopped';
  }

  async #run(): Promise<void> {
    let retryMs = RETRY_MIN_MS;
    while (this.#state === 'running') {
      try {
        await this.#forwardPage();
        retryMs = RETRY_MIN_MS;
      } catch (error) {
        // The store failed, not NATS (publishes retry on their own): report it and try again.
        const { code, message } = describeError(error);
        this.#deps.errors.report({ source: 'receptor-gateway', severity: 'error', code, message: `the responses forwarder failed: ${message}`, error });
        await this.#pause(retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      }
    }
  }

  async #forwardPage(): Promise<void> {
    const page = await this.#deps.log.read(this.#cursor, { limit: PAGE });
    for (const entry of page.entries) {
      if (!(await this.#publishUntilAcknowledged(entry))) return;
      await this.#advance(entry.seq);
    }
    // Past holes (log writes that failed) too, so they are not read again.
    if (page.last > this.#cursor) await this.#advance(page.last);
    if (page.entries.length === 0) await this.#waitForRecords();
  }

  async #advance(seq: number): Promise<void> {
    await this.#deps.store.write([{ type: 'put', key: cursorKey(this.#deps.stream), value: seq }]);
    this.#cursor = seq;
  }

  /** Resolves `true` once JetStream holds the record, `false` if the forwarder stopped first. */
  async #publishUntilAcknowledged(entry: LoggedResponse): Promise<boolean> {
    const { js, stream, subject, metrics } = this.#deps;
    const h = headers();
    h.set(RESPONSE_KEY_HEADER, entry.key);
    let retryMs = RETRY_MIN_MS;
    while (this.#state === 'running') {
      try {
        const ack = await js.publish(subject, codec.encode(entry.value), {
          headers: h,
          timeout: PUBLISH_TIMEOUT_MS,
          expect: { streamName: stream },
          ...(entry.value.message_id ? { msgID: entry.value.message_id } : {}),
        });
        (ack.duplicate ? metrics.responsesStreamDuplicates : metrics.responsesStreamPublished).inc();
        this.#recovered();
        return true;
      } catch (error) {
        metrics.responsesStreamFailures.inc();
        this.#failed(error);
        if (isNoResponders(error)) await this.#recreateStream();
        await this.#pause(retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      }
    }
    return false;
  }

  /** A stream deleted under us (or a JetStream restarted without its storage) is made again. */
  async #recreateStream(): Promise<void> {
    try {
      await ensureStream(this.#deps.jsm, responsesStreamConfig(this.#deps.stream), this.#deps.subject);
    } catch {
      // NATS is still away; the next attempt tries again.
    }
  }

  /** One warning per outage, not one per attempt. */
  #failed(error: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#deps.logger.warn({ err: error, stream: this.#deps.stream, cursor: this.#cursor }, 'cannot publish responses to JetStream; they wait in the local log');
  }

  #recovered(): void {
    if (!this.#failing) return;
    this.#failing = false;
    this.#deps.logger.info({ stream: this.#deps.stream }, 'publishing responses to JetStream again');
  }

  async #waitForRecords(): Promise<void> {
    if (this.#state !== 'running') return;
    const wait = this.#deps.log.waitBeyond(this.#cursor, IDLE_WAIT_MS);
    this.#interrupt = wait.cancel;
    await wait.arrived;
    this.#interrupt = undefined;
  }

  async #pause(ms: number): Promise<void> {
    if (this.#state !== 'running') return;
    let timer: TimerHandle | undefined;
    await new Promise<void>((resolve) => {
      this.#interrupt = resolve;
      timer = this.#deps.clock.setTimer(ms, resolve);
    });
    timer?.cancel();
    this.#interrupt = undefined;
  }
}
