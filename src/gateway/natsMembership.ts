/**
 * Whether the gateway is on NATS, and its way there. The gateway always starts on its
 * local registry and log; joining NATS moves it to the shared registry (with the sessions
 * it holds), starts the responses forwarder from its stored cursor and the jobs intake.
 *
 * The node's own NATS is a default, not a demand: when it cannot be used at start (down,
 * or the login may not use what the gateway needs) the gateway warns once, runs locally,
 * and keeps trying in the background with backoff, as the node's own transport does,
 * until it joins. NATS named by `RECEPTOR_CONTROLLER_NATS_URL`, or handed in, must work at
 * start. Once joined, nats.js reconnects by itself and each part resumes on its own:
 * leases are renewed (or written again once expired), the forwarder retries from its
 * cursor, subscriptions and the jobs consumer are renewed by the client, and a bucket,
 * stream or consumer lost with the server's storage is made again.
 */
import type { ErrorSink } from '../../supervisors/types.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import { BosunError, describeError } from '../errors.ts';
import type { Store } from '../store/types.ts';
import { Backoff } from '../transport/Backoff.ts';
import type { GatewayLogger, ReceptorGateway } from './gateway.ts';
import { type NatsBackend, type NatsTarget, openNatsBackend } from './natsBackend.ts';
import type { NatsKvRegistry } from './natsRegistry.ts';
import { readForwardedCursor } from './responsesStream.ts';

/** Pauses between attempts to join the node's NATS after a failed start. */
const JOIN_RETRY = { minMs: 500, maxMs: 15_000 };

export type NatsMembershipState =
  | { kind: 'off' }
  | { kind: 'waiting' }
  | { kind: 'joined'; backend: NatsBackend }
  | { kind: 'closed' };

export interface NatsMembershipDeps {
  /** Where NATS is; none: the gateway stays off NATS. */
  target: NatsTarget | undefined;
  gateway: ReceptorGateway;
  store: Store;
  clock: Clock;
  logger: GatewayLogger;
  errors: ErrorSink;
}

export class NatsMembership {
  readonly #deps: NatsMembershipDeps;
  readonly #backoff = new Backoff(JOIN_RETRY);
  #state: NatsMembershipState;
  /** The cursor stored at start: what a later join will send from, so retention keeps what lies past it. */
  #storedCursor = 0;
  #timer: TimerHandle | undefined;
  #attempt: Promise<void> | undefined;
  #stopping = false;
  /** The last configuration problem reported, so a retry that meets it again does not repeat it. */
  #reported: string | undefined;

  private constructor(deps: NatsMembershipDeps) {
    this.#deps = deps;
    this.#state = deps.target ? { kind: 'waiting' } : { kind: 'off' };
  }

  /**
   * Joins NATS now if there is one to join. The node's NATS failing is reported and
   * retried in the background; any other failure ends the start.
   * @throws BosunError `BOSUN_BAD_CONFIG`, or `BOSUN_TRANSPORT` for NATS that must work
   */
  static async start(deps: NatsMembershipDeps): Promise<NatsMembership> {
    const membership = new NatsMembership(deps);
    const { target } = deps;
    if (!target) return membership;
    membership.#storedCursor = await readForwardedCursor(deps.store, deps.gateway.config.responsesStream);
    try {
      membership.#state = { kind: 'joined', backend: await membership.#join(target) };
    } catch (error) {
      const optional = target.kind === 'servers' && target.from === 'node';
      if (!optional || (error instanceof BosunError && error.code === 'BOSUN_BAD_CONFIG')) throw error;
      deps.logger.warn(
        { err: error, servers: target.servers },
        "the gateway cannot use the node's NATS yet: it runs on its local registry and responses log, and keeps trying to join NATS",
      );
      membership.#retryLater();
    }
    return membership;
  }

  get state(): NatsMembershipState {
    return this.#state;
  }

  /**
   * The last log seq JetStream holds, for retention: the live forwarder's cursor, or the
   * stored one while NATS is still to be joined; `undefined` when no JetStream will take
   * the responses (off NATS, or a NATS without JetStream).
   */
  forwardedThrough(): number | undefined {
    switch (this.#state.kind) {
      case 'off':
        return undefined;
      case 'joined':
        return this.#state.backend.jetStream ? (this.#state.backend.forwardedThrough() ?? this.#storedCursor) : undefined;
      default:
        return this.#storedCursor;
    }
  }

  /**
   * Stops trying to join (an attempt under way finishes first) and takes no more jobs
   * from the jobs subject: the first step of a close, so no job arrives mid-shutdown.
   */
  async stopIntake(): Promise<void> {
    this.#stopping = true;
    this.#timer?.cancel();
    await this.#attempt;
    if (this.#state.kind === 'joined') await this.#state.backend.stopIntake();
  }

  /** Stops trying to join, or leaves NATS. */
  async close(): Promise<void> {
    await this.stopIntake();
    const previous = this.#state;
    this.#state = { kind: 'closed' };
    if (previous.kind === 'joined') await previous.backend.close();
  }

  /** Connects, then puts the gateway on NATS; nothing of a failed join stays behind. */
  async #join(target: NatsTarget): Promise<NatsBackend> {
    const { gateway, store, clock, logger, errors } = this.#deps;
    const backend = await openNatsBackend(gateway.config, target, logger);
    let registry: NatsKvRegistry | undefined;
    try {
      if (gateway.config.registrar === 'nats') {
        registry = await backend.openRegistry(clock);
        // Only a shared registry can name another instance to forward to.
        gateway.link = await backend.openLink(gateway);
      }
      await backend.startStreams(gateway, store, errors);
    } catch (error) {
      await gateway.link?.close();
      gateway.link = undefined;
      await registry?.close();
      await backend.close();
      throw error;
    }
    if (registry) await gateway.moveRegistry(registry);
    return backend;
  }

  #retryLater(): void {
    if (this.#stopping || this.#state.kind !== 'waiting') return;
    this.#timer = this.#deps.clock.setTimer(this.#backoff.next(), () => {
      this.#attempt = this.#tryJoin();
    });
  }

  async #tryJoin(): Promise<void> {
    const { target, logger, errors } = this.#deps;
    if (this.#stopping || this.#state.kind !== 'waiting' || !target) return;
    let backend: NatsBackend;
    try {
      backend = await this.#join(target);
    } catch (error) {
      const { code, message } = describeError(error);
      if (code === 'BOSUN_BAD_CONFIG' && message !== this.#reported) {
        // NATS is there but does not suit the gateway (a stream made by hand, say): an error, retried until it is fixed.
        this.#reported = message;
        errors.report({ source: 'receptor-gateway', severity: 'error', code, message: `the gateway cannot join NATS: ${message}`, error });
      } else {
        logger.debug({ err: error }, "the gateway cannot use the node's NATS yet");
      }
      this.#retryLater();
      return;
    }
    // Set even when a close began meanwhile: the close waits for this attempt, then leaves NATS.
    this.#state = { kind: 'joined', backend };
    const { config } = this.#deps.gateway;
    logger.info({ registrar: config.registrar, jetStream: backend.jetStream }, "the gateway joined the node's NATS");
  }
}
