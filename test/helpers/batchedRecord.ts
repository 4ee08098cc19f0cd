import type { BatchSpec, MethodContext, MethodResult } from '../../src/methods/types.ts';

/** Where a batch may crash the node: after its first message's effect, or after all of them. */
export type BatchCrashPoint = 'midBatch' | 'afterApply';

export interface BatchHooks {
  /** True when the node that runs this message has crashed: its code has no more effects. */
  crashed(id: string): boolean;
  /** The harness may crash the node here; true when it did. */
  crashPoint(point: BatchCrashPoint): boolean;
}

interface LogCheckpoint {
  logs: Array<{ log: string; length: number }>;
}

/**
 * The ordered test method's effect as a batch with an exact local effect, the way file
 * appends are: every (node, sender) pair has an append-only log of message ids, a batch
 * records each log's length in its started record, and a crash is reconciled by cutting
 * the log back to that length. Messages whose number is a multiple of three make their
 * batch uncheckable (no checkpoint), so a crash of that batch is reported interrupted
 * instead: both ways a cut-short batch ends are exercised.
 */
export class BatchedRecordLogs {
  /** `<node>|<fromNode>` → ids in the order they were applied. */
  readonly logs = new Map<string, string[]>();

  /** `runs`: the recorder's runs per node, which every applied id also goes to (and a cut-back leaves). */
  constructor(private readonly runs: Map<string, string[]>) {}
  /** Batches applied, and those of more than one message. */
  readonly stats = { batches: 0, batchesOfSeveral: 0, reconciled: 0 };

  /** The batch spec of one node incarnation. */
  spec(hooks: BatchHooks): BatchSpec {
    return {
      max: 4,
      plan: async (contexts, { holder, wait }) => {
        const locks = contexts[0]!.localFiles!.locks;
        const targets = [...new Set(contexts.map(logOf))].map((l) => `log:${l}`);
        if (wait) await locks.acquire(targets, holder);
        else if (!locks.tryAcquire(targets, holder)) return undefined;
        const checkable = contexts.every((ctx) => numberOf(ctx.message.data) % 3 !== 0);
        const checkpoint: LogCheckpoint | undefined = checkable
          ? { logs: [...new Set(contexts.map(logOf))].map((log) => ({ log, length: this.logs.get(log)?.length ?? 0 })) }
          : undefined;
        return {
          checkpoint,
          apply: async () => this.#apply(contexts, hooks),
          release: () => locks.release(targets, holder),
        };
      },
      reconcile: async (checkpoint) => {
        this.stats.reconciled++;
        for (const { log, length } of (checkpoint as LogCheckpoint).logs) {
          const list = this.logs.get(log);
          if (!list || list.length <= length) continue;
          const nodeRuns = this.runs.get(log.slice(0, log.indexOf('|'))) ?? [];
          for (const id of list.splice(length).reverse()) nodeRuns.splice(nodeRuns.lastIndexOf(id), 1);
        }
      },
    };
  }

  #apply(contexts: MethodContext[], hooks: BatchHooks): Array<MethodResult> {
    const results = contexts.map((ctx) => ({ output: `ran ${ctx.message.data}` }));
    this.stats.batches++;
    if (contexts.length > 1) this.stats.batchesOfSeveral++;
    for (const [i, ctx] of contexts.entries()) {
      if (hooks.crashed(ctx.message.id)) return results;
      const log = logOf(ctx);
      let list = this.logs.get(log);
      if (!list) this.logs.set(log, (list = []));
      list.push(ctx.message.data ?? '');
      let nodeRuns = this.runs.get(ctx.node);
      if (!nodeRuns) this.runs.set(ctx.node, (nodeRuns = []));
      nodeRuns.push(ctx.message.data ?? '');
      if (i === 0 && contexts.length > 1 && hooks.crashPoint('midBatch')) return results;
    }
    hooks.crashPoint('afterApply');
    return results;
  }
}

function logOf(ctx: MethodContext): string {
  return `${ctx.node}|${ctx.message.fromNode}`;
}

function numberOf(data: string | undefined): number {
  return Number((data ?? '').replace(/\D/g, '')) || 0;
}
