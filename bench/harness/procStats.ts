import { readFileSync } from 'node:fs';

/**
 * CPU time and RSS of a process that cannot report them itself (nats-server), read from
 * Linux's /proc. Elsewhere the figures are simply absent.
 */
export interface ProcSample {
  cpuUs: number;
  rssBytes: number;
}

const TICKS_PER_SECOND = 100;

export function readProc(pid: number): ProcSample | undefined {
  try {
    // Fields after the command name, which is in parentheses and may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    return { cpuUs: ((utime + stime) * 1e6) / TICKS_PER_SECOND, rssBytes: rssKb * 1024 };
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS while a measurement runs, keeping the peak. */
export class ProcWatcher {
  readonly #pid: number;
  readonly #timer: NodeJS.Timeout;
  readonly #start: ProcSample | undefined;
  #peakRss = 0;

  constructor(pid: number, everyMs = 200) {
    this.#pid = pid;
    this.#start = readProc(pid);
    this.#peakRss = this.#start?.rssBytes ?? 0;
    this.#timer = setInterval(() => this.#sample(), everyMs);
    this.#timer.unref();
  }

  #sample(): ProcSample | undefined {
    const s = readProc(this.#pid);
    if (s && s.rssBytes > this.#peakRss) this.#peakRss = s.rssBytes;
    return s;
  }

  /** CPU µs used since the watch began, and the peak RSS seen. */
  finish(): { cpuUs: number; peakRssBytes: number } | undefined {
    clearInterval(this.#timer);
    const end = this.#sample();
    if (!this.#start || !end) return undefined;
    return { cpuUs: end.cpuUs - this.#start.cpuUs, peakRssBytes: this.#peakRss };
  }
}
