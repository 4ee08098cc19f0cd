import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { resolveStartConfig, type ConfigSources } from '../src/cli/config.ts';
import type { CliIo } from '../src/cli/io.ts';
import { runCli } from '../src/cli/main.ts';
import { formatTree } from '../src/cli/tree.ts';
import { COMMAND_USAGE, MAIN_USAGE } from '../src/cli/usage.ts';
import { runBosun } from './helpers/daemon.ts';

/** The command line: usage, help, errors, and how settings are resolved. */

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (write: (t: string) => void) => {
    const stream = new PassThrough();
    stream.setEncoding('utf8').on('data', write);
    return stream;
  };
  const io: CliIo = {
    stdin: new PassThrough(),
    stdout: sink((t) => (stdout += t)),
    stderr: sink((t) => (stderr += t)),
    env: {},
    cwd: '/nonexistent-cwd',
    help(command) {
      stdout += (command && COMMAND_USAGE[command]) || MAIN_USAGE;
      return 0;
    },
  };
  const code = await runCli(argv, io);
  await new Promise((r) => setImmediate(r));
  return { code, stdout, stderr };
}

describe('bosun help and errors', () => {
  it('prints usage for --help, help, and help COMMAND; exit 0', async () => {
    expect(await cli('--help')).toEqual({ code: 0, stdout: MAIN_USAGE, stderr: '' });
    expect(await cli('help')).toEqual({ code: 0, stdout: MAIN_USAGE, stderr: '' });
    expect(await cli('help', 'send')).toEqual({ code: 0, stdout: COMMAND_USAGE.send, stderr: '' });
    for (const command of ['start', 'send', 'tree']) {
      expect(await cli(command, '--help')).toEqual({ code: 0, stdout: COMMAND_USAGE[command], stderr: '' });
      expect((await cli(command, '-h')).stdout).toBe(COMMAND_USAGE[command]);
    }
  });

  it('prints the version from package.json', async () => {
    const { version } = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../package.json'), 'utf8')) as { version: string };
    expect(await cli('--version')).toEqual({ code: 0, stdout: `bosun ${version}\n`, stderr: '' });
  });

  it.each([
    [['frobnicate'], 'bosun: unknown command "frobnicate"\n\n' + MAIN_USAGE],
    [[], 'bosun: no command given\n\n' + MAIN_USAGE],
    [['--frob'], 'bosun: unknown option "--frob"; options come after the command\n\n' + MAIN_USAGE],
    [['help', 'frob'], 'bosun: no help for "frob": there is no such command\n\n' + MAIN_USAGE],
    [['send', '--frob', 'x'], 'bosun: unknown option "--frob" for bosun send\n\n' + COMMAND_USAGE.send],
    [['send', '--node'], 'bosun: option --node needs a value\n\n' + COMMAND_USAGE.send],
    [['send', '--node', 'a'], 'bosun: say what to send: a FILE, or - for stdin\n\n' + COMMAND_USAGE.send],
    [['send', 'file.json'], 'bosun: say which daemon: --node NAME or --data-dir DIR\n\n' + COMMAND_USAGE.send],
    [['tree', '--json=yes', '--node', 'a'], 'bosun: option --json takes no value\n\n' + COMMAND_USAGE.tree],
    [['tree', 'extra'], 'bosun: unexpected argument "extra" for bosun tree\n\n' + COMMAND_USAGE.tree],
    [['start', '--node', 'a', '--verbose'], 'bosun: unknown option "--verbose" for bosun start\n\n' + COMMAND_USAGE.start],
  ])('bosun %j: a clear error and the usage, exit 2', async (argv, stderr) => {
    expect(await cli(...argv)).toEqual({ code: 2, stdout: '', stderr });
  });

  it('works as a process: node bin/bosun.js --version', async () => {
    const result = await runBosun(['--version']);
    expect(result).toMatchObject({ code: 0, stdout: expect.stringMatching(/^bosun \d+\.\d+\.\d+\n$/), stderr: '' });
  });

  it('as a process, an unknown command exits 2 with the usage on stderr', async () => {
    const result = await runBosun(['launch']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('bosun: unknown command "launch"');
    expect(result.stdout).toBe('');
  });
});

describe('bosun start settings', () => {
  const sources = (over: Partial<ConfigSources>): ConfigSources => ({ flags: {}, env: {}, cwd: '/work', ...over });
  const file = (content: object) => ({ path: '/etc/bosun/bosun.json', text: JSON.stringify(content) });

  it('defaults the data dir to ./.bosun/<node> and the log level to info', () => {
    expect(resolveStartConfig(sources({ flags: { node: 'ship1' } }))).toMatchObject({ node: 'ship1', dataDir: '/work/.bosun/ship1', logLevel: 'info' });
  });

  it('ranks flags over environment over config file', () => {
    const all = { node: 'file', 'data-dir': 'file-dir', nats: 'nats://file:4222', central: 'file-central' };
    const fromFile = resolveStartConfig(sources({ file: file(all) }));
    expect(fromFile).toMatchObject({ node: 'file', dataDir: '/etc/bosun/file-dir', nats: ['nats://file:4222'], central: 'file-central' });

    const env = { BOSUN_NODE: 'env', BOSUN_DATA_DIR: 'env-dir', BOSUN_NATS: 'env:4222', BOSUN_CENTRAL: 'env-central' };
    const fromEnv = resolveStartConfig(sources({ file: file(all), env }));
    expect(fromEnv).toMatchObject({ node: 'env', dataDir: '/work/env-dir', nats: ['env:4222'], central: 'env-central' });

    const flags = { node: 'flag', 'data-dir': '/abs/dir', nats: 'nats://a:1,nats://b:2', central: 'flag-central' };
    expect(resolveStartConfig(sources({ file: file(all), env, flags }))).toMatchObject({
      node: 'flag',
      dataDir: '/abs/dir',
      nats: ['nats://a:1', 'nats://b:2'],
      central: 'flag-central',
    });
  });

  it('takes numbers and lists in the config file', () => {
    const config = resolveStartConfig(sources({ file: file({ node: 'n', 'hello-interval': 2.5, nats: ['a:1', 'b:2'], 'log-level': 'debug' }) }));
    expect(config).toMatchObject({ helloIntervalSeconds: 2.5, nats: ['a:1', 'b:2'], logLevel: 'debug' });
  });

  it.each([
    [{ flags: {} }, 'node is not set: give --node NAME (or $BOSUN_NODE, or "node" in the config file)'],
    [{ flags: { node: 'a/b' } }, 'node (--node) is "a/b"; a node name may only hold letters, digits, "-" and "_" (at most 128)'],
    [{ env: { BOSUN_NODE: 'x', BOSUN_CENTRAL: 'c d' } }, 'central ($BOSUN_CENTRAL) is "c d"; a node name may only hold letters, digits, "-" and "_" (at most 128)'],
    [{ flags: { node: 'x', 'hello-interval': '-1' } }, 'hello-interval (--hello-interval) must be a number of seconds, 0 or more; got "-1"'],
    [{ flags: { node: 'x', 'log-level': 'loud' } }, 'log-level (--log-level) must be one of fatal, error, warn, info, debug, trace, silent; got "loud"'],
    [{ flags: { node: 'x', nats: 'http://h:1' } }, 'nats (--nats) has "http://h:1", which is not a server URL like nats://127.0.0.1:4222'],
    [{ file: { path: '/c.json', text: '{"node": "x", "port": 1}' } }, 'unknown key "port" in /c.json; "bosun start --help" lists the keys'],
    [{ file: { path: '/c.json', text: '{"node": 7}' } }, 'node ("node" in /c.json) must be a non-empty string'],
    [{ file: { path: '/c.json', text: '["node"]' } }, 'the config file /c.json must hold a JSON object'],
    [{ file: { path: '/c.json', text: '{"node":' } }, expect.stringMatching(/^the config file \/c\.json is not valid JSON: /)],
  ])('refuses %j naming the key and where it came from', (over, message) => {
    expect(() => resolveStartConfig(sources(over as Partial<ConfigSources>))).toThrow(expect.objectContaining({ code: 'BOSUN_BAD_CONFIG', message }));
  });
});

describe('bosun tree output', () => {
  it('indents children and shows kind, state, restarts and info', () => {
    const text = formatTree({
      id: 'ship1',
      kind: 'supervisor',
      state: 'running',
      restarts: 0,
      children: [
        { id: 'store', kind: 'worker', state: 'open', restarts: 2, children: [] },
        {
          id: 'outbound',
          kind: 'supervisor',
          state: 'running',
          restarts: 0,
          children: [{ id: 'ship1~ship2~REQCliCommand', kind: 'worker', state: 'flowing', restarts: 0, children: [], info: { inFlight: 3, note: 'two words', ordered: true, 'a key': { n: 1 } } }],
        },
      ],
    });
    expect(text).toBe(
      [
        'ship1 [supervisor] running restarts=0',
        '  store [worker] open restarts=2',
        '  outbound [supervisor] running restarts=0',
        '    ship1~ship2~REQCliCommand [worker] flowing restarts=0 inFlight=3 note="two words" ordered=true "a key"={"n":1}',
        '',
      ].join('\n'),
    );
  });
});
