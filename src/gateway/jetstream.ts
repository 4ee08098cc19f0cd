/**
 * The JetStream streams and consumer the gateway relies on, created when missing so a
 * fresh NATS needs no setup; an operator may create them beforehand with other limits.
 */
import {
  AckPolicy,
  type JetStreamManager,
  type NatsConnection,
  nanos,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from 'nats';
import { BosunError } from '../errors.ts';

/** The durable consumer every gateway instance pulls jobs through, so each job goes to one of them. */
export const JOBS_CONSUMER = 'receptor-gateway';
/** A job being sent is redelivered to another instance if not acknowledged within this. */
export const JOBS_ACK_WAIT_MS = 30_000;
/**
 * How long JetStream remembers a response's `Nats-Msg-Id`: a response re-published after
 * a crash (its acknowledgement lost) within this window is dropped as a duplicate.
 */
export const RESPONSES_DUPLICATE_WINDOW_MS = 10 * 60_000;

const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

function apiErrorCode(error: unknown): number | undefined {
  return (error as { api_error?: { err_code?: number } } | null)?.api_error?.err_code;
}

/** Whether a publish failed because nothing captures the subject (no stream, or JetStream not up yet). */
export function isNoResponders(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === '503';
}

/** The server's JetStream manager, or `undefined` when it runs without JetStream (`-js`). */
export async function jetStreamManager(nc: NatsConnection): Promise<JetStreamManager | undefined> {
  try {
    return await nc.jetstreamManager();
  } catch (error) {
    if (isNoResponders(error) || /jetstream not enabled/i.test((error as Error).message)) return undefined;
    throw error;
  }
}

/**
 * Makes sure `config.name` exists and captures `subject`. An existing stream is kept
 * as it is (its operator chose its limits); one that does not capture the subject is a
 * configuration error.
 */
export async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }, subject: string): Promise<void> {
  try {
    const info = await jsm.streams.info(config.name);
    if (!(info.config.subjects ?? []).includes(subject)) {
      throw new BosunError('BOSUN_BAD_CONFIG', `the JetStream stream ${config.name} exists but does not capture ${subject}`);
    }
  } catch (error) {
    if (apiErrorCode(error) !== STREAM_NOT_FOUND) throw error;
    await jsm.streams.add({ ...config, subjects: [subject] });
  }
}

export function responsesStreamConfig(name: string): Partial<StreamConfig> & { name: string } {
  return { name, storage: StorageType.File, retention: RetentionPolicy.Limits, duplicate_window: nanos(RESPONSES_DUPLICATE_WINDOW_MS) };
}

/** Jobs are work: each is removed once a gateway acknowledged it. */
export function jobsStreamConfig(name: string): Partial<StreamConfig> & { name: string } {
  return { name, storage: StorageType.File, retention: RetentionPolicy.Workqueue };
}

export async function ensureJobsConsumer(jsm: JetStreamManager, stream: string): Promise<void> {
  try {
    await jsm.consumers.info(stream, JOBS_CONSUMER);
  } catch (error) {
    if (apiErrorCode(error) !== CONSUMER_NOT_FOUND) throw error;
    await jsm.consumers.add(stream, { durable_name: JOBS_CONSUMER, ack_policy: AckPolicy.Explicit, ack_wait: nanos(JOBS_ACK_WAIT_MS), max_deliver: -1 });
  }
}
