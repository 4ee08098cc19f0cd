import type { NodeSpec, OrderReport, WaitResult } from '../harness/protocol.ts';
import { sleep, wallNow } from '../harness/time.ts';
import type { WorkerProcess } from '../harness/workers.ts';
import type { ScenarioContext } from './types.ts';

/** What `node.status` answers (see bench/worker/nodeHost.ts). */
export interface NodeStatus {
  transport: string;
  counters: Record<string, number>;
  idle: boolean;
  senders: Array<Record<string, unknown>>;
  receivers: Array<Record<string, unknown>>;
  subscribers: Array<Record<string, unknown>>;
  errorCount: number;
  errors: Array<{ source: string; code: string; message: string }>;
}

/** Starts a worker hosting one bosun node, and waits until its transport is connected. */
export async function startNodeWorker(ctx: ScenarioContext, role: string, rep: number, spec: NodeSpec): Promise<{ worker: WorkerProcess; startedAt: number; readyAt: number }> {
  const worker = await ctx.spawn(role, rep);
  const { startedAt, readyAt } = await worker.call<{ startedAt: number; readyAt: number }>({ cmd: 'node.start', spec });
  if (spec.servers) await waitConnected(worker, spec.node, 10_000);
  return { worker, startedAt, readyAt };
}

export async function waitConnected(worker: WorkerProcess, node: string, timeoutMs: number): Promise<void> {
  const deadline = wallNow() + timeoutMs;
  for (;;) {
    const st = await worker.call<NodeStatus>({ cmd: 'node.status', node });
    if (st.transport === 'connected') return;
    if (wallNow() > deadline) throw new Error(`node ${node} not connected to NATS after ${timeoutMs} ms (transport ${st.transport})`);
    await sleep(20);
  }
}

export interface Delivered extends WaitResult {
  /** True when the sender had nothing left to send (everything ACKed) while runs were missing. */
  senderIdle: boolean;
}

/**
 * Waits until `count` runs happened on the receiver. A receiver that makes no progress
 * while its sender still has messages out is waited for (ACK timeouts and retries take
 * seconds); one that makes no progress while its sender has everything ACKed will never
 * get the rest: those messages are lost, and waiting stops.
 */
export async function waitDelivered(
  ctx: ScenarioContext,
  receiver: { worker: WorkerProcess; node: string },
  sender: { worker: WorkerProcess; node: string },
  count: number,
  options: { timeoutMs: number; source: 'counters' | 'orderCheck'; label: string },
): Promise<Delivered> {
  const deadline = wallNow() + options.timeoutMs;
  let firstAt: number | undefined;
  let lastAt: number | undefined;
  let last: WaitResult | undefined;
  let idleStalls = 0;
  for (;;) {
    const remaining = Math.max(0, deadline - wallNow());
    const w = await receiver.worker.call<WaitResult>({ cmd: 'node.waitExecuted', node: receiver.node, count, timeoutMs: remaining, stallMs: 1000, source: options.source });
    firstAt ??= w.firstAt;
    if (w.lastAt !== undefined) lastAt = w.lastAt;
    last = w;
    if (w.reached || w.reason === 'timeout' || remaining === 0) return { ...w, firstAt, lastAt, senderIdle: false };
    const st = sender.worker.exited ? undefined : await sender.worker.call<NodeStatus>({ cmd: 'node.status', node: sender.node });
    ctx.progress(`${options.label}: ${w.executed.toLocaleString('en-US')} of ${count.toLocaleString('en-US')} run; sender ${st ? (st.idle ? 'idle' : 'busy') : 'gone'}`);
    if (st?.idle) {
      // Twice in a row: the last frames may still have been on their way the first time.
      if (++idleStalls >= 2) return { ...last, firstAt, lastAt, senderIdle: true };
    } else idleStalls = 0;
  }
}

/** Error reports a node made, as a check. */
export function errorCheck(node: string, st: NodeStatus | undefined) {
  if (!st) return { label: `no error reports on ${node}`, ok: true, detail: 'process gone; not checked' };
  const first = st.errors.slice(0, 3).map((e) => `${e.code} ${e.source}: ${e.message}`);
  return {
    label: `no error reports on ${node}`,
    ok: st.errorCount === 0,
    ...(st.errorCount ? { detail: `${st.errorCount} report(s), first: ${first.join(' | ')}` } : {}),
  };
}

/** The order checker's verdict as a check: every index from `from` to `to` ran once, in order. */
export function orderCheck(order: OrderReport | undefined, from: number, to: number, ended?: { reason: string; senderIdle: boolean }) {
  const label = `every message ran exactly once, in order (indices ${from.toLocaleString('en-US')} … ${to.toLocaleString('en-US')})`;
  if (!order) return { label, ok: false, detail: 'no report from the order checker' };
  const problems: string[] = [];
  if (order.duplicates) problems.push(`${order.duplicates} ran twice or went backwards`);
  if (order.gaps) problems.push(`${order.gaps} jump(s) forward skipping ${order.skipped} message(s)`);
  if (order.expected !== to + 1) {
    const why = !ended ? '' : ended.senderIdle ? ' (the sender had everything ACKed: lost)' : ended.reason === 'timeout' ? ' (the time limit ran out first)' : ` (${ended.reason})`;
    problems.push(`stopped at index ${(order.expected - 1).toLocaleString('en-US')}: ${(to + 1 - order.expected).toLocaleString('en-US')} had not run${why}`);
  }
  return { label, ok: problems.length === 0, ...(problems.length ? { detail: problems.join('; ') } : {}) };
}

/** Frames a node received again (resends of what it had): the cost of go-back-N. */
export function duplicateFrames(st: NodeStatus): number {
  return st.receivers.reduce((sum, r) => sum + (typeof r.duplicates === 'number' ? r.duplicates : 0), 0);
}
