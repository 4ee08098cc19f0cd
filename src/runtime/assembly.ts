import pino from 'pino';
import { ErrorKernel } from '../../supervisors/errorKernel.ts';
import { systemClock } from '../clock.ts';
import { DEFAULT_MESSAGE_DEFAULTS, type Message } from '../message.ts';
import { builtinMethods, MethodRegistry } from '../methods/index.ts';
import type { MethodSpec } from '../methods/types.ts';
import { DurableTimers } from '../delivery/DurableTimers.ts';
import type { SignedFrame } from '../delivery/frames.ts';
import { Acceptor } from './accept.ts';
import { LocalFiles } from '../methods/LocalFiles.ts';
import { CentralLink } from './central.ts';
import { CoalescedEnqueue } from './CoalescedEnqueue.ts';
import { PlugIns } from './children/plugIns.ts';
import { StoreChild } from './children/store.ts';
import { FrameAuth } from './FrameAuth.ts';
import { Inbound } from './Inbound.ts';
import { newCounters, type AcceptOptions, type NodeOptions, type NodeStatus } from './nodeTypes.ts';
import { OperatorApi } from './operatorApi.ts';
import { Outbound } from './Outbound.ts';
import { Outgoing } from './outgoing.ts';
import { Replies } from './replies.ts';
import { NodeReports } from './reports.ts';
import { RunContext, type RunServices } from './RunContext.ts';
import { registryData } from './registryData.ts';
import { Scheduler } from './Scheduler.ts';
import { Waiters } from './waiters.ts';

/** The parts of a node, wired together; `BosunNode` holds them and starts its tree over them. */
export type NodeParts = ReturnType<typeof assembleNode>;

/**
 * Builds a node's parts and wires each to the others it needs, as explicit dependencies:
 * nothing here does work of its own. `status` is the node's life, which several parts
 * consult (an input is refused once the node drains).
 */
