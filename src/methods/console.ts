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
    batch: {
      max: 1024,
      async plan(contexts) {
        return {
          // Entries go out in order; consecutive ones for the same sink in one write.
          apply: async () => {
            let sink: TextSink | undefined;
            let text = '';
            for (const ctx of contexts) {
              const next = ctx.message.methodArgs[0] === 'stderr' ? err : out;
              if (sink && next !== sink) {
                await print(sink, text);
                text = '';
              }
              sink = next;
              text += entryOf(ctx.message.data);
            }
            if (sink) await print(sink, text);
            return contexts.map(() => ({}));
          },
          release: () => {},
        };
      },
    },
    async handler(ctx) {
      await print(ctx.message.methodArgs[0] === 'stderr' ? err : out, entryOf(ctx.message.data));
      return {};
    },
  };
}

export const REQToConsole: MethodSpec = consoleMethod();

function entryOf(data: string | undefined): string {
  const text = data ?? '';
  return text.endsWith('\n') ? text : text + '\n';
}

function print(sink: TextSink, text: string): Promise<void> {
  return new Promise<void>((resolve, reject) => sink.write(text, (writeError) => (writeError ? reject(writeError) : resolve())));
}
