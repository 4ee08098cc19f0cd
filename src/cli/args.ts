import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BosunError } from '../errors.ts';

/** A mistake in how bosun was called: the message, then the command's usage, exit 2. */
export class UsageError extends BosunError {
  constructor(
    message: string,
    /** The command whose usage to show; none for the top-level usage. */
    readonly command?: string,
  ) {
    super('BOSUN_USAGE', message);
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * `util.parseArgs`, strict, with its errors turned into `UsageError`s that read well
 * (`unknown option "--fo" for bosun send`).
 */
export function parseCommandArgs<O extends Options>(command: string, args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (e) {
    const err = e as Error & { code?: string };
    const quoted = /'([^']+)'/.exec(err.message)?.[1] ?? '';
    switch (err.code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new UsageError(`unknown option "${quoted}" for bosun ${command}`, command);
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
        const option = quoted.replace(/ <value>$/, '');
        const problem = /does not take an argument/.test(err.message) ? 'takes no value' : 'needs a value';
        throw new UsageError(`option ${option} ${problem}`, command);
      }
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
        throw new UsageError(`unexpected argument "${quoted}" for bosun ${command}`, command);
      default:
        throw new UsageError(err.message, command);
    }
  }
}

/** `--timeout SECS` for a command that waits for central's answer: default 10 s. */
export function answerTimeoutMs(value: string | undefined, command: string): number {
  if (value === undefined) return 10_000;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--timeout needs a positive number of seconds, not "${value}"`, command);
  return n * 1000;
}
