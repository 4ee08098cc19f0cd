import type { MethodSpec } from './types.ts';

/**
 * Does nothing and sends nothing back: for messages whose delivery is the point (a
 * liveness probe, a load test) and for measuring the delivery path on its own.
 */
function noneMethod(name: 'REQNone' | 'REQnNone'): MethodSpec {
  return {
    name,
    summary: 'Do nothing; only the delivery happens (REQnNone: unordered).',
    idempotent: true,
    inline: true,
    replies: false,
    batch: {
      max: 1024,
      async plan(contexts) {
        return { apply: async () => contexts.map(() => ({})), release: () => {} };
      },
    },
    async handler() {
      return {};
    },
  };
}

export const REQNone = noneMethod('REQNone');
export const REQnNone = noneMethod('REQnNone');
