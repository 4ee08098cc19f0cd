import { describe, expect, it } from 'vitest';
import { BosunError } from '../src/errors.ts';
import { REQCliCommand, REQnCliCommand, cliCommandMethod } from '../src/methods/cliCommand.ts';
import { runCommand } from '../src/methods/exec.ts';
import { testContext, testMessage } from './support/methods.ts';
import type { MethodContext } from '../src/methods/types.ts';
import { failure } from './helpers/failure.ts';
import { isGone } from './helpers/processGone.ts';

const filesDir = '/nonexistent-files-dir';

function cli(methodArgs: string[], fields: Partial<MethodContext> & { methodTimeout?: number } = {}): MethodContext {
  const { methodTimeout = 10, ...rest } = fields;
  return testContext({ filesDir, message: testMessage({ methodArgs, methodTimeout }), ...rest });
}

/**
 * Waits for each pid to be gone. The group was signalled before the command's pipes closed,
 * but a process that has closed its files may take the kernel a moment more to end.
 */
async function expectAllGone(pids: number[]): Promise<void> {
  const until = Date.now() + 5000;
  while (pids.some((pid) => !isGone(pid)) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  for (const pid of pids) expect(isGone(pid), `pid ${pid} still running`).toBe(true);
}

function pidsIn(text: string): number[] {
  return [...text.matchAll(/^pid (\d+)$/gm)].map((m) => Number(m[1]));
}

// Starts two background sleeps and waits for them; prints the shell's and both sleeps' pids.
const TWO_SLEEPS = ['sh', '-c', 'echo pid $$; sleep 30 & echo pid $!; sleep 30 & echo pid $!; wait'];

describe('REQCliCommand', () => {
  it('replies with the output of the command', async () => {
    await expect(REQCliCommand.handler(cli(['echo', 'hello', 'world']))).resolves.toEqual({ output: 'hello world\n' });
  });

  it('passes arguments to the program untouched, with no shell in between', async () => {
    const result = await REQCliCommand.handler(cli(['echo', '$HOME;ls', '`id`', '*']));
    expect(result.output).toBe('$HOME;ls `id` *\n');
  });

  it('collects stdout and stderr together', async () => {
    const result = await REQCliCommand.handler(cli(['sh', '-c', 'echo to-out; echo to-err >&2']));
    expect(result.output).toBe('to-out\nto-err\n');
  });

  it('runs without a time limit when methodTimeout is -1', async () => {
    await expect(REQCliCommand.handler(cli(['echo', 'unlimited'], { methodTimeout: -1 }))).resolves.toEqual({
      output: 'unlimited\n',
    });
  });

  it('needs a command in methodArgs', async () => {
    const err = await failure(REQCliCommand.handler(cli([])));
    expect(err.code).toBe('BOSUN_BAD_MESSAGE');
    expect(err.message).toBe('REQCliCommand needs the command in methodArgs (or data)');
  });

  it('reports a non-zero exit as one error carrying the exit code and the output', async () => {
    const err = await failure(REQCliCommand.handler(cli(['sh', '-c', 'echo partial result; echo broken >&2; exit 3'])));
    expect(err.code).toBe('BOSUN_METHOD_FAILED');
    expect(err.message).toContain('exited with code 3');
    expect(err.message).toContain('partial result\nbroken\n');
  });

  it('reports a command killed by a signal', async () => {
    const err = await failure(REQCliCommand.handler(cli(['sh', '-c', 'kill -KILL $$'])));
    expect(err.code).toBe('BOSUN_METHOD_FAILED');
    expect(err.message).toContain('was killed by SIGKILL');
  });

  it('reports a missing program as command not found', async () => {
    const err = await failure(REQCliCommand.handler(cli(['bosun-no-such-program-xyz', 'arg'])));
    expect(err.code).toBe('BOSUN_METHOD_FAILED');
    expect(err.message).toBe('command not found: bosun-no-such-program-xyz');
  });

  it('kills the whole process group at methodTimeout, background children included', { timeout: 30_000 }, async () => {
    // SIGTERM is enough: with a SIGKILL grace far longer than the test's timeout, the
    // command could not end in time otherwise.
    const method = cliCommandMethod('REQCliCommand', { killGraceMs: 120_000 });
    const err = await failure(method.handler(cli(TWO_SLEEPS, { methodTimeout: 0.5 })));

    expect(err.code).toBe('BOSUN_METHOD_TIMEOUT');
    expect(err.message).toMatch(/^command timed out after 0\.5s; its process group was killed\noutput so far:\n/);
    const pids = pidsIn(err.message);
    expect(pids).toHaveLength(3);
    await expectAllGone(pids);
  });

  it('stops the command when the signal aborts, keeping a BosunError reason', async () => {
    const controller = new AbortController();
    const running = REQCliCommand.handler(cli(TWO_SLEEPS, { signal: controller.signal }));
    setTimeout(() => controller.abort(new BosunError('BOSUN_NODE_STOPPING', 'node1 is shutting down')), 500);
    const err = await failure(running);

    expect(err.code).toBe('BOSUN_NODE_STOPPING');
    expect(err.message).toMatch(/^command was stopped: node1 is shutting down; its process group was killed/);
    const pids = pidsIn(err.message);
    expect(pids).toHaveLength(3);
    await expectAllGone(pids);
  });

  it('reports an abort without a BosunError reason as an interruption', async () => {
    const controller = new AbortController();
    const running = REQCliCommand.handler(cli(['sleep', '30'], { signal: controller.signal }));
    setTimeout(() => controller.abort(), 100);
    const err = await failure(running);
    expect(err.code).toBe('BOSUN_INTERRUPTED');
    expect(err.message).toContain('its process group was killed');
  });

  it('keeps at most maxOutputBytes of output and says it cut the rest', async () => {
    const method = cliCommandMethod('REQCliCommand', { maxOutputBytes: 1000 });
    const result = await method.handler(cli(['sh', '-c', 'yes | head -c 100000']));
    const output = result.output!;
    expect(output.slice(0, 1000)).toBe('y\n'.repeat(500));
    expect(output.slice(1000)).toBe('\n[bosun: output truncated after 1000 bytes]');
  });
});

describe('REQnCliCommand', () => {
  it('is the same command runner under the concurrent name', async () => {
    expect(REQnCliCommand.name).toBe('REQnCliCommand');
    expect(REQnCliCommand.idempotent).toBe(false);
    await expect(REQnCliCommand.handler(cli(['echo', 'n']))).resolves.toEqual({ output: 'n\n' });
    const err = await failure(REQnCliCommand.handler(cli([])));
    expect(err.message).toBe('REQnCliCommand needs the command in methodArgs (or data)');
  });
});

describe('runCommand', () => {
  it('reports exit code, signal and flags of a finished command', async () => {
    await expect(runCommand(['sh', '-c', 'printf abc; exit 7'])).resolves.toEqual({
      exitCode: 7,
      signal: null,
      output: 'abc',
      timedOut: false,
      aborted: false,
      truncated: false,
    });
  });

  it('escalates to SIGKILL when the group ignores SIGTERM', async () => {
    const started = Date.now();
    const result = await runCommand(['sh', '-c', 'trap "" TERM; echo pid $$; sleep 30 & echo pid $!; wait'], {
      timeoutMs: 200,
      killGraceMs: 300,
    });
    expect(result.timedOut).toBe(true);
    expect(result.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    const pids = pidsIn(result.output);
    expect(pids).toHaveLength(2);
    await expectAllGone(pids);
  });

  it('does not start a command whose signal has already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const result = await runCommand(['sh', '-c', 'echo ran'], { signal: controller.signal });
    expect(result).toMatchObject({ aborted: true, exitCode: null, output: '' });
  });

  it('runs in the given working directory with the given environment', async () => {
    const result = await runCommand(['sh', '-c', 'pwd; echo "$BOSUN_TEST_VAR"'], {
      cwd: '/',
      env: { PATH: process.env.PATH, BOSUN_TEST_VAR: 'from-test' },
    });
    expect(result.output).toBe('/\nfrom-test\n');
  });
});
