/**
 * Forwarding between gateway instances over core NATS request/reply: a request to any
 * instance reaches the node wherever its socket is. Each instance answers on
 * `bosun.receptor.gateway.<instance>.<op>` by running its own `local*` method.
 */
import { type NatsConnection, type Subscription, JSONCodec } from 'nats';
import { BosunError, describeError, type ErrorCode } from '../errors.ts';
import type { GatewayConfig } from './config.ts';
import type { InstanceLink, JobRequest, PingResult, ReceptorGateway } from './gateway.ts';

/** Instances answer forwarded requests on `<prefix>.<instance>.<op>`. */
export const SUBJECT_PREFIX = 'bosun.receptor.gateway';
const CONTROL_TIMEOUT_MS = 5000;

type Reply = { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } };

interface Requests {
  job: JobRequest;
  ping: { account: string; nodeId: string };
  disconnect: { account: string; nodeId: string };
  closeDuplicate: { sessionId: string };
}
type Op = keyof Requests;

const codec = JSONCodec<unknown>();

export class NatsInstanceLink implements InstanceLink {
  readonly #nc: NatsConnection;
  readonly #config: GatewayConfig;
  readonly #subscription: Subscription;

  private constructor(nc: NatsConnection, config: GatewayConfig, subscription: Subscription) {
    this.#nc = nc;
    this.#config = config;
    this.#subscription = subscription;
  }

  /** Starts answering forwarded requests for `gateway`. */
  static async open(nc: NatsConnection, gateway: ReceptorGateway): Promise<NatsInstanceLink> {
    const { config } = gateway;
    const subscription = nc.subscribe(`${SUBJECT_PREFIX}.${config.instanceId}.*`, {
      callback: (error, msg) => {
        if (error) return;
        const op = msg.subject.slice(msg.subject.lastIndexOf('.') + 1) as Op;
        void answer(gateway, op, msg.data).then((reply) => msg.respond(codec.encode(reply)));
      },
    });
    await nc.flush();
    return new NatsInstanceLink(nc, config, subscription);
  }

  job(instance: string, job: JobRequest): Promise<string> {
    return this.#request(instance, 'job', job, this.#config.writeWaitMs + CONTROL_TIMEOUT_MS) as Promise<string>;
  }

  ping(instance: string, account: string, nodeId: string): Promise<PingResult> {
    return this.#request(instance, 'ping', { account, nodeId }, this.#config.syncPingTimeoutMs + CONTROL_TIMEOUT_MS) as Promise<PingResult>;
  }

  disconnect(instance: string, account: string, nodeId: string): Promise<boolean> {
    return this.#request(instance, 'disconnect', { account, nodeId }, CONTROL_TIMEOUT_MS) as Promise<boolean>;
  }

  async closeDuplicate(instance: string, sessionId: string): Promise<void> {
    await this.#request(instance, 'closeDuplicate', { sessionId }, CONTROL_TIMEOUT_MS);
  }

  async close(): Promise<void> {
    this.#subscription.unsubscribe();
  }

  async #request<K extends Op>(instance: string, op: K, body: Requests[K], timeout: number): Promise<unknown> {
    let reply: Reply;
    try {
      const msg = await this.#nc.request(`${SUBJECT_PREFIX}.${instance}.${op}`, codec.encode(body), { timeout });
      reply = codec.decode(msg.data) as Reply;
    } catch (error) {
      // No responders: the instance in the registry is gone, its lease not yet expired.
      if ((error as { code?: string }).code === '503') {
        throw new BosunError('BOSUN_GATEWAY_NOT_CONNECTED', `the gateway instance ${instance} holding the node is gone`);
      }
      throw new BosunError('BOSUN_GATEWAY_TIMEOUT', `gateway instance ${instance} did not answer ${op}: ${(error as Error).message}`, { cause: error });
    }
    if (!reply.ok) throw new BosunError(reply.error.code as ErrorCode, reply.error.message);
    return reply.result;
  }
}

async function answer(gateway: ReceptorGateway, op: Op, data: Uint8Array): Promise<Reply> {
  try {
    const body = codec.decode(data) as Requests[Op];
    switch (op) {
      case 'job':
        return { ok: true, result: await gateway.localJob(body as JobRequest) };
      case 'ping': {
        const { account, nodeId } = body as Requests['ping'];
        return { ok: true, result: await gateway.localPing(account, nodeId) };
      }
      case 'disconnect': {
        const { account, nodeId } = body as Requests['disconnect'];
        return { ok: true, result: await gateway.localDisconnect(account, nodeId) };
      }
      case 'closeDuplicate':
        gateway.localCloseDuplicate((body as Requests['closeDuplicate']).sessionId);
        return { ok: true, result: null };
      default:
        return { ok: false, error: { code: 'BOSUN_GATEWAY_PROTOCOL', message: `unknown gateway operation ${String(op)}` } };
    }
  } catch (error) {
    return { ok: false, error: describeError(error) };
  }
}
