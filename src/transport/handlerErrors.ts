import type { HandlerErrorReporter } from './types.ts';

/**
 * The default for a handler that throws: like Node's `EventTarget`, the error surfaces as
 * an uncaught exception on a later tick. Catching it at all matters more than where it
 * goes: thrown inside nats.js's parser it would break the connection, and thrown inside
 * the embedded bus it would abort the rest of a delivery batch.
 */
export const reportUncaught: HandlerErrorReporter = (error) => {
  setImmediate(() => {
    throw error;
  });
};
