import { spawn } from 'node:child_process';
import { BosunError } from '../errors.ts';
import { DEFAULT_MAX_LINE_CHARS, LineSplitter } from './lineSplitter.ts';

export const DEFAULT_MAX_OUTPUT_BYTES = 4 * 1024 * 1024;
/** Time a process group gets between SIGTERM and SIGKILL. */
export const DEFAULT_KILL_GRACE_MS = 2000;
/** Lines waiting for `onLine` beyond which the command's pipes are paused. */
const LINE_QUEUE_HIGH_WATER = 256;

export type OutputStream = 'stdout' | 'stderr';

export interface RunOptions {
  /** Stops the command: its whole process group is killed. */
  signal?: AbortSignal;
  /** Kills the process group after this long; undefined runs without a limit. */
  timeoutMs?: number;
  /** Output beyond this is dropped (the command keeps running) and a notice appended. */
  maxOutputBytes?: number;
  killGraceMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Takes the output line by line (without the newline; a final line without one is
   * passed too) instead of collecting it: `output` stays empty. Lines arrive one at a
   * time in arrival order; when the callback returns a promise, the next line waits for
   * it, and the command's pipes are paused while too many lines wait, so a chatty command
   * is slowed down rather than its lines dropped. A rejected promise kills the command
   * and `runCommand` rejects with that error (unless the command was being stopped
   * already: then the remaining lines are dropped).
   */
  onLine?: (line: string, stream: OutputStream) => void | Promise<void>;
  /** For `onLine`: longer lines are cut into pieces of this many characters. */
  maxLineChars?: number;
}

export interface RunResult {
  /** Null when a signal ended the command. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr interleaved in arrival order. */
  output: string;
  timedOut: boolean;
  /** `signal` fired before the command finished. */
  aborted: boolean;
  truncated: boolean;
}

/**
 * Runs `argv` directly, with no shell in between, so arguments are never interpreted.
 *
 * The command leads its own process group; a timeout or abort signals the whole group
 * (SIGTERM, then SIGKILL after a grace period), so children the command started in the
 * background go too. As with `execFile`, the result comes once the command has exited
 * and its output pipes have closed; a background child that holds them open keeps the
 * command running until it exits or the timeout fires.
 *
 * A missing or non-executable program is a `BOSUN_METHOD_FAILED` error; everything the
 * command itself does (exit codes, signals) is reported in the result.
 */
export function runCommand(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { signal, timeoutMs, maxOutputBytes = DEFAULT_MAX_OUTPUT_BYTES, killGraceMs = DEFAULT_KILL_GRACE_MS } = options;
  const [program, ...args] = argv;
  if (program === undefined || program === '') {
    return Promise.reject(new BosunError('BOSUN_BAD_MESSAGE', 'no command given'));
  }
  if (signal?.aborted) {
    return Promise.resolve({ exitCode: null, signal: null, output: '', timedOut: false, aborted: true, truncated: false });
  }

  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(program, args, {
      shell: false,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      ...(options.env !== undefined ? { env: options.env } : {}),
    });

    const chunks: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    let timedOut = false;
    let aborted = false;
    let killing = false;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;

    const collect = (chunk: Buffer): void => {
      // Past the cap the pipe is still drained, or the command would block on a full pipe.
      if (kept >= maxOutputBytes) {
        truncated = true;
        return;
      }
      const room = maxOutputBytes - kept;
      if (chunk.length > room) {
        truncated = true;
        chunk = chunk.subarray(0, room);
      }
      chunks.push(chunk);
      kept += chunk.length;
    };
    const lines = options.onLine ? lineFeed(options.onLine, options.maxLineChars ?? DEFAULT_MAX_LINE_CHARS, child) : undefined;
    if (lines) {
      child.stdout.on('data', (chunk: Buffer) => lines.push(chunk, 'stdout'));
      child.stderr.on('data', (chunk: Buffer) => lines.push(chunk, 'stderr'));
      lines.onFailure(() => {
        if (!killing) killGroup();
      });
    } else {
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
    }

    const signalGroup = (sig: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // ESRCH: the group is already gone; nothing else can be done about a failed kill.
      }
    };
    const killGroup = (): void => {
      if (killing) return;
      killing = true;
      // Paused pipes would keep the command from closing; what is left is drained now.
      lines?.resume();
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), killGraceMs);
    };

    const timeoutTimer =
      timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            killGroup();
          }, Math.max(0, timeoutMs))
        : undefined;
    const onAbort = (): void => {
      aborted = true;
      killGroup();
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    const cleanUp = (): void => {
      settled = true;
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      signal?.removeEventListener('abort', onAbort);
    };

    child.once('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      cleanUp();
      if (err.code === 'ENOENT') reject(new BosunError('BOSUN_METHOD_FAILED', `command not found: ${program}`, { cause: err }));
      else if (err.code === 'EACCES') reject(new BosunError('BOSUN_METHOD_FAILED', `command not executable: ${program}`, { cause: err }));
      else reject(new BosunError('BOSUN_METHOD_FAILED', `could not start ${program}: ${err.message}`, { cause: err }));
    });

    child.once('close', (exitCode: number | null, exitSignal: NodeJS.Signals | null) => {
      if (settled) return;
      cleanUp();
      // A group member that ignored SIGTERM but closed its output would outlive the
      // grace timer cleared above; once we are killing, nothing of the group stays.
      if (killing) signalGroup('SIGKILL');
      let output = Buffer.concat(chunks).toString('utf8');
      if (truncated) output += `\n[bosun: output truncated after ${maxOutputBytes} bytes]`;
      const result = { exitCode, signal: exitSignal, output, timedOut, aborted, truncated };
      if (!lines) return resolve(result);
      lines.end().then(
        (ended) => (ended.failed && !timedOut && !aborted ? reject(ended.failure) : resolve(result)),
        reject,
      );
    });
  });
}

