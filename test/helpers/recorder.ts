import type { Message } from '../../src/message.ts';
import type { MethodSpec } from '../../src/methods/types.ts';

/**
 * Test methods that record what ran, in order, per receiving node: the "effects" the
 * delivery tests check for exactly-once, in-order execution.
 */
export function recorder(): { methods: MethodSpec[]; runs: Map<string, string[]> } {
  const runs = new Map<string, string[]>();
  const record = (node: string, value: string) => {
    let list = runs.get(node);
    if (!list) runs.set(node, (list = []));
    list.push(value);
  };
  return {
    runs,
    methods: [
      {
        name: 'REQTestRecord',
        summary: 'records data (ordered)',
        async handler(ctx) {
          record(ctx.node, ctx.message.data ?? '');
          return { output: `ran ${ctx.message.data}` };
        },
      },
      {
        name: 'REQnTestRecord',
        summary: 'records data (unordered)',
        async handler(ctx) {
          record(ctx.node, ctx.message.data ?? '');
          return { output: `ran ${ctx.message.data}` };
        },
      },
    ],
  };
}

/**
 * A method for the sending node that keeps every reply it gets, in order: use its name as
 * the request's `replyMethod`.
 */
export function replyCollector(name = 'REQTestCollect'): { method: MethodSpec; replies: Message[] } {
  const replies: Message[] = [];
  return {
    replies,
    method: {
      name,
      summary: 'keeps replies',
      idempotent: true,
      replies: false,
      async handler(ctx) {
        replies.push(ctx.message);
        return {};
      },
    },
  };
}
