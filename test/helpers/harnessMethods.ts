import type { MethodSpec } from '../../src/methods/types.ts';
import type { BatchCrashPoint, BatchedRecordLogs } from './batchedRecord.ts';
import { METHOD_OF, REPLY_METHOD } from './harnessTypes.ts';
import type { recorder } from './recorder.ts';

/** What one incarnation of a harness node tells its methods. */
export interface IncarnationHooks {
  /** True (and traced) when the incarnation has crashed: a crashed process runs nothing more. */
  crashed(id: string): boolean;
  /** Crashes the incarnation when `afterApply` is armed on it, right after a handler's effect. */
  afterApply(): void;
  /** Crashes a batch at `point` when armed; true when it did. */
  batchCrashPoint(point: BatchCrashPoint): boolean;
}

/**
 * The recorder's methods with the `afterApply` crash point of one incarnation, and the
 * reply method, which records per request id the data of every reply that came back.
 * `crash()` cannot stop code that is already on its way (a run whose `started` record
 * just committed), so such a run of a crashed incarnation has no effect.
 */
export function harnessMethods(
  recorded: ReturnType<typeof recorder>,
  batched: BatchedRecordLogs,
  replies: Map<string, string[]>,
  hooks: IncarnationHooks,
): MethodSpec[] {
  const { crashed } = hooks;
  const replyMethod: MethodSpec = {
    name: REPLY_METHOD,
    summary: 'records the replies that come back (unordered)',
    async handler(ctx) {
      if (crashed(ctx.message.id)) return {};
      const request = ctx.message.inReplyTo?.id ?? `?${ctx.message.id}`;
      let list = replies.get(request);
      if (!list) replies.set(request, (list = []));
      list.push(ctx.message.data ?? '');
      return {};
    },
  };
  return [
    ...recorded.methods.map((method) => ({
      ...method,
      ...(method.name === METHOD_OF.ordered ? { batch: batched.spec({ crashed, crashPoint: hooks.batchCrashPoint }) } : {}),
      handler: async (ctx: Parameters<MethodSpec['handler']>[0]) => {
        if (crashed(ctx.message.id)) return {};
        const result = await method.handler(ctx);
        hooks.afterApply();
        return result;
      },
    })),
    replyMethod,
  ];
}
