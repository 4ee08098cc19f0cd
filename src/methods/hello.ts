import path from 'node:path';
import type { Message } from '../message.ts';
import { planAppends, reconcileAppends, type AppendPart } from './appendBatch.ts';
import { resolveInsideOnce } from './confinedPaths.ts';
import { PROCESS_LOCAL_FILES } from './LocalFiles.ts';
import { runAlone } from './runAlone.ts';
import type { BatchSpec, MethodSpec } from './types.ts';

/**
 * Records a node's last contact on central. Recording the same hello twice only
 * rewrites the same "last seen", so a re-run after a crash is harmless.
 */
export const REQHello: MethodSpec = {
  name: 'REQHello',
  summary: 'Central: record that the sending node is alive (its last contact).',
  idempotent: true,
  // Central runs one per node per interval: a fleet's hellos must not each cost an actor.
  inline: true,
  replies: false,
  batch: {
    max: 1024,
    async plan(contexts) {
      // A node's last hello of the batch is the one its "last seen" keeps.
      const latest = new Map<string, (typeof contexts)[number]>();
      for (const ctx of contexts) latest.set(ctx.message.fromNode, ctx);
      return {
        apply: async () => {
          for (const ctx of latest.values()) await REQHello.handler(ctx);
          return contexts.map(() => ({}));
        },
        release: () => {},
      };
    },
  },
  async handler(ctx) {
    const { message } = ctx;
    if (ctx.recordHello === undefined) {
      // Only central records hellos; one reaching another node is a misdirected message,
      // not a failure worth an error report.
      ctx.log.warn({ from: message.fromNode, central: ctx.central }, 'hello received on a node that is not central; ignored');
      return {};
    }
    await ctx.recordHello(message.fromNode, message.acceptedAt, message.data);
    return {};
  },
};

/** The error log on central, relative to the files folder. */
export const ERROR_LOG_PATH = path.join('errorLog', 'error.log');

/**
 * Appends one line per error to `<files>/errorLog/error.log`:
 * `<ISO time the error was accepted> <fromNode> <data>`. Line breaks in the data are
 * written as `\n` so that each error stays one line, as the format promises.
 */
const errorLogBatch: BatchSpec = {
  max: 1024,
  async plan(contexts, options) {
    const filesDir = contexts[0]!.filesDir;
    let file: string | Error;
    try {
      file = await resolveInsideOnce(filesDir, { name: 'path', value: ERROR_LOG_PATH });
    } catch (e) {
      file = e instanceof Error ? e : new Error(String(e));
    }
    const parts = contexts.map((ctx): AppendPart => (file instanceof Error ? file : { file, text: errorLogLine(ctx.message) }));
    return planAppends(contexts[0]!.localFiles ?? PROCESS_LOCAL_FILES, filesDir, parts, options);
  },
  reconcile: reconcileAppends,
};

function errorLogLine(message: Message): string {
  const text = (message.data ?? '').replace(/(\r\n|\r|\n)+$/, '').replace(/\r\n|\r|\n/g, '\\n');
  return `${new Date(message.acceptedAt).toISOString()} ${message.fromNode} ${text}\n`;
}

export const REQErrorLog: MethodSpec = {
  name: 'REQErrorLog',
  summary: 'Central: append an error report to <files>/errorLog/error.log, one line each.',
  // A re-run after a crash could log the same error twice: a cut-short batch is cut back
  // to the log's recorded length and run again.
  idempotent: false,
  replies: false,
  batch: errorLogBatch,
  handler: (ctx) => runAlone(errorLogBatch, ctx),
};
