import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BosunError } from '../src/errors.ts';
import { DEFAULT_MESSAGE_DEFAULTS, normaliseMessages, type Message } from '../src/message.ts';

/** Accepts one raw input object on node `central`, as every input does. */
const accept = (raw: unknown): Message[] => normaliseMessages(raw, 'central', DEFAULT_MESSAGE_DEFAULTS, 0);
const one = (raw: unknown): Message => {
  const messages = accept(raw);
  expect(messages).toHaveLength(1);
  return messages[0]!;
};

function refusal(raw: unknown): BosunError {
  try {
    accept(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(BosunError);
    return e as BosunError;
  }
  throw new Error('the message was accepted');
}

describe("steward's message form, accepted as steward users wrote it", () => {
  it('takes a data array as lines for the file methods, never as their arguments', () => {
    const append = one({ toNode: 'ship1', method: 'REQToFileAppend', data: ['first line', 'second line'] });
    expect(append.data).toBe('first line\nsecond line\n');
    expect(append.methodArgs).toEqual([]);
    expect(one({ toNode: 'ship1', method: 'REQToFile', data: ['a', 'b\n', ''] }).data).toBe('a\nb\n\n');
    expect(one({ toNode: 'ship1', method: 'REQToConsole', data: ['hello'] }).data).toBe('hello\n');
    expect(one({ toNode: 'ship1', method: 'REQToFileAppend', data: [] }).data).toBe('');
  });

  it('takes a data array as the arguments of every other method', () => {
    expect(one({ toNode: 'ship1', method: 'REQCliCommand', data: ['bash', '-c', 'ls -l ../'] }).methodArgs).toEqual(['bash', '-c', 'ls -l ../']);
    expect(one({ toNode: 'ship1', method: 'REQHttpGet', data: ['https://finn.no'] }).methodArgs).toEqual(['https://finn.no']);
    expect(one({ toNode: 'ship1', method: 'REQTailFile', data: ['./test.log'] }).methodArgs).toEqual(['./test.log']);
    const both = one({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['cat'], data: ['x', 'y'] });
    expect(both.methodArgs).toEqual(['cat']);
    expect(both.data).toBe('x y');
  });

  it('turns operation into methodArgs[0] of REQOpCommand, the form bosun keeps', () => {
    const operation = { opCmd: 'startProc', opArg: { method: 'REQHttpGet', allowedNodes: ['central', 'node1'] } };
    const m = one({ toNode: 'ship2', data: [], method: 'REQOpCommand', operation });
    expect(m.methodArgs).toEqual([JSON.stringify(operation)]);
    expect(one({ toNode: 'ship2', method: 'REQOpCommand', methodArgs: ['{"opCmd":"ps"}'] }).methodArgs).toEqual(['{"opCmd":"ps"}']);
  });

  it('refuses operation on another method, or beside methodArgs', () => {
    expect(refusal({ toNode: 'ship2', method: 'REQCliCommand', operation: { opCmd: 'ps' } }).message).toBe('field "operation" is for REQOpCommand only, not "REQCliCommand"');
    expect(refusal({ toNode: 'ship2', method: 'REQOpCommand', operation: { opCmd: 'ps' }, methodArgs: ['{"opCmd":"ps"}'] }).message).toBe(
      'give the operation either as "operation" or as methodArgs[0], not both',
    );
    expect(refusal({ toNode: 'ship2', method: 'REQOpCommand', operation: 'ps' }).message).toBe('field "operation" must be an object like {"opCmd":"ps"}');
  });

  it('matches keys without regard to case, as Go decoded them', () => {
    const m = one({ ToNode: 'ship2', METHOD: 'REQCliCommand', Data: ['true'], MethodTimeout: 7, ackTimeout: 3, Retries: 2, ReplyACKTimeout: 4, FILENAME: 'f', Directory: 'd' });
    expect(m).toMatchObject({ toNode: 'ship2', method: 'REQCliCommand', methodArgs: ['true'], methodTimeout: 7, ACKTimeout: 3, retries: 2, replyACKTimeout: 4, fileName: 'f', directory: 'd' });
  });

  it('takes "Operation", as the README names the field in its prose', () => {
    expect(one({ toNode: 'ship2', method: 'REQOpCommand', Operation: { OpCmd: 'ps' } }).methodArgs).toEqual(['{"OpCmd":"ps"}']);
  });

  it('refuses two spellings of one field', () => {
    const err = refusal({ toNode: 'ship2', method: 'REQCliCommand', methodTimeout: 4, MethodTimeout: 7 });
    expect(err.code).toBe('BOSUN_BAD_MESSAGE');
    expect(err.message).toBe('the message has "methodTimeout" and "MethodTimeout": they are the same field; give it once');
  });

  it('takes toNode "" beside toNodes', () => {
    expect(accept({ toNode: '', toNodes: ['central', 'ship2'], method: 'REQHttpGet', data: ['http://x/'] }).map((m) => m.toNode)).toEqual(['central', 'ship2']);
    expect(refusal({ toNode: '', method: 'REQHttpGet' }).code).toBe('BOSUN_MISSING_FIELD');
  });

  it("takes the first README's shellCommand and textLogging, and ignores commandOrEvent", () => {
    const command = one({ toNode: 'ship1', data: ['bash', '-c', 'ls -l ../'], commandOrEvent: 'command', method: 'shellCommand' });
    expect(command).toMatchObject({ method: 'REQCliCommand', methodArgs: ['bash', '-c', 'ls -l ../'] });
    expect(command).not.toHaveProperty('commandOrEvent');
    const log = one({ toNode: 'central', data: ['some message sent from a ship for testing\n'], commandOrEvent: 'event', method: 'textLogging' });
    expect(log).toMatchObject({ method: 'REQToFileAppend', data: 'some message sent from a ship for testing\n' });
  });

  it('keeps an absolute directory (joined under the files folder where it is written), and refuses paths that climb out', () => {
    expect(one({ toNode: 'ship1', method: 'REQCliCommand', data: ['true'], directory: '/var/steward/cli-command/executed-result' }).directory).toBe(
      '/var/steward/cli-command/executed-result',
    );
    expect(one({ toNode: 'ship1', method: 'REQTailFile', data: ['x'], directory: './my/log/files/' }).directory).toBe('./my/log/files/');
    for (const [field, value] of [
      ['directory', '../x'],
      ['directory', '/../x'],
      ['directory', 'a/../../x'],
      ['fileName', '../x'],
      ['fileName', '/etc/passwd'],
    ] as const) {
      const err = refusal({ toNode: 'ship1', method: 'REQCliCommand', data: ['true'], [field]: value });
      expect(err.code).toBe('BOSUN_PATH_OUTSIDE_ROOT');
      expect(err.message).toBe(`${field} "${value}" would leave the files folder`);
    }
  });

  it('leaves a message in bosun\'s own form as it was', () => {
    const raw = { toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['uname', '-a'], data: 'payload', methodTimeout: 5 };
    expect(one(raw)).toMatchObject(raw);
  });

  it('accepts every message of every file in examples/', async () => {
    const root = path.resolve(import.meta.dirname, '../examples');
    let count = 0;
    for (const folder of ['bosun', 'steward']) {
      for (const file of (await readdir(path.join(root, folder))).filter((f) => f.endsWith('.json'))) {
        const messages = JSON.parse(await readFile(path.join(root, folder, file), 'utf8')) as unknown[];
        for (const raw of messages) count += accept(raw).length;
      }
    }
    expect(count).toBeGreaterThanOrEqual(30);
  });
});
