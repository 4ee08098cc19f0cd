import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BosunError } from '../src/errors.ts';
import type { Message } from '../src/message.ts';
import { REQToFile, REQToFileAppend } from '../src/methods/files.ts';
import { resolveInside } from '../src/methods/paths.ts';
import { testContext, testMessage } from '../src/methods/testing.ts';
import type { MethodSpec } from '../src/methods/types.ts';

let base: string;
let filesDir: string;
let outside: string;

beforeEach(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'bosun-files-'));
  filesDir = path.join(base, 'files');
  outside = path.join(base, 'outside');
  await mkdir(filesDir);
  await mkdir(outside);
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

/** A reply from node1 carrying the result of a REQCliCommand that central sent. */
function reply(fields: Partial<Message> = {}): Message {
  return testMessage({
    fromNode: 'node1',
    toNode: 'central',
    method: 'REQToFileAppend',
    isReply: true,
    inReplyTo: { id: 'req-1', method: 'REQCliCommand', fromNode: 'central', toNode: 'node1' },
    ...fields,
  });
}

function run(method: MethodSpec, message: Message) {
  return method.handler(testContext({ filesDir, message }));
}

async function refusal(promise: Promise<unknown>): Promise<BosunError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BosunError);
  expect((err as BosunError).code).toBe('BOSUN_PATH_OUTSIDE_ROOT');
  return err as BosunError;
}

const read = (...parts: string[]) => readFile(path.join(filesDir, ...parts), 'utf8');

describe('REQToFileAppend', () => {
  it('files a reply under <directory>/<node that ran the request>/<fileName>, defaulting to the request method', async () => {
    await expect(run(REQToFileAppend, reply({ data: 'first' }))).resolves.toEqual({});
    await run(REQToFileAppend, reply({ data: 'second\n' }));
    expect(await read('REQCliCommand', 'node1', 'REQCliCommand.result')).toBe('first\nsecond\n');
  });

  it('uses the directory and fileName the message carries, creating folders as needed', async () => {
    await run(REQToFileAppend, reply({ directory: 'audits/daily', fileName: 'uptime.txt', data: 'up 3 days' }));
    expect(await read('audits', 'daily', 'node1', 'uptime.txt')).toBe('up 3 days\n');
  });

  it('files a message that is not a reply under default/<fromNode>/<method>.result', async () => {
    await run(REQToFileAppend, testMessage({ fromNode: 'node2', method: 'REQToFileAppend', data: 'note' }));
    expect(await read('default', 'node2', 'REQToFileAppend.result')).toBe('note\n');
  });

  it('appends an empty line for empty data', async () => {
    await run(REQToFileAppend, reply({ data: 'a' }));
    await run(REQToFileAppend, reply({}));
    expect(await read('REQCliCommand', 'node1', 'REQCliCommand.result')).toBe('a\n\n');
  });

  it('sends no reply and is not safe to re-run', () => {
    expect(REQToFileAppend.replies).toBe(false);
    expect(REQToFileAppend.idempotent).toBe(false);
  });
});

describe('REQToFile', () => {
  it('replaces the content with the data exactly as given', async () => {
    const write = (data: string) => run(REQToFile, reply({ method: 'REQToFile', fileName: 'state', data }));
    await write('a much longer first version\n');
    await write('short');
    expect(await read('REQCliCommand', 'node1', 'state')).toBe('short');
  });

  it('files a message that is not a reply under default/<fromNode>/REQToFile.result', async () => {
    await run(REQToFile, testMessage({ fromNode: 'node3', method: 'REQToFile', data: 'x' }));
    expect(await read('default', 'node3', 'REQToFile.result')).toBe('x');
  });

  it('sends no reply and is safe to re-run', () => {
    expect(REQToFile.replies).toBe(false);
    expect(REQToFile.idempotent).toBe(true);
  });
});

/** A request from node1 that writes a file itself (not a reply). */
function request(fields: Partial<Message> = {}): Message {
  return testMessage({ fromNode: 'node1', toNode: 'central', method: 'REQToFileAppend', ...fields });
}

