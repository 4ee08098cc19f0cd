import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withBareBooleans } from '../src/cli/config.ts';
import { COMMAND_USAGE } from '../src/cli/usage.ts';
import { CONFIG_KEYS, METHOD_SWITCH_KEYS, STATIC_KEYS } from '../src/config/keys.ts';
import { loadConfig } from '../src/config/load.ts';
import { locateConfigFile, MASK, resolveConfig, type ConfigSources, type ResolvedConfig } from '../src/config/resolve.ts';
import { saveFlagsToConfigFile } from '../src/config/writeBack.ts';
import { runBosun, tempDir, waitForFile } from './helpers/daemon.ts';
import { daemonsPerTest } from './helpers/daemonsPerTest.ts';

/**
 * Settings of `bosun start`: defaults < config file < environment < flags; flags saved
 * back to the config file (secrets never); booleans that mean what they say.
 */
const sources = (over: Partial<ConfigSources> = {}): ConfigSources => ({ flags: { node: 'n1' }, env: {}, cwd: '/work', ...over });
const file = (content: object, filePath = '/etc/bosun/config.json') => ({ path: filePath, text: JSON.stringify(content) });
const setting = (resolved: ResolvedConfig, key: string) => resolved.settings.find((s) => s.key === key)!;

const startDaemon = daemonsPerTest();

