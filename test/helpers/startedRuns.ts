import type { Message } from '../../src/message.ts';

/** What a crash leaves of a run that had durably started. */
export interface StartedRunVerdicts {
  /** In a batch with a checkpoint: the batch is cut back and run again, so the message is not unknown. */
  reconciled(id: string): void;
  /** Reported as interrupted and never run again: the message may be missing, but never run twice. */
  unknown(id: string): void;
}

/**
 * Goes through the `started` (`exec!`) records a crashed node's store held and the inbox
 * entries they cover, in key order, and gives each covered message its verdict. (Every
 * write is synced, so what the running process saw is what a power loss keeps.)
 */
export async function judgeStartedRuns(
  started: Promise<Array<[string, unknown]>>,
  inbox: Promise<Array<[string, Message]>>,
  verdicts: StartedRunVerdicts,
): Promise<void> {
  const inboxByKey = new Map(await inbox);
  for (const [key, value] of await started) {
    const record = (value ?? {}) as { last?: number; checkpoint?: unknown };
    const rest = key.slice('exec!'.length);
    const stream = rest.slice(0, rest.lastIndexOf('!'));
    const first = Number(rest.slice(rest.lastIndexOf('!') + 1));
    for (let seq = first; seq <= (record.last ?? first); seq++) {
      const message = inboxByKey.get(`in!${stream}!${String(seq).padStart(16, '0')}`);
      if (!message) continue;
      if (record.checkpoint !== undefined) verdicts.reconciled(message.id);
      else verdicts.unknown(message.id);
    }
  }
}
