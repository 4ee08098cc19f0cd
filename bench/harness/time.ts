/**
 * Wall-clock milliseconds with sub-millisecond precision. Comparable across the processes
 * of one machine, which is what lets the harness subtract a receiver's time from a sender's.
 */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