describe('precedence', () => {
  it('takes each key from the highest source: flag over environment over file over default', () => {
    const resolved = resolveConfig(
      sources({
        file: file({ 'ack-timeout': 7, retries: 2, 'retry-wait': 3, 'method-timeout': 20 }),
        env: { BOSUN_RETRIES: '4', BOSUN_RETRY_WAIT: '5' },
        flags: { node: 'n1', 'retry-wait': '6' },
      }),
    );
    expect(resolved.config.defaults).toEqual({ ACKTimeout: 7, retries: 4, retryWait: 6, methodTimeout: 20 });
    expect(['ack-timeout', 'retries', 'retry-wait', 'hello-interval'].map((k) => [k, setting(resolved, k).source, setting(resolved, k).origin])).toEqual([
      ['ack-timeout', 'file', '/etc/bosun/config.json'],
      ['retries', 'env', '$BOSUN_RETRIES'],
      ['retry-wait', 'flag', '--retry-wait'],
      ['hello-interval', 'default', undefined],
    ]);
  });

  it('defaults every setting sensibly', () => {
    expect(resolveConfig(sources()).config).toEqual({
      node: 'n1',
      dataDir: '/work/.bosun/n1',
      configDir: '/work/.bosun/n1/config',
      configFile: '/work/.bosun/n1/config/config.json',
      central: 'central',
      helloIntervalSeconds: 30,
      logLevel: 'info',
      natsAuth: {},
      inputFile: '/work/.bosun/n1/inmsg.txt',
      inputFilePollSeconds: 1,
      defaults: { ACKTimeout: 5, retries: -1, retryWait: 1, methodTimeout: 10 },
      enabledMethods: METHOD_SWITCH_KEYS.map((k) => k.method),
      secure: false,
      signingDir: '/work/.bosun/n1/keys',
      messageTtlSeconds: 604800,
      httpAllowedOrigins: [],
      httpAllowedHosts: [],
      inputMemoryBudgetBytes: 256 * 1024 * 1024,
      inputMaxConnections: 256,
      inputIdleSeconds: 30,
      acceptDedupWindowSeconds: 86400,
    });
  });

  it('reads every kind of value from the environment', () => {
    const { config } = resolveConfig(
      sources({
        flags: {},
        env: {
          BOSUN_NODE: 'envnode',
          BOSUN_DATA_DIR: 'state',
          BOSUN_NATS: 'nats://a:4222,b:4223',
          BOSUN_CENTRAL: 'hq',
          BOSUN_HELLO_INTERVAL: '2.5',
          BOSUN_TCP_LISTEN: '0.0.0.0:7000',
          BOSUN_HTTP_LISTEN: '8080',
          BOSUN_INPUT_FILE: 'off',
          BOSUN_ACK_TIMEOUT: '3',
          BOSUN_RETRIES: '0',
          BOSUN_METHOD_TIMEOUT: '-1',
          BOSUN_NATS_TLS_CA_FILE: 'ca.pem',
          BOSUN_START_SUB_REQ_CLI_COMMAND: 'false',
        },
      }),
    );
    expect(config).toMatchObject({
      node: 'envnode',
      dataDir: '/work/state',
      nats: ['nats://a:4222', 'b:4223'],
      central: 'hq',
      helloIntervalSeconds: 2.5,
      tcpListen: { host: '0.0.0.0', port: 7000 },
      httpListen: { host: '127.0.0.1', port: 8080 },
      natsAuth: { tlsCaFile: '/work/ca.pem' },
      defaults: { ACKTimeout: 3, retries: 0, methodTimeout: -1 },
    });
    expect(config.inputFile).toBeUndefined();
    expect(config.enabledMethods).not.toContain('REQCliCommand');
    expect(config.enabledMethods).toContain('REQnCliCommand');
  });

  it("takes a relative path in the config file from the file's folder, elsewhere from the working dir", () => {
    const { config } = resolveConfig(sources({ file: file({ 'data-dir': 'state', 'input-file': 'drop/in.txt' }), flags: { node: 'n1', 'nats-tls-ca-file': 'ca.pem', nats: 'h:1' } }));
    expect(config).toMatchObject({ dataDir: '/etc/bosun/state', inputFile: '/etc/bosun/drop/in.txt', natsAuth: { tlsCaFile: '/work/ca.pem' } });
  });

  it('finds the config file from flags and environment: --config, --config-dir, --data-dir, then the node', () => {
    const at = (flags: Record<string, string>, env: Record<string, string> = {}) => locateConfigFile({ flags, env, cwd: '/w' });
    expect(at({ config: 'my.json', 'config-dir': 'c', node: 'n' })).toEqual({ path: '/w/my.json', explicit: true });
    expect(at({ 'config-dir': 'c', 'data-dir': 'd' })).toEqual({ path: '/w/c/config.json', explicit: false });
    expect(at({ 'data-dir': 'd' }, { BOSUN_CONFIG_DIR: '/etc/b' })).toEqual({ path: '/etc/b/config.json', explicit: false });
    expect(at({ node: 'n' }, { BOSUN_DATA_DIR: '/var/n' })).toEqual({ path: '/var/n/config/config.json', explicit: false });
    expect(at({ node: 'n' })).toEqual({ path: '/w/.bosun/n/config/config.json', explicit: false });
    expect(at({})).toBeUndefined();
  });

  it('keeps the config dir where config.json was found, even when the file moves the data dir', () => {
    const { config } = resolveConfig(sources({ file: { ...file({ 'data-dir': '/elsewhere' }, '/w/.bosun/n1/config/config.json'), explicit: false } }));
    expect(config).toMatchObject({ dataDir: '/elsewhere', configDir: '/w/.bosun/n1/config', inputFile: '/elsewhere/inmsg.txt' });
  });

  it('needs the node name from one source only, a flag included (steward checked before reading flags)', () => {
    expect(resolveConfig(sources({ flags: { node: 'flagonly' } })).config.node).toBe('flagonly');
    expect(resolveConfig(sources({ flags: {}, file: file({ node: 'fileonly' }) })).config.node).toBe('fileonly');
    expect(resolveConfig(sources({ flags: {}, env: { BOSUN_NODE: 'envonly' } })).config.node).toBe('envonly');
  });
});

