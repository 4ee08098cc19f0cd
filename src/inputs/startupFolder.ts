import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { describeError } from '../errors.ts';
import { MAX_MESSAGE_BYTES } from '../message.ts';
import type { BosunNode } from '../runtime/Node.ts';
import { JsonStreamParser } from './jsonStream.ts';
import { messageRefusal } from './messageInput.ts';

export const STARTUP_FOLDER = 'startup';

export interface StartupReport {
  /** `*.json` files found. */
  files: number;
  /** Messages the node accepted from them. */
  accepted: number;
  /** Files skipped, by name. */
  skipped: string[];
}

/**
 * The startup folder (steward's `startup/`): every `*.json` file in it, in name order,
 * holds messages the node accepts at every start, once it is up. `toNode: "local"`
 * means this node. Each file is all or nothing: one that is not JSON, or holds a
 * message that would be refused, is reported with its name and the reason and
 * skipped whole, so a half-applied file never happens. A missing folder is no files.
 */
export async function acceptStartupFolder(
  node: Pick<BosunNode, 'accept' | 'name'>,
  folder: string,
  options: { log?: Logger; maxMessageBytes?: number } = {},
): Promise<StartupReport> {
  const log = (options.log ?? pino({ level: 'silent' })).child({ input: 'startup' });
  const report: StartupReport = { files: 0, accepted: 0, skipped: [] };
  let names: string[];
  try {
    const entries = await readdir(folder, { withFileTypes: true });
    names = entries.filter((e) => e.name.endsWith('.json') && (e.isFile() || e.isSymbolicLink())).map((e) => e.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return report;
    throw err;
  }
  for (const name of names) {
    report.files++;
    const skip = (reason: string, code = 'BOSUN_BAD_MESSAGE'): void => {
      report.skipped.push(name);
      log.error({ file: name, code }, `startup file ${name} skipped: ${reason}`);
    };
    let messages: unknown[];
    try {
      messages = parseStartupFile(await readFile(path.join(folder, name)), node.name, options.maxMessageBytes ?? MAX_MESSAGE_BYTES);
    } catch (err) {
      const { code, message } = describeError(err);
      skip(message, code);
      continue;
    }
    if (messages.length === 0) {
      skip('it holds no messages');
      continue;
    }
    const results = await node.accept(messages);
    const refusals = results.filter((r) => 'error' in r);
    report.accepted += results.length - refusals.length;
    for (const r of refusals) log.error({ file: name, ...r.error }, `startup file ${name}: message refused: ${r.error.message}`);
    log.info({ file: name, accepted: results.length - refusals.length, refused: refusals.length }, `startup file ${name} accepted`);
  }
  return report;
}

/** The file's messages, each checked as the node would check it; throws at the first problem. */
function parseStartupFile(bytes: Buffer, localNode: string, maxMessageBytes: number): unknown[] {
  const parser = new JsonStreamParser();
  const items = [...parser.push(bytes), ...parser.end()];
  const messages: unknown[] = [];
  for (const item of items) {
    if (item.kind === 'error') throw item.error;
    messages.push(...(Array.isArray(item.value) ? item.value : [item.value]));
  }
  messages.forEach((message, index) => {
    const refusal = messageRefusal(message, index, messages.length, localNode, maxMessageBytes);
    if (refusal) throw refusal;
  });
  return messages;
}
