import { afterEach, describe, expect, it } from 'vitest';
import { BosunError } from '../src/errors.ts';
import type { Message } from '../src/message.ts';
import { runCommand } from '../src/methods/exec.ts';
import { LineSplitter } from '../src/methods/lineSplitter.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { until } from './helpers/until.ts';
import { isGone } from './helpers/processGone.ts';
import { replyCollector } from './helpers/recorder.ts';

const nodes: BosunNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
});

async function fleet(): Promise<{ central: BosunNode; ship1: BosunNode; replies: Message[] }> {
  const bus = new EmbeddedBus();
  const { method, replies } = replyCollector();
  const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: [method] });
  const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0 });
  nodes.push(central, ship1);
  return { central, ship1, replies };
}

function stream(methodArgs: string[], methodTimeout = 10): Record<string, unknown> {
  return { toNode: 'ship1', method: 'REQnCliCommandCont', methodArgs, methodTimeout, replyMethod: 'REQTestCollect' };
}

const isError = (m: Message): boolean => m.fileName?.endsWith('.error') === true;

describe('REQnCliCommandCont', () => {
  it('sends each stdout and stderr line as its own reply, in arrival order, then the exit code', async () => {
    const { central, replies } = await fleet();
    await central.send(stream(['sh', '-c', 'echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; printf "out2\\nno newline"']));
    await until(() => replies.length >= 4);
    expect(replies.map((r) => r.data)).toEqual(['out1', 'err1', 'out2', 'no newline', '[bosun: command sh exited with code 0]']);
    expect(replies.every((r) => r.isReply && r.fromNode === 'ship1' && !isError(r))).toBe(true);
    expect(replies.every((r) => r.fileName === 'REQnCliCommandCont.result')).toBe(true);
  });

  it('sends a line while the command is still running', async () => {
    const { central, replies } = await fleet();
    await central.send(stream(['sh', '-c', 'echo first; sleep 2; echo second']));
    await until(() => replies.length >= 1);
    expect(replies.map((r) => r.data)).toEqual(['first']);
    await until(() => replies.length >= 3);
    expect(replies.map((r) => r.data)).toEqual(['first', 'second', '[bosun: command sh exited with code 0]']);
  });

  it('keeps every line of a chatty command, once each and in order', async () => {
    const { central, replies } = await fleet();
    await central.send(stream(['seq', '1', '3000'], 20));
    await until(() => replies.length >= 3001, 20_000);
    const lines = replies.map((r) => r.data);
    expect(lines.slice(0, 3000)).toEqual(Array.from({ length: 3000 }, (_, i) => String(i + 1)));
    expect(lines[3000]).toBe('[bosun: command seq exited with code 0]');
  });

  it('at methodTimeout kills the process group and sends a notice as the last reply', async () => {
    const { central, replies } = await fleet();
    await central.send(stream(['sh', '-c', 'echo started; sleep 30 & echo pid $!; wait'], 2));
    await until(() => replies.length >= 3);
    expect(replies[0]!.data).toBe('started');
    const pid = Number(/^pid (\d+)$/.exec(replies[1]!.data!)![1]);
    expect(replies[2]!.data).toBe("[bosun: methodTimeout 2s reached; command sh and its process group were killed]");
    expect(replies.some(isError)).toBe(false);
    await until(() => isGone(pid), 5000);
    await new Promise((r) => setTimeout(r, 300));
    expect(replies).toHaveLength(3);
  });

  it('reports a non-zero exit as an error after the lines', async () => {
    const { central, replies } = await fleet();
    await central.send(stream(['sh', '-c', 'echo partial; exit 3']));
    await until(() => replies.length >= 2);
    expect(replies[0]!.data).toBe('partial');
    expect(isError(replies[1]!)).toBe(true);
    expect(replies[1]!.data).toBe('error BOSUN_METHOD_FAILED: command sh exited with code 3');
  });

  it('refuses a message without a command, naming methodArgs', async () => {
    const { central, replies } = await fleet();
    await central.send(stream([]));
    await until(() => replies.length >= 1);
    expect(replies[0]!.data).toMatch(/^error BOSUN_BAD_MESSAGE: .*methodArgs\[0\] is the program/);
  });

  it('answers a missing program with an error', async () => {
    const { central, replies } = await fleet();
    await central.send(stream(['/no/such/program']));
    await until(() => replies.length >= 1);
    expect(replies[0]!.data).toBe('error BOSUN_METHOD_FAILED: command not found: /no/such/program');
  });
});

describe('runCommand with onLine', () => {
  it('hands lines over one at a time: the next waits for the previous promise', async () => {
    const seen: string[] = [];
    let active = 0;
    let overlapped = false;
    const result = await runCommand(['sh', '-c', 'for i in 1 2 3 4 5; do echo $i; done'], {
      onLine: async (line, stream) => {
        active++;
        if (active > 1) overlapped = true;
        await new Promise((r) => setTimeout(r, 10));
        seen.push(`${stream}:${line}`);
        active--;
      },
    });
    expect(result.exitCode).toBe(0);
    expect(result.output).toBe('');
    expect(overlapped).toBe(false);
    expect(seen).toEqual(['stdout:1', 'stdout:2', 'stdout:3', 'stdout:4', 'stdout:5']);
  });

  it('kills the command when onLine fails and rejects with that error', async () => {
    const started = Date.now();
    const failure = new BosunError('BOSUN_STORE_WRITE_FAILED', 'disk full');
    const err = await runCommand(['sh', '-c', 'echo a; sleep 30'], { onLine: async () => Promise.reject(failure) }).catch((e: unknown) => e);
    expect(err).toBe(failure);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('LineSplitter', () => {
  it('keeps a UTF-8 character split across chunks whole and drops CR before LF', () => {
    const splitter = new LineSplitter();
    const bytes = Buffer.from('blåbær\r\nnext', 'utf8');
    const lines = [...splitter.push(bytes.subarray(0, 3)), ...splitter.push(bytes.subarray(3))];
    expect(lines).toEqual(['blåbær']);
    expect(splitter.end()).toEqual(['next']);
    expect(splitter.end()).toEqual([]);
  });

  it('cuts a line longer than the limit into pieces, with or without a newline', () => {
    const splitter = new LineSplitter(4);
    expect(splitter.push(Buffer.from('abcdefghij\nxy'))).toEqual(['abcd', 'efgh', 'ij']);
    expect(splitter.push(Buffer.from('z1234'))).toEqual(['xyz1']);
    expect(splitter.end()).toEqual(['234']);
  });

  it('passes empty lines on', () => {
    const splitter = new LineSplitter();
    expect(splitter.push(Buffer.from('\n\na\n'))).toEqual(['', '', 'a']);
  });
});
