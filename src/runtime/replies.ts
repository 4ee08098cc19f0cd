import type { Clock } from '../clock.ts';
import type { Message, MessageDefaults } from '../message.ts';
import type { MethodSpec } from '../methods/types.ts';
import type { StoreOp } from '../store/types.ts';
import { streamIdOf } from '../delivery/frames.ts';
import type { InboxEntry } from '../delivery/SubjectReceiver.ts';
import type { Outcome } from '../delivery/Subscriber.ts';
import { auditOp } from './admin.ts';
import type { NodeCounters } from './nodeTypes.ts';
import type { Outbound } from './Outbound.ts';
import type { Outgoing } from './outgoing.ts';
import { outboundStreamOf, RELAY_METHODS, relayedMessage } from './relay.ts';
import type { Scheduler } from './Scheduler.ts';
import type { Waiters } from './waiters.ts';

export interface RepliesDeps {
  node: string;
  clock: Clock;
  defaults: MessageDefaults;
  routes?: Record<string, string>;
  auditStripData: boolean;
  outgoing: Outgoing;
  outbound: Outbound;
  scheduler: Scheduler;
  waiters: Waiters;
  counters: NodeCounters;
  /** Puts a reply a handler sends while it runs into the outbox, with the others of the same turn. */
  sendStreamed(reply: Message): Promise<void>;
  /** Tells the error kernel (and central) that a run failed. */
  report(source: string, code: string, message: string, about?: Message): void;
  reportError(source: string, error: unknown): void;
}

/**
 * The end of a run: its audit record, its reply, the messages it forwards, all written in
 * the run's own batch. Also the reply to a message, as it goes into the outbox.
 */
export class Replies {
  #emitted = 0;

  constructor(private readonly deps: RepliesDeps) {}

  /** Opens the streams a run's records will write to, so they go in the run's own batch. */
  async prepare(entry: InboxEntry): Promise<void> {
    const { node, routes, outbound } = this.deps;
    const m = entry.message;
    const streams: string[] = [];
    if (RELAY_METHODS.has(m.method)) {
      const relayed = tryRelayed(m, node);
      if (relayed) streams.push(outboundStreamOf(node, relayed));
    } else if (!m.isReply && m.replyMethod !== 'none') {
      // The reply goes back through the request's relay, or the route to its sender.
      const via = m.relayViaNode !== undefined && m.relayViaNode !== node ? m.relayViaNode : routes?.[m.fromNode];
      streams.push(outboundStreamOf(node, { toNode: m.fromNode, method: m.replyMethod, relayViaNode: via }));
    }
    for (const stream of streams) if (!outbound.senders.has(stream)) await outbound.sender(stream);
  }

  /** A run's output that goes back before it ends (a continuous command's lines). */
  async emit(request: Message, data: string): Promise<void> {
    const reply = this.replyFor(request, { ok: true, output: data }, undefined, `${request.id}.reply.${++this.#emitted}`);
    if (reply) await this.deps.sendStreamed(reply);
  }

  /** The records that close a run: its reply (if any) goes into the outbox in the same batch. */
  finishRun(entry: InboxEntry, outcome: Outcome, spec: MethodSpec | undefined): { ops: StoreOp[]; done(ok: boolean): void } {
    const { counters, outbound } = this.deps;
    const m = entry.message;
    if (outcome.ok) counters.executed++;
    else {
      counters.failedRuns++;
      this.deps.report(`inbound/${m.method}`, outcome.code, `${m.method} ${m.id} from ${m.fromNode}: ${outcome.message}`, m);
    }
    this.deps.waiters.replied(m);
    const audit = auditOp(
      this.deps.clock.now(),
      m,
      outcome.ok ? { ok: true } : { ok: false, code: outcome.code, message: outcome.message },
      this.deps.auditStripData,
      entry.json,
    );
    const records = [audit, ...this.deps.scheduler.afterRun(m)];
    const reply = this.replyFor(m, outcome, spec);
    const outgoing = [...(reply ? [reply] : []), ...(outcome.ok ? (outcome.forward ?? []) : [])];
    if (outgoing.length === 0) return { ops: records, done: nothingToDo };
    const ops = [...records];
    const committed: Array<(ok: boolean) => void> = [];
    const unopened: Message[] = [];
    for (const message of outgoing) {
      const stream = streamIdOf(this.deps.node, message.toNode, message.method);
      const sender = outbound.senders.get(stream);
      if (!sender) {
        unopened.push(message);
        continue;
      }
      const staged = sender.stage(message);
      ops.push(...outbound.recordOps(stream), sender.outboxOp(staged));
      committed.push((ok) => {
        if (!ok) return sender.failed([staged.seq]);
        outbound.recorded(stream);
        sender.committed([staged]);
      });
    }
    return {
      ops,
      done: (ok) => {
        for (const c of committed) c(ok);
        // The subscriber prepares (opens) these streams just before it asks for the
        // records, so none should be missing; should one be, it is opened now and its
        // message accepted after the run is recorded, which a crash in between loses.
        if (ok && unopened.length > 0) void outbound.enqueue(unopened).catch((e) => this.deps.reportError('outbound', e));
      },
    };
  }

