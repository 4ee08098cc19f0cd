import { BosunError, describeError } from '../errors.ts';
import { DEFAULT_MESSAGE_DEFAULTS, MAX_MESSAGE_BYTES, normaliseMessages } from '../message.ts';
import type { AcceptResult, BosunNode } from '../runtime/Node.ts';
import { formatBytes } from './formatBytes.ts';

/** What an input tells its client about one message: accepted with its id, or why not. */
export type InputAnswer = AcceptResult;

/** The part of a node an input needs. */
export type AcceptingNode = Pick<BosunNode, 'accept'>;

/**
 * The input contract every input shares (unix socket, and later TCP and HTTP): takes one
 * parsed value, a message object or an array of them, and answers once per message, in
 * order. A message whose JSON form is over `MAX_MESSAGE_BYTES` is refused with
 * `BOSUN_MESSAGE_TOO_LARGE`; everything else is the node's to accept or refuse. One bad
 * message never costs the others of its array their place.
 *
 * A message with `toNodes` is one answer per target node, as the node fans it out.
 */
export function acceptInput(node: AcceptingNode, value: unknown, maxMessageBytes = MAX_MESSAGE_BYTES): Promise<InputAnswer[]> {
  return acceptInputs(node, [value], maxMessageBytes);
}

/**
 * `acceptInput` for several values read together (one message per line, say): the same
 * answers, in the same order, but the messages go to the node in as few batches as the
 * refusals allow, so a stream of single messages is as cheap as one array.
 */
export async function acceptInputs(node: AcceptingNode, values: unknown[], maxMessageBytes = MAX_MESSAGE_BYTES): Promise<InputAnswer[]> {
  const answers: InputAnswer[] = [];
  // Runs of acceptable messages go to the node together, so they share one store write;
  // a refused message ends a run, which keeps every answer in input order.
  let run: unknown[] = [];
  const flush = async (): Promise<void> => {
    if (run.length === 0) return;
    const batch = run;
    run = [];
    try {
      answers.push(...(await node.accept(batch)));
    } catch (e) {
      const error = describeError(e);
      for (let i = 0; i < batch.length; i++) answers.push({ error });
    }
  };
  for (const value of values) {
    const items = Array.isArray(value) ? value : [value];
    for (let index = 0; index < items.length; index++) {
      const refusal = sizeRefusal(items[index], index, items.length, maxMessageBytes);
      if (refusal) {
        await flush();
        answers.push({ error: refusal.toJSON() });
      } else run.push(items[index]);
    }
  }
  await flush();
  return answers;
}

/**
 * Why the node would refuse message `index` of `count` (of one input value), checked
 * before it goes to the node: its size, then its fields, as `accept` checks them. For
 * inputs that must say which value of a file was at fault, which a batch's answers
 * cannot tell once `toNodes` has fanned messages out.
 */
export function messageRefusal(item: unknown, index: number, count: number, localNode: string, max = MAX_MESSAGE_BYTES): BosunError | undefined {
  const tooLarge = sizeRefusal(item, index, count, max);
  if (tooLarge) return tooLarge;
  try {
    normaliseMessages(item, localNode, DEFAULT_MESSAGE_DEFAULTS, 0);
    return undefined;
  } catch (err) {
    if (!(err instanceof BosunError)) throw err;
    return count > 1 ? new BosunError(err.code, `message ${index + 1} of ${count}: ${err.message}`) : err;
  }
}

/**
 * Why message `index` of `count` (of one input value) is refused for its size, or
 * undefined when it fits in `max` bytes of JSON.
 */
export function sizeRefusal(item: unknown, index: number, count: number, max: number): BosunError | undefined {
  const which = count > 1 ? `message ${index + 1} of ${count}` : 'the message';
  let bytes: number;
  try {
    bytes = Buffer.byteLength(JSON.stringify(item) ?? '', 'utf8');
  } catch {
    // Only a value nested too deeply to serialise gets here.
    return new BosunError('BOSUN_BAD_MESSAGE', `${which} cannot be read as a message`);
  }
  if (bytes <= max) return undefined;
  const rawId = item !== null && typeof item === 'object' ? (item as { id?: unknown }).id : undefined;
  const id = typeof rawId === 'string' ? ` (id ${JSON.stringify(rawId.slice(0, 128))})` : '';
  return new BosunError(
    'BOSUN_MESSAGE_TOO_LARGE',
    `${which}${id} is ${formatBytes(bytes)} as JSON; a message may be at most ${formatBytes(max)}`,
  );
}