describe('booleans', () => {
  const enabled = (value: string | boolean | number, where: 'env' | 'flag' | 'file') => {
    const over: Partial<ConfigSources> =
      where === 'env'
        ? { env: { BOSUN_START_SUB_REQ_HELLO: String(value) } }
        : where === 'flag'
          ? { flags: { node: 'n1', 'start-sub-req-hello': String(value) } }
          : { file: file({ 'start-sub-req-hello': value }) };
    return resolveConfig(sources(over)).config.enabledMethods.includes('REQHello');
  };

  it.each(['false', '0', 'no', 'off', 'FALSE', ' Off ', 'No'])('reads %j as false (steward read "false" and "0" as true)', (word) => {
    expect(enabled(word, 'env')).toBe(false);
    expect(enabled(word, 'flag')).toBe(false);
  });

  it.each(['true', '1', 'yes', 'on', 'TRUE', 'On'])('reads %j as true', (word) => {
    expect(enabled(word, 'env')).toBe(true);
  });

  it('takes JSON booleans, and 0 and 1, in the config file', () => {
    expect(enabled(false, 'file')).toBe(false);
    expect(enabled(0, 'file')).toBe(false);
    expect(enabled(true, 'file')).toBe(true);
    expect(enabled(1, 'file')).toBe(true);
  });

  it('counts an empty variable as unset, so the default holds (steward read "" as true whatever the default)', () => {
    const resolved = resolveConfig(sources({ env: { BOSUN_START_SUB_REQ_HELLO: '' }, file: file({ 'start-sub-req-hello': false }) }));
    expect(resolved.config.enabledMethods).not.toContain('REQHello');
    expect(setting(resolved, 'start-sub-req-hello').source).toBe('file');
  });

  it.each([
    ['env', 'maybe', 'start-sub-req-hello ($BOSUN_START_SUB_REQ_HELLO) must be true or false (or 1/0, yes/no, on/off); got "maybe"'],
    ['env', '2', 'start-sub-req-hello ($BOSUN_START_SUB_REQ_HELLO) must be true or false (or 1/0, yes/no, on/off); got "2"'],
    ['flag', 'tru', 'start-sub-req-hello (--start-sub-req-hello) must be true or false (or 1/0, yes/no, on/off); got "tru"'],
    ['file', 'nope', 'start-sub-req-hello ("start-sub-req-hello" in /etc/bosun/config.json) must be true or false (or 1/0, yes/no, on/off); got "nope"'],
  ] as const)('refuses anything else, naming the key and its source (%s %j)', (where, value, message) => {
    const over: Partial<ConfigSources> =
      where === 'env'
        ? { env: { BOSUN_START_SUB_REQ_HELLO: value } }
        : where === 'flag'
          ? { flags: { node: 'n1', 'start-sub-req-hello': value } }
          : { file: file({ 'start-sub-req-hello': value }) };
    expect(() => resolveConfig(sources(over))).toThrow(expect.objectContaining({ code: 'BOSUN_BAD_CONFIG', message }));
  });
});

describe('boolean flags given bare', () => {
  it('mean true, before another flag or at the end; a value given stays as given', () => {
    expect(withBareBooleans(['--secure', '--node', 'x'])).toEqual(['--secure', 'true', '--node', 'x']);
    expect(withBareBooleans(['--node', 'x', '--start-sub-req-hello'])).toEqual(['--node', 'x', '--start-sub-req-hello', 'true']);
    expect(withBareBooleans(['--secure', 'false', '--secure=true', '--node', 'x'])).toEqual(['--secure', 'false', '--secure=true', '--node', 'x']);
    expect(withBareBooleans(['--secure', 'maybe'])).toEqual(['--secure', 'maybe']);
    // A flag that takes a value is left alone.
    expect(withBareBooleans(['--trust-central', '--secure'])).toEqual(['--trust-central', '--secure', 'true']);
  });

  it('work on the command line: bosun config show --secure', async () => {
    const dir = await tempDir('bosun-bare-');
    const result = await runBosun(['config', 'show', '--json', '--node', 'x', '--data-dir', path.join(dir, 'data'), '--secure', '--start-sub-req-hello']);
    expect(result.code, result.stderr).toBe(0);
    const settings = (JSON.parse(result.stdout) as { settings: Array<{ key: string; source: string; shown: string }> }).settings;
    expect(settings.find((s) => s.key === 'secure')).toMatchObject({ source: 'flag', shown: 'true' });
    expect(settings.find((s) => s.key === 'start-sub-req-hello')).toMatchObject({ source: 'flag', shown: 'true' });
  });
});

