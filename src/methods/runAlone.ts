import type { BatchSpec, MethodContext, MethodResult } from './types.ts';

/**
 * Runs one message through a batch spec (plan, apply, release): the `handler` of a
 * method that batches, so that one message alone does what it does in a batch.
 */
export async function runAlone(batch: BatchSpec, ctx: MethodContext): Promise<MethodResult> {
  const planned = (await batch.plan([ctx], { holder: {}, wait: true }))!;
  try {
    const [result] = await planned.apply();
    if (result instanceof Error) throw result;
    return result ?? {};
  } finally {
    planned.release();
  }
}