  /** The reply to `m` as it goes into the outbox (sealed, routed, cut to fit a frame), if it gets one. */
  replyFor(m: Message, outcome: Outcome, spec: MethodSpec | undefined, id = `${m.id}.reply`): Message | undefined {
    if (m.isReply || m.replyMethod === 'none') return undefined;
    if (outcome.ok && (spec?.replies === false || outcome.output === undefined)) return undefined;
    const { node, clock, outgoing } = this.deps;
    const data = outcome.ok ? outcome.output! : `error ${outcome.code}: ${outcome.message}${outcome.output ? `\n${outcome.output}` : ''}`;
    const fileName = m.fileName ?? `${m.method}.result`;
    const reply = (data: string, error: Message['error']): Message =>
      outgoing.withRoute({
        id,
        fromNode: node,
        toNode: m.fromNode,
        method: m.replyMethod,
        methodArgs: m.replyMethodArgs,
        data,
        replyMethod: 'none',
        replyMethodArgs: [],
        ACKTimeout: m.replyACKTimeout ?? m.ACKTimeout,
        retries: error ? errorReplyRetries(m.replyRetries ?? m.retries) : (m.replyRetries ?? m.retries),
        retryWait: m.retryWait,
        methodTimeout: this.deps.defaults.methodTimeout,
        ...(m.directory !== undefined ? { directory: m.directory } : {}),
        fileName: error ? `${fileName}.error` : fileName,
        isReply: true,
        ...(error ? { error } : {}),
        inReplyTo: { id: m.id, method: m.method, fromNode: m.fromNode, toNode: m.toNode },
        acceptedAt: clock.now(),
        // A request that came through a relay is answered through it.
        ...(m.relayViaNode !== undefined && m.relayViaNode !== node ? { relayViaNode: m.relayViaNode } : {}),
      });
    // A frame larger than the broker takes would be resent forever and hold up its stream:
    // the reply carries the beginning and says so.
    return outgoing.fitted(reply(data, outcome.ok ? undefined : { code: outcome.code, message: outcome.message }), (size) =>
      reply('', { code: 'BOSUN_TOO_LARGE', message: `the output is ${size} bytes, more than a frame to ${m.fromNode} carries; the reply holds its beginning` }),
    );
  }
}

/**
 * Resends of an error reply, at most: whoever sent the request may not exist (a name made
 * up on an open broker) or not take replies, and a refusal must not cost its node forever.
 */
export const ERROR_REPLY_MAX_RETRIES = 10;

function errorReplyRetries(asked: number): number {
  return asked < 0 ? ERROR_REPLY_MAX_RETRIES : Math.min(asked, ERROR_REPLY_MAX_RETRIES);
}

/** A run without outgoing messages has nothing to do once recorded; one function serves them all. */
function nothingToDo(): void {}

/** The message a relay envelope carries, or undefined when it is unsound (its run will say why). */
function tryRelayed(envelope: Message, node: string): Message | undefined {
  try {
    return relayedMessage(envelope, node);
  } catch {
    return undefined;
  }
}
