import { BosunError } from '../errors.ts';
import { runCommand } from './exec.ts';
import type { MethodContext, MethodResult, MethodSpec } from './types.ts';

export interface CliCommandOptions {
  /** Output kept per command; more is dropped with a notice. */
  maxOutputBytes?: number;
  /** Time a timed-out command's process group gets between SIGTERM and SIGKILL. */
  killGraceMs?: number;
}

/**
 * Runs `methodArgs` as a command (no shell: `["sh", "-c", "…"]` asks for one) and
 * returns its output. A non-zero exit, a signal or a timeout is one error reply that
 * carries the output, never a result and an error both.
 *
 * `REQCliCommand` runs a stream's commands one at a time; `REQnCliCommand` runs them
 * concurrently. The handler is the same; the name alone decides.
 */
export function cliCommandMethod(name: 'REQCliCommand' | 'REQnCliCommand', options: CliCommandOptions = {}): MethodSpec {
  return {
    name,
    summary:
      name === 'REQCliCommand'
        ? 'Run methodArgs as a command (no shell), one at a time per stream; reply with its output.'
        : 'Run methodArgs as a command (no shell), concurrently; reply with its output.',
    // A command may do anything; running it twice after a crash is not safe to assume.
    idempotent: false,
    handler: (ctx) => runCliCommand(ctx, name, options),
  };
}

async function runCliCommand(ctx: MethodContext, name: string, options: CliCommandOptions): Promise<MethodResult> {
  const { message, signal } = ctx;
  const argv = message.methodArgs;
  if (argv.length === 0 || argv[0] === '') {
    throw new BosunError('BOSUN_BAD_MESSAGE', `${name} needs the command in methodArgs (or data)`);
  }
  const timeoutMs = message.methodTimeout === -1 ? undefined : message.methodTimeout * 1000;
  const result = await runCommand(argv, {
    signal,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(options.maxOutputBytes !== undefined ? { maxOutputBytes: options.maxOutputBytes } : {}),
    ...(options.killGraceMs !== undefined ? { killGraceMs: options.killGraceMs } : {}),
  });
  const command = argv[0];

  if (result.timedOut) {
    throw new BosunError(
      'BOSUN_METHOD_TIMEOUT',
      `command timed out after ${message.methodTimeout}s; its process group was killed${withOutput(result.output, 'output so far')}`,
    );
  }
  if (result.aborted) throw stopped(signal.reason, result.output);
  if (result.exitCode !== 0) {
    const how = result.exitCode === null ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
    throw new BosunError('BOSUN_METHOD_FAILED', `command ${command} ${how}${withOutput(result.output, 'output')}`);
  }
  ctx.log.debug({ command, truncated: result.truncated }, 'command finished');
  return { output: result.output };
}

/**
 * The error for a command the runtime stopped. The runtime aborts at `methodTimeout`
 * and at shutdown; a `BosunError` reason keeps its code, anything else counts as an
 * interruption.
 */
export function stopped(reason: unknown, output: string): BosunError {
  const cause = reason instanceof BosunError ? reason : undefined;
  const code = cause?.code ?? 'BOSUN_INTERRUPTED';
  const why = cause ? `: ${cause.message}` : reason instanceof Error ? `: ${reason.message}` : '';
  return new BosunError(code, `command was stopped${why}; its process group was killed${withOutput(output, 'output so far')}`, {
    cause: reason,
  });
}

function withOutput(output: string, label: string): string {
  return output === '' ? '' : `\n${label}:\n${output}`;
}

export const REQCliCommand: MethodSpec = cliCommandMethod('REQCliCommand');
export const REQnCliCommand: MethodSpec = cliCommandMethod('REQnCliCommand');
