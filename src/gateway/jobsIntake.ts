/**
 * Jobs from the NATS subject `platform.receptor-controller.jobs` (the Go gateway's Kafka
 * jobs topic), with the JSON of `POST /job`. They go through the same switch as `/job`,
 * so a job reaches its node on whichever gateway instance holds its socket.
 *
 * The subject is an internal bus: whoever NATS lets publish on it may address any
 * account, as the Go gateway's Kafka topic did. Publishing on it is restricted with
 * nats-server's own permissions, not by bosun.
 *
 * With JetStream, a work-queue stream keeps jobs published while no gateway runs, and
 * every instance pulls from one durable consumer, so each job is taken once. A job whose
 * node is not connected waits (redelivered) up to `RECEPTOR_CONTROLLER_JOBS_NODE_WAIT`,
 * as nodes reconnect within seconds after a gateway restart. Without JetStream, a core
 * subscription in a queue group shares the jobs among instances.
 *
 * The answer, `{"id"}` or `{"title","status","detail"}`, goes to the subject in the
 * message's `Reply-To` header, or (core subscription only) to its reply subject: in a
 * stream, the reply subject of a request receives JetStream's own acknowledgement. A
 * UUID in `Nats-Msg-Id` becomes the job's id, so a sender knows which responses answer
 * its job without waiting for the answer, and a publish retried with the same id is
 * dropped by JetStream as a duplicate.
 */
import type { ConsumerMessages, JetStreamManager, JsMsg, Msg, MsgHdrs, NatsConnection, Subscription } from 'nats';
import { ConsumerEvents, JSONCodec } from 'nats';
import { BosunError } from '../errors.ts';
import { HttpError, parseJsonObject } from './body.ts';
import type { GatewayLogger, JobRequest, ReceptorGateway } from './gateway.ts';
import { ensureJobsConsumer, ensureStream, JOBS_CONSUMER, jobsStreamConfig } from './jetstream.ts';
import { readJobRequest } from './jobRequest.ts';
import { type Problem, problemFor } from './problem.ts';

export const REPLY_TO_HEADER = 'Reply-To';
export const JOBS_QUEUE_GROUP = 'receptor-gateway';
const MSG_ID_HEADER = 'Nats-Msg-Id';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** How soon a job waiting for its node is tried again. */
const NODE_RETRY_MS = 1000;
/** Jobs pulled at a time by one instance. */
const PULL_BATCH = 16;

export interface JobsIntake {
  readonly mode: 'jetstream' | 'core';
  /** Takes no more jobs and waits for those in hand. */
  stop(): Promise<void>;
}

type Answer = { id: string } | Problem;

const codec = JSONCodec<unknown>();

/** A message's data read as a job. @throws HttpError 400 saying what is wrong */
export function readJobMessage(data: Uint8Array, msgHeaders: MsgHdrs | undefined): JobRequest {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    throw new HttpError(400, 'The job message is not UTF-8');
  }
  const job = readJobRequest(parseJsonObject(text));
  const chosenId = msgHeaders?.get(MSG_ID_HEADER);
  return chosenId && UUID.test(chosenId) ? { ...job, id: chosenId.toLowerCase() } : job;
}

function replyTarget(msgHeaders: MsgHdrs | undefined, replySubject: string | undefined): string | undefined {
  return msgHeaders?.get(REPLY_TO_HEADER) || replySubject || undefined;
}

/** Runs jobs for one gateway; the two ways of receiving them differ only in how they acknowledge. */
class JobRunner {
  readonly #inFlight = new Set<Promise<void>>();

  constructor(
    readonly nc: NatsConnection,
    readonly gateway: ReceptorGateway,
    readonly logger: GatewayLogger,
  ) {}