describe('paths outside the files folder', () => {
  it('refuses a directory that climbs out with ..', async () => {
    const err = await refusal(run(REQToFile, request({ directory: '../outside', data: 'x' })));
    expect(err.message).toBe('directory "../outside" would leave the files folder');
    expect(await readdir(outside)).toEqual([]);
  });

  it('refuses a directory that climbs out after going down', async () => {
    const err = await refusal(run(REQToFileAppend, request({ directory: 'a/../../outside', data: 'x' })));
    expect(err.message).toBe('directory "a/../../outside" would leave the files folder');
  });

  it('joins an absolute directory under the files folder, as steward joined it under its data folder', async () => {
    await run(REQToFileAppend, request({ directory: '/var/steward/cli-command/executed-result', fileName: 'some.log', data: 'x' }));
    expect(await read('var', 'steward', 'cli-command', 'executed-result', 'node1', 'some.log')).toBe('x\n');
    await run(REQToFileAppend, request({ directory: outside, fileName: 'y', data: 'y' }));
    expect(await readdir(outside)).toEqual([]);
    expect(await read(path.relative('/', outside), 'node1', 'y')).toBe('y\n');
  });

  it('refuses an absolute directory that climbs out with ..', async () => {
    const err = await refusal(run(REQToFileAppend, request({ directory: '/../outside', data: 'x' })));
    expect(err.message).toBe('directory "/../outside" would leave the files folder');
    expect(await readdir(outside)).toEqual([]);
  });

  it('refuses a fileName that climbs out of its node folder', async () => {
    const err = await refusal(run(REQToFile, request({ directory: 'd', fileName: '../node2/forged', data: 'x' })));
    expect(err.message).toBe('fileName "../node2/forged" would leave its folder "d/node1" in the files folder');
    await expect(readdir(path.join(filesDir, 'd'))).rejects.toThrow(/ENOENT/);
  });

  it('allows a directory that wanders but stays inside', async () => {
    await run(REQToFile, reply({ directory: 'a/../b/./c', data: 'x' }));
    expect(await read('b', 'c', 'node1', 'REQCliCommand.result')).toBe('x');
  });

  it('refuses a directory that is a symlink to outside', async () => {
    await symlink(outside, path.join(filesDir, 'escape'));
    const err = await refusal(run(REQToFileAppend, request({ directory: 'escape', data: 'x' })));
    expect(err.message).toBe('directory "escape" would leave the files folder through a symbolic link');
    expect(await readdir(outside)).toEqual([]);
  });

  it('refuses a symlink to outside deeper in the tree, even where the node folder already exists', async () => {
    await mkdir(path.join(filesDir, 'results', 'node1'), { recursive: true });
    await symlink(path.join(outside, 'target'), path.join(filesDir, 'results', 'node1', 'out.txt'));
    await writeFile(path.join(outside, 'target'), 'untouched');
    const err = await refusal(run(REQToFile, request({ directory: 'results', fileName: 'out.txt', data: 'x' })));
    expect(err.message).toBe('fileName "out.txt" would leave its folder "results/node1" in the files folder through a symbolic link');
    expect(await readFile(path.join(outside, 'target'), 'utf8')).toBe('untouched');
  });

  it('refuses a symlink that leads nowhere', async () => {
    await symlink(path.join(outside, 'missing-dir'), path.join(filesDir, 'dangling'));
    const err = await refusal(run(REQToFile, request({ directory: 'dangling', data: 'x' })));
    expect(err.message).toBe('directory "dangling" would leave the files folder through a symbolic link that leads nowhere');
    expect(await readdir(outside)).toEqual([]);
  });

  it('follows a symlink that stays inside', async () => {
    await mkdir(path.join(filesDir, 'real'));
    await symlink(path.join(filesDir, 'real'), path.join(filesDir, 'alias'));
    await run(REQToFile, reply({ directory: 'alias', data: 'x' }));
    expect(await read('real', 'node1', 'REQCliCommand.result')).toBe('x');
  });
});


describe('a reply whose own path is refused here', () => {
  it('lands in the default directory, saying why, so the user sees it', async () => {
    const error = { code: 'BOSUN_PATH_OUTSIDE_ROOT', message: 'directory "../outside" would leave the files folder' };
    await run(REQToFileAppend, reply({ directory: '../outside', fileName: 'x.log.error', error, data: 'error BOSUN_PATH_OUTSIDE_ROOT: …' }));
    expect(await readdir(outside)).toEqual([]);
    const text = await read('REQCliCommand', 'node1', 'x.log.error');
    expect(text).toBe(
      '[bosun: directory "../outside" would leave the files folder; this reply was written to "REQCliCommand/node1/x.log.error" instead]\nerror BOSUN_PATH_OUTSIDE_ROOT: …\n',
    );
  });

  it('takes the default fileName too when its fileName is the refused part', async () => {
    await symlink(outside, path.join(filesDir, 'escape'));
    await mkdir(path.join(filesDir, 'REQCliCommand', 'node1'), { recursive: true });
    await symlink(path.join(outside, 't'), path.join(filesDir, 'REQCliCommand', 'node1', 'out.txt'));
    await run(REQToFile, reply({ directory: 'escape', fileName: 'out.txt', data: 'x' }));
    expect(await readdir(outside)).toEqual([]);
    expect(await read('REQCliCommand', 'node1', 'REQCliCommand.result')).toMatch(/^\[bosun: directory "escape" would leave the files folder through a symbolic link; this reply was written to "REQCliCommand\/node1\/REQCliCommand.result" instead\]\nx$/);
  });
});

describe('resolveInside', () => {
  it('returns the absolute path of the parts under the root', async () => {
    await expect(resolveInside(filesDir, 'a', 'b/c', 'd.txt')).resolves.toBe(path.join(filesDir, 'a', 'b', 'c', 'd.txt'));
  });

  it('works when the root is reached through a symlink and does not exist yet below it', async () => {
    await symlink(filesDir, path.join(base, 'files-link'));
    const root = path.join(base, 'files-link');
    await expect(resolveInside(root, 'new', 'x')).resolves.toBe(path.join(root, 'new', 'x'));
    const missingRoot = path.join(base, 'not-yet', 'files');
    await expect(resolveInside(missingRoot, 'x')).resolves.toBe(path.join(missingRoot, 'x'));
  });

  it('names an unnamed part "path" when refusing it', async () => {
    const err = await refusal(resolveInside(filesDir, '..'));
    expect(err.message).toBe('path ".." would leave the files folder');
  });
});