interface LineFeed {
  push(chunk: Buffer, stream: OutputStream): void;
  /** Lets paused pipes flow again (the command is being killed). */
  resume(): void;
  /** Called once if `onLine` fails. */
  onFailure(listener: () => void): void;
  /** Flushes unfinished lines and waits for every line to be taken. */
  end(): Promise<{ failed: boolean; failure?: unknown }>;
}

/**
 * Splits both pipes into lines and hands them to `onLine` one at a time, in arrival
 * order, pausing the pipes while the queue is long.
 */
function lineFeed(
  onLine: (line: string, stream: OutputStream) => void | Promise<void>,
  maxLineChars: number,
  child: { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream },
): LineFeed {
  const splitters = { stdout: new LineSplitter(maxLineChars), stderr: new LineSplitter(maxLineChars) };
  const queue: Array<[string, OutputStream]> = [];
  let pumping: Promise<void> | undefined;
  let paused = false;
  let draining = false;
  let failure: unknown;
  let failed = false;
  let failureListener: (() => void) | undefined;

  const setPaused = (pause: boolean): void => {
    if (pause === paused) return;
    paused = pause;
    for (const pipe of [child.stdout, child.stderr]) {
      if (pause) pipe.pause();
      else pipe.resume();
    }
  };

  const pump = async (): Promise<void> => {
    while (queue.length > 0) {
      const [line, stream] = queue.shift()!;
      if (failed) continue;
      try {
        await onLine(line, stream);
      } catch (e) {
        failed = true;
        failure = e;
        queue.length = 0;
        failureListener?.();
      }
      if (!draining && queue.length < LINE_QUEUE_HIGH_WATER / 4) setPaused(false);
    }
  };
  const kick = (): void => {
    if (pumping) return;
    pumping = pump().finally(() => {
      pumping = undefined;
      // Lines pushed after the loop saw an empty queue but before it ended.
      if (queue.length > 0) kick();
    });
  };

  const queueLines = (lines: string[], stream: OutputStream): void => {
    for (const line of lines) queue.push([line, stream]);
  };

  return {
    push(chunk, stream) {
      if (failed) return;
      queueLines(splitters[stream].push(chunk), stream);
      if (!draining && queue.length >= LINE_QUEUE_HIGH_WATER) setPaused(true);
      kick();
    },
    resume() {
      draining = true;
      setPaused(false);
    },
    onFailure(listener) {
      failureListener = listener;
    },
    async end() {
      for (const stream of ['stdout', 'stderr'] as const) queueLines(splitters[stream].end(), stream);
      kick();
      while (pumping) await pumping;
      return failed ? { failed, failure } : { failed };
    },
  };
}