describe('routes', () => {
  it('reads NODE=RELAY pairs from a flag or the environment, and an object from the file', () => {
    expect(resolveConfig(sources({ flags: { node: 'n1', routes: 'ship2=hub, central=hub' } })).config.routes).toEqual({ ship2: 'hub', central: 'hub' });
    expect(resolveConfig(sources({ env: { BOSUN_ROUTES: 'ship3=ship1' } })).config.routes).toEqual({ ship3: 'ship1' });
    expect(resolveConfig(sources({ file: file({ routes: { central: 'hub' } }) })).config.routes).toEqual({ central: 'hub' });
    expect(resolveConfig(sources()).config.routes).toBeUndefined();
  });
});

describe('bad settings', () => {
  it.each([
    [{ file: file({ port: 1 }) }, 'unknown key "port" in /etc/bosun/config.json; "bosun start --help" lists the keys'],
    [{ file: file({ 'config-dir': '/x' }) }, '"config-dir" cannot be set in the config file /etc/bosun/config.json: it says where that file is; give --config-dir or $BOSUN_CONFIG_DIR'],
    [{ env: { BOSUN_START_SUB_REQ_FROB: 'true' } }, expect.stringMatching(/^\$BOSUN_START_SUB_REQ_FROB switches no built-in method; the switches are REQ_CLI_COMMAND, /)],
    [{ flags: { node: 'n1', 'tcp-listen': ':4000' } }, 'tcp-listen (--tcp-listen) must be HOST:PORT (a bare PORT listens on 127.0.0.1; 0.0.0.0:PORT on every interface), or off; got ":4000"'],
    [{ env: { BOSUN_HTTP_LISTEN: 'localhost:70000' } }, expect.stringMatching(/^http-listen \(\$BOSUN_HTTP_LISTEN\) must be HOST:PORT .*; got "localhost:70000"$/)],
    [{ flags: { node: 'n1', retries: '1.5' } }, 'retries (--retries) must be a whole number, 0 or more, or -1 to resend forever; got "1.5"'],
    [{ file: file({ retries: -2 }) }, 'retries ("retries" in /etc/bosun/config.json) must be a whole number, 0 or more, or -1 to resend forever; got -2'],
    [{ env: { BOSUN_ACK_TIMEOUT: '0' } }, 'ack-timeout ($BOSUN_ACK_TIMEOUT) must be a number of seconds, more than 0; got "0"'],
    [{ env: { BOSUN_ACK_TIMEOUT: '0x10' } }, 'ack-timeout ($BOSUN_ACK_TIMEOUT) must be a number of seconds, more than 0; got "0x10"'],
    [{ flags: { node: 'n1', 'method-timeout': '0' } }, 'method-timeout (--method-timeout) must be a number of seconds, more than 0, or -1 for no limit; got "0"'],
    [{ flags: { node: 'n1', 'input-file-poll': '0' } }, 'input-file-poll (--input-file-poll) must be a number of seconds, more than 0; got "0"'],
    [{ flags: { node: 'n1', 'nats-creds-file': 'x.creds' } }, 'nats-creds-file (--nats-creds-file) is set, but nats is not: give the NATS server(s) too'],
    [{ flags: { node: 'n1', nats: 'h:1', 'nats-creds-file': 'x.creds', 'nats-nkey-seed-file': 'seed' } }, 'nats-nkey-seed-file and nats-creds-file are both set; give one of them'],
    [{ env: { BOSUN_NATS: 'http://h:1' } }, 'nats ($BOSUN_NATS) has "http://h:1", which is not a server URL like nats://127.0.0.1:4222'],
    [{ flags: {} }, 'node is not set: give --node NAME (or $BOSUN_NODE, or "node" in the config file)'],
    [{ flags: { node: 'n1', routes: 'ship2' } }, 'routes (--routes) must be NODE=RELAY pairs, comma-separated, like ship2=hub,central=hub; "ship2" has no "="'],
    [{ env: { BOSUN_ROUTES: 'ship2=hub hub' } }, 'routes ($BOSUN_ROUTES) must be NODE=RELAY pairs, comma-separated, like ship2=hub,central=hub; "ship2=hub hub" does not name two nodes'],
    [{ file: file({ routes: ['ship2=hub'] }) }, 'routes ("routes" in /etc/bosun/config.json) must be NODE=RELAY pairs, comma-separated, like ship2=hub,central=hub'],
    [{ flags: { node: 'n1', routes: 'hub=hub' } }, 'routes (--routes) routes hub through itself'],
    [{ flags: { node: 'a b' } }, 'node (--node) is "a b"; a node name may only hold letters, digits, "-" and "_" (at most 128)'],
  ])('refuses %j with one message naming the key', (over, message) => {
    expect(() => resolveConfig(sources(over as Partial<ConfigSources>))).toThrow(expect.objectContaining({ code: 'BOSUN_BAD_CONFIG', message }));
  });

  it('refuses a NATS file it cannot read, and a --config file that is not there', async () => {
    const dir = await tempDir();
    await expect(loadConfig({ flags: { node: 'n', 'data-dir': dir, nats: 'h:1', 'nats-creds-file': 'missing.creds' }, env: {}, cwd: dir })).rejects.toThrow(
      expect.objectContaining({ message: `nats-creds-file (--nats-creds-file) is "${dir}/missing.creds", which cannot be read: ENOENT` }),
    );
    await expect(loadConfig({ flags: { node: 'n', config: 'nope.json' }, env: {}, cwd: dir })).rejects.toThrow(
      expect.objectContaining({ code: 'BOSUN_BAD_CONFIG', message: `cannot read the config file "${dir}/nope.json": ENOENT` }),
    );
  });

  it('fails bosun start with one line naming the key and exit code 2', async () => {
    const result = await runBosun(['start', '--node', 'bad1', '--data-dir', path.join(await tempDir(), 'bad1')], { env: { BOSUN_RETRIES: 'lots' } });
    expect(result).toEqual({ code: 2, stdout: '', stderr: 'bosun: retries ($BOSUN_RETRIES) must be a whole number, 0 or more, or -1 to resend forever; got "lots"\n' });
  });
});

