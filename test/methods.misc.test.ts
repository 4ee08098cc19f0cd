import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BosunError } from '../src/errors.ts';
import { consoleMethod, type TextSink } from '../src/methods/console.ts';
import { REQErrorLog, REQHello } from '../src/methods/hello.ts';
import { REQPing, REQPong } from '../src/methods/ping.ts';
import { MethodRegistry, builtinMethods } from '../src/methods/registry.ts';
import { testContext, testMessage } from './support/methods.ts';

let filesDir: string;

beforeEach(async () => {
  filesDir = await mkdtemp(path.join(tmpdir(), 'bosun-misc-'));
});

afterEach(async () => {
  await rm(filesDir, { recursive: true, force: true });
});

function sink(): TextSink & { text: string } {
  return {
    text: '',
    write(chunk, callback) {
      this.text += chunk;
      callback();
      return true;
    },
  };
}

describe('REQToConsole', () => {
  it('prints data to stdout, ending it with a newline', async () => {
    const out = sink();
    const err = sink();
    const method = consoleMethod(out, err);
    await expect(method.handler(testContext({ filesDir, message: testMessage({ data: 'hello' }) }))).resolves.toEqual({});
    await method.handler(testContext({ filesDir, message: testMessage({ data: 'two\nlines\n' }) }));
    expect(out.text).toBe('hello\ntwo\nlines\n');
    expect(err.text).toBe('');
  });

  it('prints to stderr when methodArgs[0] is "stderr"', async () => {
    const out = sink();
    const err = sink();
    await consoleMethod(out, err).handler(testContext({ filesDir, message: testMessage({ methodArgs: ['stderr'], data: 'oops' }) }));
    expect(err.text).toBe('oops\n');
    expect(out.text).toBe('');
  });

  it('fails when the stream cannot be written', async () => {
    const broken: TextSink = {
      write(_chunk, callback) {
        callback(new Error('EPIPE'));
        return false;
      },
    };
    await expect(consoleMethod(broken, broken).handler(testContext({ filesDir, message: testMessage({ data: 'x' }) }))).rejects.toThrow('EPIPE');
  });

  it('sends no reply', () => {
    expect(consoleMethod(sink(), sink()).replies).toBe(false);
  });
});

describe('REQPing and REQPong', () => {
  it('answers a ping with the name of the node that got it', async () => {
    await expect(REQPing.handler(testContext({ filesDir, node: 'edge-7' }))).resolves.toEqual({ output: 'pong from edge-7' });
    expect(REQPing.replies ?? true).toBe(true);
  });

  it('accepts a pong and sends nothing back', async () => {
    const result = await REQPong.handler(testContext({ filesDir, message: testMessage({ method: 'REQPong', data: 'pong from edge-7' }) }));
    expect(result.output).toBeUndefined();
    expect(REQPong.replies).toBe(false);
  });
});

describe('REQHello', () => {
  it('records the sender, the time it was accepted and its data on central', async () => {
    const seen: Array<[string, number, string | undefined]> = [];
    const ctx = testContext({
      filesDir,
      node: 'central',
      message: testMessage({ fromNode: 'node4', toNode: 'central', method: 'REQHello', data: 'v1.2', acceptedAt: 1_700_000_000_000 }),
      recordHello: async (node, at, data) => {
        seen.push([node, at, data]);
      },
    });
    await expect(REQHello.handler(ctx)).resolves.toEqual({});
    await REQHello.handler(ctx);
    expect(seen).toEqual([
      ['node4', 1_700_000_000_000, 'v1.2'],
      ['node4', 1_700_000_000_000, 'v1.2'],
    ]);
    expect(REQHello.idempotent).toBe(true);
    expect(REQHello.replies).toBe(false);
  });

  it('accepts a hello on a node that does not record them', async () => {
    await expect(REQHello.handler(testContext({ filesDir, message: testMessage({ method: 'REQHello' }) }))).resolves.toEqual({});
  });

  it('passes on a failure to record', async () => {
    const ctx = testContext({
      filesDir,
      message: testMessage({ method: 'REQHello' }),
      recordHello: async () => {
        throw new BosunError('BOSUN_STORE_CLOSED', 'store is closed');
      },
    });
    await expect(REQHello.handler(ctx)).rejects.toMatchObject({ code: 'BOSUN_STORE_CLOSED' });
  });
});

describe('REQErrorLog', () => {
  it('appends one line per error: ISO time, node, data', async () => {
    const log = (fromNode: string, acceptedAt: number, data: string) =>
      REQErrorLog.handler(testContext({ filesDir, message: testMessage({ method: 'REQErrorLog', fromNode, acceptedAt, data }) }));
    await expect(log('node1', Date.UTC(2025, 4, 6, 7, 8, 9, 10), 'disk full')).resolves.toEqual({});
    await log('node2', Date.UTC(2025, 4, 6, 7, 8, 10), 'BOSUN_METHOD_FAILED: exited with code 1\noutput:\nboom\n');
    expect(await readFile(path.join(filesDir, 'errorLog', 'error.log'), 'utf8')).toBe(
      '2025-05-06T07:08:09.010Z node1 disk full\n' +
        '2025-05-06T07:08:10.000Z node2 BOSUN_METHOD_FAILED: exited with code 1\\noutput:\\nboom\n',
    );
    expect(REQErrorLog.replies).toBe(false);
  });
});

describe('MethodRegistry', () => {
  it('holds every built-in method by name', () => {
    const registry = new MethodRegistry(builtinMethods({ stdout: sink(), stderr: sink() }));
    expect(registry.list().map((m) => m.name)).toEqual([
      'REQCliCommand',
      'REQCopyChunk',
      'REQCopyDone',
      'REQCopyFile',
      'REQCopyReceipt',
      'REQErrorLog',
      'REQHello',
      'REQHttpGet',
      'REQnCliCommand',
      'REQnCliCommandCont',
      'REQnNone',
      'REQNone',
      'REQnRelay',
      'REQOpCommand',
      'REQPing',
      'REQPong',
      'REQRelay',
      'REQTailFile',
      'REQToConsole',
      'REQToFile',
      'REQToFileAppend',
    ]);
    expect(registry.get('REQPing')).toBe(REQPing);
    expect(registry.has('REQToFile')).toBe(true);
    for (const method of registry.list()) expect(method.summary).not.toBe('');
  });

  it('returns undefined for an unknown method', () => {
    const registry = new MethodRegistry();
    expect(registry.get('REQNoSuchThing')).toBeUndefined();
    expect(registry.has('REQNoSuchThing')).toBe(false);
  });

  it('refuses a second method under the same name', () => {
    const registry = new MethodRegistry().register(REQPing);
    expect(() => registry.register({ ...REQPing })).toThrow(
      expect.objectContaining({ code: 'BOSUN_BAD_CONFIG', message: 'method REQPing is registered twice' }),
    );
  });
});
