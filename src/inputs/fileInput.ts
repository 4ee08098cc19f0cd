import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { MAX_MESSAGE_BYTES } from '../message.ts';
import { INPUT_PROGRESS_PREFIX, inputProgressKey, prefixRange } from '../store/keys.ts';
import type { Store } from '../store/types.ts';
import { consumeMessageFile, type FileConsumingNode } from './messageFile.ts';
import { repeatedErrorLog } from './repeatedErrorLog.ts';

export interface FileInputOptions {
  /** The watched file (steward's `inmsg.txt`); its folder is created if missing. */
  file: string;
  /** Looks at the file this often besides file-system events, which can be missed. */
  pollMs: number;
  log?: Logger;
  /** Largest single message, as JSON (default 1 MiB). */
  maxMessageBytes?: number;
  /** How long a taken file must stay the same size before it is read (default 50 ms). */
  settleMs?: number;
}

export interface FileInput {
  readonly file: string;
  /** Stops watching; a file being read stops after its current batch and is finished at the next start. */
  close(): Promise<void>;
}

const PROCESSING = '.processing-';
const PROGRESS = '.progress';
/** How long to wait at most for a writer that keeps appending to a file already taken. */
const MAX_SETTLE_MS = 2000;

/**
 * The watched input file, as in steward: messages appended to it (`cat msgs.json >>
 * inmsg.txt`) are taken and the file emptied. Taking is crash-safe:
 *
 * 1. the file is renamed to `<file>.processing-<ms>` (atomic: a writer that appends
 *    afterwards creates a fresh file, nothing is lost or read twice);
 * 2. its messages are accepted in batches, and after each batch the count of JSON values
 *    done is recorded in `<file>.processing-<ms>.progress`;
 * 3. the file, then its progress record, are deleted.
 *
 * A daemon that dies anywhere in between finds the `.processing-` file at its next start,
 * before it takes anything new, and goes on after the values recorded as done.
 *
 * Writers should append whole values in one write; a value still being written when the
 * file is taken is waited for briefly (the file must stop growing), and otherwise
 * reported as broken JSON.
 */
export async function startFileInput(
  node: FileConsumingNode & { readonly store?: Pick<Store, 'get' | 'write' | 'range'> },
  options: FileInputOptions,
): Promise<FileInput> {
  const file = path.resolve(options.file);
  const dir = path.dirname(file);
  const base = path.basename(file);
  const log = (options.log ?? pino({ level: 'silent' })).child({ input: 'file' });
  await mkdir(dir, { recursive: true });

  let closing = false;
  let running: Promise<void> | undefined;
  let again = false;
  let lastStamp = 0;

  const processingFiles = async (): Promise<string[]> =>
    (await readdir(dir)).filter((name) => name.startsWith(base + PROCESSING) && /^\d+$/.test(name.slice(base.length + PROCESSING.length))).sort();

  /** Progress records whose file is gone: the daemon died between the deletes. */
  const removeOrphanProgress = async (): Promise<void> => {
    const names = new Set(await readdir(dir));
    for (const name of names) {
      if (name.startsWith(base + PROCESSING) && name.endsWith(PROGRESS) && !names.has(name.slice(0, -PROGRESS.length))) {
        await unlink(path.join(dir, name)).catch(() => {});
      }
    }
    if (!node.store) return;
    const ours = inputProgressKey(path.join(dir, base + PROCESSING));
    for (const [key] of await node.store.range(prefixRange(INPUT_PROGRESS_PREFIX))) {
      if (key.startsWith(ours) && !names.has(path.basename(key.slice(INPUT_PROGRESS_PREFIX.length + 1)))) {
        await node.store.write([{ type: 'del', key }]).catch(() => {});
      }
    }
  };

  const consume = async (processing: string): Promise<boolean> => {
    const outcome = await consumeMessageFile(node, processing, {
      log,
      shouldStop: () => closing,
      maxMessageBytes: options.maxMessageBytes ?? MAX_MESSAGE_BYTES,
    });
    return outcome === 'done';
  };

  /** One pass: leftovers first, in the order they were taken, then the file itself. */
  const pass = async (): Promise<void> => {
    for (const name of await processingFiles()) {
      if (closing || !(await consume(path.join(dir, name)))) return;
    }
    await removeOrphanProgress();
    while (!closing) {
      const size = await stat(file).then(
        (s) => s.size,
        () => 0,
      );
      if (size === 0) return;
      // Stamps only grow, so leftovers sort in the order they were taken.
      lastStamp = Math.max(Date.now(), lastStamp + 1);
      const processing = `${file}${PROCESSING}${lastStamp}`;
      try {
        await rename(file, processing);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      await settle(processing, options.settleMs ?? 50);
      if (!(await consume(processing))) return;
    }
  };

  const logFailure = repeatedErrorLog(log.child({ file }), 'input file');
  const trigger = (): void => {
    if (closing) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await pass();
        } catch (err) {
          logFailure(err as NodeJS.ErrnoException);
        }
      } while (again && !closing);
    })().finally(() => (running = undefined));
  };

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, (_event, name) => {
      if (name === null || name === base) trigger();
    });
    watcher.on('error', (err) => log.warn({ err }, 'input file: watching failed; polling only'));
  } catch (err) {
    log.warn({ err }, 'input file: cannot watch its folder; polling only');
  }
  const poll = setInterval(trigger, options.pollMs);
  poll.unref();
  trigger();

  return {
    file,
    async close() {
      closing = true;
      clearInterval(poll);
      watcher?.close();
      await running;
    },
  };
}

/** Waits until the file stops growing: a writer may still hold the file it appended to. */
async function settle(file: string, settleMs: number): Promise<void> {
  let size = (await stat(file)).size;
  for (let waited = 0; waited < MAX_SETTLE_MS; waited += settleMs) {
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const now = (await stat(file)).size;
    if (now === size) return;
    size = now;
  }
}
