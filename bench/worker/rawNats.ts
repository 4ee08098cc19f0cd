import { connect, type NatsConnection } from 'nats';
import { wallNow } from '../harness/time.ts';

/**
 * Plain nats.js, no bosun: the baselines every bosun figure is compared with. One
 * connection per worker, opened on first use.
 */
let connection: Promise<NatsConnection> | undefined;

function nats(servers: string): Promise<NatsConnection> {
  connection ??= connect({ servers, name: `bench-raw-${process.pid}` });
  return connection;
}

export async function closeRawNats(): Promise<void> {
  if (!connection) return;
  const nc = await connection;
  connection = undefined;
  await nc.drain().catch(() => {});
}

/** Answers every request on `subject` with an empty reply. */
export async function responder(servers: string, subject: string): Promise<void> {
  const nc = await nats(servers);
  const empty = new Uint8Array(0);
  nc.subscribe(subject, { callback: (_err, m) => m.respond(empty) });
  await nc.flush();
}

/** Answers every message on `subject` with one small publish on `<subject>.ack`. */
export async function echo(servers: string, subject: string): Promise<void> {
  const nc = await nats(servers);
  const ack = new Uint8Array(8);
  const ackSubject = `${subject}.ack`;
  nc.subscribe(subject, { callback: () => nc.publish(ackSubject, ack) });
  await nc.flush();
}

/** `count` requests with up to `window` in flight; times the first send to the last reply. */
export async function requestWindow(servers: string, subject: string, count: number, window: number, payloadBytes: number): Promise<{ count: number; startedAt: number; endedAt: number }> {
  const nc = await nats(servers);
  const payload = new Uint8Array(payloadBytes);
  const startedAt = wallNow();
  await new Promise<void>((resolve, reject) => {
    let sent = 0;
    let done = 0;
    const launch = () => {
      sent++;
      nc.request(subject, payload, { timeout: 30_000 }).then(() => {
        done++;
        if (done === count) resolve();
        else if (sent < count) launch();
      }, reject);
    };
    for (let i = 0; i < Math.min(window, count); i++) launch();
  });
  return { count, startedAt, endedAt: wallNow() };
}

/**
 * Publishes `count` messages with up to `window` unanswered, each answered by the echo
 * role with one publish: delivery with an ACK per message and no persistence anywhere.
 */
export async function publishEcho(servers: string, subject: string, count: number, window: number, payloadBytes: number): Promise<{ count: number; startedAt: number; endedAt: number }> {
  const nc = await nats(servers);
  const payload = new Uint8Array(payloadBytes);
  let sent = 0;
  let acked = 0;
  let startedAt = 0;
  await new Promise<void>((resolve) => {
    nc.subscribe(`${subject}.ack`, {
      callback: () => {
        acked++;
        if (acked === count) resolve();
        else if (sent < count) {
          sent++;
          nc.publish(subject, payload);
        }
      },
    });
    void nc.flush().then(() => {
      startedAt = wallNow();
      for (; sent < Math.min(window, count); sent++) nc.publish(subject, payload);
    });
  });
  return { count, startedAt, endedAt: wallNow() };
}

/** Sequential requests, one at a time; the round-trip time of each, in ms. */
export async function latency(servers: string, subject: string, count: number, warmup: number, payloadBytes: number): Promise<number[]> {
  const nc = await nats(servers);
  const payload = new Uint8Array(payloadBytes);
  for (let i = 0; i < warmup; i++) await nc.request(subject, payload, { timeout: 10_000 });
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await nc.request(subject, payload, { timeout: 10_000 });
    out.push(performance.now() - t);
  }
  return out;
}
