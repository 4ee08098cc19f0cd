import type { MethodSpec } from './types.ts';

/** The part of a stream `REQToConsole` needs; `process.stdout` fits, as does a test sink. */
export interface TextSink {
  write(chunk: string, callback: (err?: Error | null) => void): boolean;
}

/**
 * `REQToConsole` printing to `out`, or to `err` when `methodArgs[0]` is `stderr`.
 * Data is printed as given, plus a newline when it lacks one, so entries never run
 * together.
 */
export function consoleMethod(out: TextSink = process.stdout, err: TextSink = process.stderr): MethodSpec {
  return {
    name: 'REQToConsole',
    summary: 'Print data to stdout, or to stderr when methodArgs[0] is "stderr".',
    idempotent: true,
    replies: false,
    async handler(ctx) {
      const data = ctx.message.data ?? '';
      const sink = ctx.message.methodArgs[0] === 'stderr' ? err : out;
      await new Promise<void>((resolve, reject) => {
        sink.write(data.endsWith('\n') ? data : data + '\n', (writeError) => (writeError ? reject(writeError) : resolve()));
      });
      return {};
    },
  };
}

export const REQToConsole: MethodSpec = consoleMethod();
