import { closeSync, openSync, writeSync } from 'node:fs';
import { AckPolicy, connect, StorageType, type NatsConnection } from 'nats';
import { wallNow } from '../harness/time.ts';

/**
 * What a user would build instead of bosun for "append these lines on that machine":
 * a JetStream stream with file storage, a durable consumer with explicit ACKs, and a
 * consumer process that appends each message's line to a file. The `jetstream-append`
 * baseline.
 */
let connection: Promise<NatsConnection> | undefined;

function nats(servers: string): Promise<NatsConnection> {
  connection ??= connect({ servers, name: `bench-js-${process.pid}` });
  return connection;
}

export async function closeJetStream(): Promise<void> {
  if (!connection) return;
  const nc = await connection;
  connection = undefined;
  await nc.drain().catch(() => {});
}

/** Creates the stream (file storage) and its durable consumer (explicit ACK), afresh. */
export async function setUpStream(servers: string, stream: string, subject: string): Promise<void> {
  const jsm = await (await nats(servers)).jetstreamManager();
  await jsm.streams.delete(stream).catch(() => false);
  await jsm.streams.add({ name: stream, subjects: [subject], storage: StorageType.File });
  await jsm.consumers.add(stream, { durable_name: 'appender', ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000 });
}

/** Publishes `count` lines (`0`, `1`, …), each publish confirmed by JetStream, `window` unconfirmed at most. */
export async function publishLines(servers: string, subject: string, count: number, window: number): Promise<{ count: number; startedAt: number; endedAt: number }> {
  const js = (await nats(servers)).jetstream();
  const encoder = new TextEncoder();
  const startedAt = wallNow();
  let next = 0;
  const lane = async () => {
    while (next < count) await js.publish(subject, encoder.encode(String(next++)));
  };
  await Promise.all(Array.from({ length: window }, lane));
  return { count, startedAt, endedAt: wallNow() };
}

/** Consumes `count` messages: appends each one's line to `file`, then ACKs it. */
export async function consumeToFile(servers: string, stream: string, file: string, count: number): Promise<{ count: number; firstAt: number; lastAt: number }> {
  const js = (await nats(servers)).jetstream();
  const consumer = await js.consumers.get(stream, 'appender');
  const out = openSync(file, 'a');
  const decoder = new TextDecoder();
  let received = 0;
  let firstAt = 0;
  try {
    while (received < count) {
      const messages = await consumer.fetch({ max_messages: Math.min(1000, count - received), expires: 2000 });
      for await (const m of messages) {
        if (received === 0) firstAt = wallNow();
        writeSync(out, `${decoder.decode(m.data)}\n`);
        m.ack();
        received++;
      }
    }
  } finally {
    closeSync(out);
  }
  return { count: received, firstAt, lastAt: wallNow() };
}