  /** Keeps `work` until it settles; a failure is logged, never left to crash the process. */
  track(work: Promise<void>): void {
    const settled = work.catch((error: unknown) => this.logger.error({ err: error }, 'a job from the jobs subject failed unexpectedly'));
    this.#inFlight.add(settled);
    void settled.then(() => this.#inFlight.delete(settled));
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
  }

  /** Sends the job; resolves with the answer, or with `error` when sending failed. */
  async run(data: Uint8Array, msgHeaders: MsgHdrs | undefined): Promise<{ answer: Answer; error?: unknown }> {
    try {
      const id = await this.gateway.submitJob(readJobMessage(data, msgHeaders));
      return { answer: { id } };
    } catch (error) {
      return { answer: problemFor(error), error };
    }
  }

  /** Sends the answer where the sender asked for it, and counts and logs it. */
  answer(target: string | undefined, answer: Answer): void {
    const status = 'id' in answer ? 201 : answer.status;
    this.gateway.metrics.busJobs.inc({ status: String(status) });
    if ('id' in answer) this.logger.debug({ id: answer.id }, 'job from the jobs subject sent');
    else this.logger.warn({ status, detail: answer.detail }, 'job from the jobs subject failed');
    if (target === undefined) return;
    try {
      this.nc.publish(target, codec.encode(answer));
    } catch (error) {
      this.logger.warn({ err: error, target }, 'could not answer a job from the jobs subject');
    }
  }
}

/**
 * Takes jobs from the JetStream stream through the shared durable consumer. A stream or
 * consumer that vanishes (a nats-server restarted without its JetStream storage) is made
 * again, and taking jobs starts over on it.
 */
export async function startJetStreamJobsIntake(nc: NatsConnection, jsm: JetStreamManager, gateway: ReceptorGateway, logger: GatewayLogger): Promise<JobsIntake> {
  const { jobsStream, jobsSubject, jobsNodeWaitMs } = gateway.config;
  const runner = new JobRunner(nc, gateway, logger);
  let stopped = false;
  let messages: ConsumerMessages;

  async function handle(msg: JsMsg): Promise<void> {
    const { answer, error } = await runner.run(msg.data, msg.headers);
    // Server time: the stream stamped the job when it was published.
    const age = Date.now() - msg.info.timestampNanos / 1e6;
    if ((error as BosunError | undefined)?.code === 'BOSUN_GATEWAY_NOT_CONNECTED' && age < jobsNodeWaitMs) {
      msg.nak(NODE_RETRY_MS);
      return;
    }
    runner.answer(replyTarget(msg.headers, undefined), answer);
    msg.ack();
  }

  async function consume(): Promise<void> {
    await ensureStream(jsm, jobsStreamConfig(jobsStream), jobsSubject);
    await ensureJobsConsumer(jsm, jobsStream);
    const consumer = await nc.jetstream().consumers.get(jobsStream, JOBS_CONSUMER);
    const current = await consumer.consume({ max_messages: PULL_BATCH, callback: (msg) => runner.track(handle(msg)) });
    if (stopped) {
      // Made again while the intake stopped: it takes nothing.
      await current.close();
      return;
    }
    messages = current;
    void remakeWhenLost(current);
  }

  /** nats.js keeps asking for a lost consumer, but only the gateway can make it again. */
  async function remakeWhenLost(current: ConsumerMessages): Promise<void> {
    for await (const status of await current.status()) {
      if (stopped) return;
      if (status.type !== ConsumerEvents.StreamNotFound && status.type !== ConsumerEvents.ConsumerNotFound) continue;
      try {
        current.stop();
        await consume();
        logger.warn({ stream: jobsStream, consumer: JOBS_CONSUMER }, 'the jobs stream or its consumer was gone from NATS; made it again');
        return;
      } catch (error) {
        logger.debug({ err: error }, 'cannot make the jobs stream and its consumer again yet');
      }
    }
  }

  await consume();
  logger.info({ stream: jobsStream, subject: jobsSubject, consumer: JOBS_CONSUMER }, 'taking jobs from the JetStream jobs stream');
  return {
    mode: 'jetstream',
    async stop() {
      stopped = true;
      await messages.close();
      await runner.drain();
    },
  };
}

/** Takes jobs from a core subscription in a queue group (NATS without JetStream). */
export async function startCoreJobsIntake(nc: NatsConnection, gateway: ReceptorGateway, logger: GatewayLogger): Promise<JobsIntake> {
  const runner = new JobRunner(nc, gateway, logger);
  const { jobsSubject } = gateway.config;
  const handle = async (msg: Msg): Promise<void> => {
    const { answer } = await runner.run(msg.data, msg.headers);
    runner.answer(replyTarget(msg.headers, msg.reply), answer);
  };
  const subscription: Subscription = nc.subscribe(jobsSubject, {
    queue: JOBS_QUEUE_GROUP,
    callback: (error, msg) => {
      if (!error) runner.track(handle(msg));
    },
  });
  await nc.flush();
  logger.info({ subject: jobsSubject, queue: JOBS_QUEUE_GROUP }, 'taking jobs from a core NATS subscription (no JetStream)');
  return {
    mode: 'core',
    async stop() {
      subscription.unsubscribe();
      await runner.drain();
    },
  };
}
