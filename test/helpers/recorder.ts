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
