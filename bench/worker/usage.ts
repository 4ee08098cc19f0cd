import type { Usage } from '../harness/protocol.ts';
import { wallNow } from '../harness/time.ts';

const SAMPLE_EVERY_MS = 100;

/**
 * Tracks this process's peak RSS by sampling, and reports CPU time: a worker answers the
 * harness's `usage` command with it, so no process is measured from outside.
 */
export class UsageTracker {
  #peak = 0;
  readonly #timer: NodeJS.Timeout;

  constructor() {
    this.#timer = setInterval(() => this.#sample(), SAMPLE_EVERY_MS);
    this.#timer.unref();
  }

  #sample(): number {
    const rss = process.memoryUsage.rss();
    if (rss > this.#peak) this.#peak = rss;
    return rss;
  }

  now(): Usage {
    const rssBytes = this.#sample();
    const cpu = process.cpuUsage();
    // maxRSS is the kernel's high-water mark, in KiB: it sees peaks between samples.
    const kernelPeak = process.resourceUsage().maxRSS * 1024;
    return { at: wallNow(), cpuUserUs: cpu.user, cpuSystemUs: cpu.system, rssBytes, peakRssBytes: Math.max(this.#peak, kernelPeak) };
  }
}
