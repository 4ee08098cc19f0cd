import { BosunError } from '../errors.ts';
import { stopped, type CliCommandOptions } from './cliCommand.ts';
import { ownDeadlineMs } from './deadline.ts';
import { runCommand } from './exec.ts';
import type { MethodContext, MethodResult, MethodSpec } from './types.ts';

/**
 * `REQnCliCommandCont`: runs `methodArgs` as a command (no shell) and sends each line of
 * its stdout and stderr as a reply of its own, in the order the lines arrived, while it
 * runs. Each reply is durable in the outbox before the next line is taken; a command
 * that writes faster than that is slowed down (its pipes are paused), never cut short.
 *
 * The run ends when the command exits (last reply: `[bosun: command … exited with code
 * 0]`; a non-zero exit or a signal is an error reply) or at `methodTimeout` (-1: until the
 * node stops): then the command's process group is killed and the last reply says so.
 * Concurrent (`REQn`): a long-running command does not hold up the next one.
 */
export function cliCommandContMethod(options: CliCommandOptions = {}): MethodSpec {
  return {
    name: 'REQnCliCommandCont',
    summary: 'Run methodArgs as a command (no shell); reply with each output line as it comes, until it exits or methodTimeout.',
    idempotent: false,
    endsAtTimeout: true,
    handler: (ctx) => streamCommand(ctx, options),
  };
}

async function streamCommand(ctx: MethodContext, options: CliCommandOptions): Promise<MethodResult> {
  const { message, signal } = ctx;
  const argv = message.methodArgs;
  if (argv.length === 0 || argv[0] === '') {
    throw new BosunError('BOSUN_BAD_MESSAGE', 'REQnCliCommandCont needs the command in methodArgs: methodArgs[0] is the program');
  }
  const deadlineMs = ownDeadlineMs(message.methodTimeout);
  const result = await runCommand(argv, {
    signal,
    ...(deadlineMs !== undefined ? { timeoutMs: deadlineMs } : {}),
    ...(options.killGraceMs !== undefined ? { killGraceMs: options.killGraceMs } : {}),
    onLine: (line) => ctx.emit(line),
  });
  const command = argv[0];
  if (result.timedOut) {
    return { output: `[bosun: methodTimeout ${message.methodTimeout}s reached; command ${command} and its process group were killed]` };
  }
  if (result.aborted) throw stopped(signal.reason, '');
  if (result.exitCode !== 0) {
    const how = result.exitCode === null ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
    throw new BosunError('BOSUN_METHOD_FAILED', `command ${command} ${how}`);
  }
  return { output: `[bosun: command ${command} exited with code 0]` };
}

export const REQnCliCommandCont: MethodSpec = cliCommandContMethod();
