import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { BosunError } from '../errors.ts';
import { resolveInside } from './paths.ts';
import type { MethodSpec } from './types.ts';

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
export const REQErrorLog: MethodSpec = {
  name: 'REQErrorLog',
  summary: 'Central: append an error report to <files>/errorLog/error.log, one line each.',
  // A re-run after a crash could log the same error twice.
  idempotent: false,
  replies: false,
  async handler(ctx) {
    const { message } = ctx;
    const file = await resolveInside(ctx.filesDir, ERROR_LOG_PATH);
    const text = (message.data ?? '').replace(/(\r\n|\r|\n)+$/, '').replace(/\r\n|\r|\n/g, '\\n');
    const line = `${new Date(message.acceptedAt).toISOString()} ${message.fromNode} ${text}\n`;
    try {
      await mkdir(path.dirname(file), { recursive: true });
      await appendFile(file, line);
    } catch (err) {
      throw new BosunError('BOSUN_METHOD_FAILED', `could not write the error log: ${(err as Error).message}`, { cause: err });
    }
    return {};
  },
};
