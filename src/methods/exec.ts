import { spawn } from 'node:child_process';
import { BosunError } from '../errors.ts';

export const DEFAULT_MAX_OUTPUT_BYTES = 4 * 1024 * 1024;
/** Time a process group gets between SIGTERM and SIGKILL. */
export const DEFAULT_KILL_GRACE_MS = 2000;

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
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);

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
      resolve({ exitCode, signal: exitSignal, output, timedOut, aborted, truncated });
    });
  });
}
