/**
 * Polls `probe` (which may be async) every `pollMs` until it gives a value other than
 * undefined or false, and returns that value; throws after `ms`.
 */
export async function until<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 10_000,
  what = 'a condition',
  pollMs = 5,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
