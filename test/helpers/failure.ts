import { expect } from 'vitest';
import { BosunError } from '../../src/errors.ts';

/** The error `promise` rejects with, checked to be a `BosunError` (a resolve fails the check). */
export async function failure(promise: Promise<unknown>): Promise<BosunError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BosunError);
  return err as BosunError;
}