describe('saving flags to the config file', () => {
  it('saves flags, keeps the rest of the file, never saves secrets, listeners or where the file is', async () => {
    const dir = await tempDir();
    const configFile = path.join(dir, 'config.json');
    await writeFile(configFile, JSON.stringify({ central: 'hq', 'nats-creds-file': '/kept/as/written.creds' }));
    const loadedFile = { path: configFile, text: await readFile(configFile, 'utf8'), explicit: true };
    const resolved = resolveConfig({
      flags: { node: 'n1', 'data-dir': 'rel', nats: 'nats://h:1', 'nats-nkey-seed-file': 'seed.nk', 'config-dir': 'cfg', 'tcp-listen': '9000', 'start-sub-req-ping': 'off' },
      env: { BOSUN_RETRIES: '3' },
      cwd: dir,
      file: { ...loadedFile, text: JSON.stringify({ central: 'hq' }) },
    });
    const saved = await saveFlagsToConfigFile(loadedFile, resolved.settings);
    expect(saved).toEqual(['node', 'data-dir', 'nats', 'start-sub-req-ping']);
    expect(JSON.parse(await readFile(configFile, 'utf8'))).toEqual({
      central: 'hq',
      'nats-creds-file': '/kept/as/written.creds',
      node: 'n1',
      'data-dir': path.join(dir, 'rel'),
      nats: 'nats://h:1',
      'start-sub-req-ping': false,
    });
    // The same flags again change nothing, so nothing is written.
    expect(await saveFlagsToConfigFile({ ...loadedFile, text: await readFile(configFile, 'utf8') }, resolved.settings)).toEqual([]);
  });

  it('makes flags the next start’s defaults, listeners excepted; deleting the file brings the defaults back', async () => {
    const first = await startDaemon({ node: 'wb1', args: ['--tcp-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--retries', '3'] });
    expect(first.logs.find((l) => l.msg === 'saved the settings given as flags to the config file')).toMatchObject({
      keys: ['node', 'data-dir', 'hello-interval', 'retries'],
    });
    const shownFlags = await runBosun(['config', 'show', '--node', 'wb1', '--data-dir', first.dataDir, '--tcp-listen', '7000']);
    expect(shownFlags.stdout).toMatch(/^tcp-listen\s+127\.0\.0\.1:7000\s+flag \(--tcp-listen\), this start only: not saved$/m);
    await first.stop();
    const configFile = path.join(first.dataDir, 'config', 'config.json');
    expect(JSON.parse(await readFile(configFile, 'utf8'))).toEqual({ node: 'wb1', 'data-dir': first.dataDir, 'hello-interval': 0, retries: 3 });

    // Only where the data dir is: the rest comes from the file, and no listener opens again.
    const second = await startDaemon({ rawArgs: ['--data-dir', first.dataDir] });
    expect(second.node).toBe('wb1');
    expect(second.started.tcp).toBeUndefined();
    expect(second.started.http).toBeUndefined();
    expect(second.logs.some((l) => l.msg === 'saved the settings given as flags to the config file')).toBe(false);
    await second.stop();

    await rm(configFile);
    const shown = await runBosun(['config', 'show', '--json', '--node', 'wb1', '--data-dir', first.dataDir]);
    const settings = (JSON.parse(shown.stdout) as { settings: Array<{ key: string; shown: string; source: string }> }).settings;
    expect(settings.find((s) => s.key === 'tcp-listen')).toEqual({ key: 'tcp-listen', shown: 'off', source: 'default' });
    expect(settings.find((s) => s.key === 'retries')).toEqual({ key: 'retries', shown: '-1', source: 'default' });
  });

  it('starts with a secret given as a flag and does not save it', async () => {
    const dir = await tempDir();
    const seed = path.join(dir, 'node.nk');
    await writeFile(seed, 'SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4\n');
    // No broker there: the daemon starts all the same and connects in the background.
    const daemon = await startDaemon({ node: 'wb2', args: ['--nats', 'nats://127.0.0.1:9', '--nats-nkey-seed-file', seed] });
    const saved = JSON.parse(await readFile(path.join(daemon.dataDir, 'config', 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({ nats: 'nats://127.0.0.1:9' });
    expect(saved).not.toHaveProperty('nats-nkey-seed-file');
  });
});

describe('method switches', () => {
  it('serve only the methods switched on; a message for one switched off is answered BOSUN_UNKNOWN_METHOD', async () => {
    const daemon = await startDaemon({ node: 'sw1', args: ['--start-sub-req-cli-command', 'off'], env: { BOSUN_START_SUB_REQ_TO_CONSOLE: '0' } });
    expect(daemon.started.methods).not.toContain('REQCliCommand');
    expect(daemon.started.methods).not.toContain('REQToConsole');
    expect(daemon.started.methods).toContain('REQnCliCommand');
    const send = (method: string) =>
      runBosun(['send', '--data-dir', daemon.dataDir, '-'], { input: JSON.stringify({ toNode: 'sw1', method, methodArgs: ['echo', method] }) });
    expect((await send('REQCliCommand')).code).toBe(0);
    expect((await send('REQnCliCommand')).code).toBe(0);
    const results = path.join(daemon.dataDir, 'files');
    expect(await waitForFile(path.join(results, 'REQnCliCommand', 'sw1', 'REQnCliCommand.result'), 15_000)).toBe('REQnCliCommand\n');
    expect(await waitForFile(path.join(results, 'REQCliCommand', 'sw1', 'REQCliCommand.result.error'), 15_000)).toMatch(
      /BOSUN_UNKNOWN_METHOD: node sw1 does not serve method REQCliCommand/,
    );
  });
});

describe('bosun config show', () => {
  it('prints each setting, its value and where it came from, secrets masked', async () => {
    const dir = await tempDir();
    const creds = path.join(dir, 'user.creds');
    await writeFile(creds, 'not checked by show');
    await mkdir(path.join(dir, 'data', 'config'), { recursive: true });
    await writeFile(path.join(dir, 'data', 'config', 'config.json'), JSON.stringify({ central: 'hq', 'hello-interval': 10 }));
    const result = await runBosun(['config', 'show', '--data-dir', 'data', '--nats', 'nats://h:4222', '--nats-creds-file', creds], {
      cwd: dir,
      env: { BOSUN_NODE: 'shown', BOSUN_HELLO_INTERVAL: '12' },
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const rows = new Map(
      result.stdout
        .trim()
        .split('\n')
        .slice(2)
        .map((line) => {
          const [key, value, ...source] = line.split(/\s{2,}/);
          return [key!, [value, source.join(' ')]] as const;
        }),
    );
    expect(result.stdout.split('\n')[0]).toBe(`config file: ${path.join(dir, 'data', 'config', 'config.json')}`);
    expect(rows.get('node')).toEqual(['shown', 'env ($BOSUN_NODE)']);
    expect(rows.get('data-dir')).toEqual([path.join(dir, 'data'), 'flag (--data-dir)']);
    expect(rows.get('central')).toEqual(['hq', 'file']);
    expect(rows.get('hello-interval')).toEqual(['12', 'env ($BOSUN_HELLO_INTERVAL)']);
    expect(rows.get('nats-creds-file')).toEqual([MASK, 'flag (--nats-creds-file)']);
    expect(rows.get('ack-timeout')).toEqual(['5', 'default']);
    expect(rows.get('input-file')).toEqual([path.join(dir, 'data', 'inmsg.txt'), 'default']);
    expect(result.stdout).not.toContain(creds);
    expect(rows.size).toBe(CONFIG_KEYS.length);
    // Showing writes nothing.
    expect(JSON.parse(await readFile(path.join(dir, 'data', 'config', 'config.json'), 'utf8'))).toEqual({ central: 'hq', 'hello-interval': 10 });
  });

  it('refuses bad settings as start does, exit 2', async () => {
    const result = await runBosun(['config', 'show', '--node', 'x', '--ack-timeout', 'soon']);
    expect(result).toEqual({ code: 2, stdout: '', stderr: 'bosun: ack-timeout (--ack-timeout) must be a number of seconds, more than 0; got "soon"\n' });
  });
});

describe('documentation', () => {
  it('bosun start --help lists every key with its default and environment variable', () => {
    const help = COMMAND_USAGE.start!;
    const literal = (text: string) => text.replace(/[()<>.\\/[\]]/g, '\\$&');
    for (const key of STATIC_KEYS) {
      expect(help).toMatch(new RegExp(`--${key.key} ${literal(key.arg)}\\s+\\$${key.env}\\s+default ${literal(key.defaultText)}\\n`));
    }
    for (const key of METHOD_SWITCH_KEYS) expect(help).toContain(`--${key.key} [BOOL]`);
  });

  it('docs/configuration.md has a row for every key', () => {
    const doc = readFileSync(path.resolve(import.meta.dirname, '../docs/configuration.md'), 'utf8');
    for (const key of STATIC_KEYS) {
      expect(doc).toMatch(new RegExp(`^\\| \`${key.key}\` \\| \`--${key.key} ${key.arg.replace(/[[\]]/g, '\\$&')}\` \\| \`${key.env}\` \\|`, 'm'));
    }
    expect(doc).toContain('BOSUN_START_SUB_<METHOD>');
  });
});