export function assembleNode(options: NodeOptions, status: () => NodeStatus) {

  const name = options.node;
  const central = options.central ?? 'central';
  const store = options.store;
  const transport = options.transport;
  const clock = options.clock ?? systemClock;
  const log = (options.logger ?? pino({ level: 'silent' })).child({ node: options.node });
  const filesDir = options.filesDir;
  const defaults = { ...DEFAULT_MESSAGE_DEFAULTS, ...options.defaults };
  const timers = new DurableTimers(store, clock);
  const switchedOn = (m: MethodSpec) => !options.enabledMethods || options.enabledMethods.includes(m.name);
  const builtins = builtinMethods();
  const methods = new MethodRegistry([...builtins.filter(switchedOn), ...(options.methods ?? [])]);
  const outgoing = new Outgoing({ node: name, clock, transport, guard: options.guard, routes: options.routes });
  const accept = (input: unknown, acceptOptions?: AcceptOptions) => acceptor.accept(input, acceptOptions);
  const storeChild = new StoreChild(store);
  const waiters = new Waiters();
  /** The files this node's methods hold open and locked; closed when it stops. */
  const localFiles = new LocalFiles();
  const counters = newCounters();
  const centralLink = new CentralLink({
    node: name,
    central,
    clock,
    filesDir,
    methods,
    helloInFlight: (stream) => outbound.senders.get(stream)?.drained === false,
    helloIntervalSeconds: options.helloIntervalSeconds ?? 30,
    status,
    accept,
    maxFrameBytes: () => outgoing.maxFrameBytes(),
    server: () => transport.server,
    ...(options.onError ? { onError: options.onError } : {}),
  });
  const errorKernel = new ErrorKernel(log, [(report) => centralLink.forward(report)]);
  const reports = new NodeReports({
    node: name,
    kernel: errorKernel,
    counters,
    transportKind: transport.kind,
    status,
    storeFailed: (error) => storeChild.failed(error),
  });
  const plugIns = new PlugIns({ clock, errors: errorKernel });
  const windowSize = options.windowSize ?? 1000;
  const publish = (subject: string, payload: Uint8Array) => transport.publish(subject, payload);
  const frames = new FrameAuth(options.guard, clock, (source, code, message) => reports.report(source, code, message));
  const sealFrame = <F extends SignedFrame>(frame: F): F => frames.seal(frame);
  const outbound = new Outbound({
    node: name,
    store,
    clock,
    timers,
    errors: errorKernel,
    publish,
    sealFrame,
    ...(options.guard?.signDelivery ? { signDelivery: options.guard.signDelivery.bind(options.guard) } : {}),
    maxFrameBytes: () => outgoing.maxFrameBytes(),
    windowSize,
    onAcked: (messages) => {
      counters.acked += messages.length;
      waiters.acked(messages);
    },
    onDead: (message, attempts, tooLarge) => reports.deadLetter(message, attempts, tooLarge),
    onError: (e) => reports.error('store', e),
  });
  const acceptor = new Acceptor({
    node: name,
    clock,
    defaults,
    store,
    outgoing,
    counters,
    ...(options.acceptDedupWindowMs !== undefined ? { acceptDedupWindowMs: options.acceptDedupWindowMs } : {}),
    status,
    enqueue: (messages, alsoWrite) => outbound.enqueue(messages, alsoWrite),
  });
  const scheduler = new Scheduler(
    store,
    clock,
    timers,
    (entry) => inbound.subscriber(entry.message.method).enqueue([entry]),
    (entry, started) => inbound.resume(entry, started),
  );
  const replies = new Replies({
    node: name,
    clock,
    defaults,
    ...(options.routes ? { routes: options.routes } : {}),
    auditStripData: options.auditStripData ?? false,
    outgoing,
    outbound,
    scheduler,
    waiters,
    counters,
    sendStreamed: (reply) => streamedReplies.send(reply),
    report: (source, code, message, about) => reports.report(source, code, message, about),
    reportError: (source, e) => reports.error(source, e),
  });
  /** Replies handlers send while they run, written to the outbox a turn's worth at a time. */
  const streamedReplies = new CoalescedEnqueue((replies) => outbound.enqueue(replies));
  const inbound = new Inbound({
    node: name,
    filesDir,
    localFiles,
    store,
    clock,
    log,
    methods,
    windowSize,
    concurrency: options.unorderedConcurrency ?? 32,
    errors: errorKernel,
    publish,
    sealFrame,
    context: (entry, signal) => new RunContext(runServices, entry.message, signal),
    finish: (entry, outcome, spec) => replies.finishRun(entry, outcome, spec),
    onError: (source, e) => reports.error(source, e),
    switchedOff: builtins.filter((m) => !switchedOn(m) && !methods.has(m.name)),
    prepare: (entry) => replies.prepare(entry),
    // The guard learns how the message came: scheduled re-runs, made here, are sequence 0
    // of their stream, which no frame from the wire can be.
    ...(options.guard ? { authorize: (m: Message, delivery: { stream: string; seq: number }) => options.guard!.check(m, delivery) } : {}),
  });
  const registry = registryData(store);
  const runServices: RunServices = {
    node: name,
    central,
    filesDir,
    localFiles,
    registry,
    operator: inbound.operator,
    log,
    // A method's own messages are not a client's: one that sends an id again means it
    // (a copy resends a chunk under its id after a restart), so ids are not deduplicated.
    send: async (message) => (await acceptor.acceptNew(Array.isArray(message) ? message : [message], { recordAccepted: () => [] })).flat() as never,
    emit: (request, data) => replies.emit(request, data),
    ...(name === central ? { recordHello: (node: string, at: number, data: string | undefined) => centralLink.recordHello(node, at, data) } : {}),
  };
  const operatorApi = new OperatorApi({
    node: name,
    store,
    clock,
    registry,
    outbound,
    status,
    acceptNew: (items, more) => acceptor.acceptNew(items, more),
  });
  store.onCorrupt = (key, error) => reports.corrupt(key, error);
  return {
    name,
    central,
    store,
    transport,
    clock,
    log,
    filesDir,
    methods,
    errorKernel,
    timers,
    outbound,
    inbound,
    scheduler,
    frames,
    acceptor,
    replies,
    centralLink,
    operatorApi,
    waiters,
    localFiles,
    storeChild,
    plugIns,
    counters,
    reports,
  };
}
