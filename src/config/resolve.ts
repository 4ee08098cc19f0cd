import path from 'node:path';
import type { MessageDefaults } from '../message.ts';
import {
  CONFIG_FILE_NAME,
  CONFIG_KEYS,
  configKey,
  DEFAULT_CENTRAL,
  DEFAULT_HELLO_INTERVAL_SECONDS,
  DEFAULT_INPUT_FILE_POLL_SECONDS,
  INPUT_FILE_NAME,
  METHOD_SWITCH_ENV_PREFIX,
  METHOD_SWITCH_KEYS,
  type ConfigKey,
  type LogLevel,
} from './keys.ts';
import { DEFAULT_MESSAGE_DEFAULTS } from '../message.ts';
import { formatAddress } from '../inputs/tcpListen.ts';
import { badConfig, parseSetting, type ListenAddress, type RawSetting } from './values.ts';
import type { NatsAuthFiles } from '../transport/natsAuth.ts';

/** Where a setting's value came from, lowest first. */
export type SettingSource = 'default' | 'file' | 'env' | 'flag';

/** The config file as read: no `text` when it does not exist yet. */
export interface ConfigFileText {
  path: string;
  text?: string;
  /** Named by `--config` or `$BOSUN_CONFIG`, rather than found in the config dir. */
  explicit?: boolean;
}

export interface ConfigSources {
  /** Flag values by key (`--data-dir` is `data-dir`); undefined means not given. */
  flags: Partial<Record<string, string | undefined>>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  file?: ConfigFileText;
}

/** The NATS settings `startNode` takes, besides the servers. */
export type { NatsAuthFiles };

/** The daemon's settings once every source is read and checked. Paths are absolute. */
export interface StartConfig {
  node: string;
  dataDir: string;
  /** Holds `config.json` (unless `--config` names another file) and `startup/`. */
  configDir: string;
  configFile: string;
  central: string;
  helloIntervalSeconds: number;
  logLevel: LogLevel;
  /** NATS servers; none means the in-process bus. */
  nats?: string[];
  natsAuth: NatsAuthFiles;
  tcpListen?: ListenAddress;
  httpListen?: ListenAddress;
  /** The watched input file; none when turned off. */
  inputFile?: string;
  inputFilePollSeconds: number;
  /** Dial out to this gateway (ws) instead of NATS or the in-process bus. */
  peer?: string;
  /** Relays by target node. */
  routes?: Record<string, string>;
  /** Serve as a gateway on this address. */
  gatewayListen?: ListenAddress;
  /** Sign and check messages, with the key pair in `signingDir`. */
  secure: boolean;
  signingDir: string;
  trustCentral?: string;
  trustCentralFingerprint?: string;
  messageTtlSeconds: number;
  /** Daemon-wide defaults for messages that leave these fields out. */
  defaults: Pick<MessageDefaults, 'ACKTimeout' | 'retries' | 'retryWait' | 'methodTimeout'>;
  /** The built-in methods whose switch is on (all by default). */
  enabledMethods: string[];
  /** The HTTP and TCP inputs' token file, when not the data dir's own. */
  httpTokenFile?: string;
  httpAllowedOrigins: string[];
  httpAllowedHosts: string[];
  inputMemoryBudgetBytes: number;
  inputMaxConnections: number;
  inputIdleSeconds: number;
  /** Seconds a client-given id is remembered; 0 turns the check off. */
  acceptDedupWindowSeconds: number;
}

/** One key as `bosun config show` reports it. */
export interface ResolvedSetting {
  key: string;
  source: SettingSource;
  /** `--node`, `$BOSUN_NODE` or the config file's path; none for a default. */
  origin?: string;
  /** The value for people: secrets masked, `(none)` for a setting that is not set. */
  shown: string;
  /** Set from a flag: the value as it is saved to the config file. */
  fileValue?: unknown;
  /** Set from a flag and never saved (it opens a way in): a later plain start goes without it. */
  thisStartOnly?: true;
}

export interface ResolvedConfig {
  config: StartConfig;
  settings: ResolvedSetting[];
}

export const MASK = '********';

/** The keys that name NATS credential and TLS files, and their `startNode` options. */
export const NATS_FILE_KEYS: Readonly<Record<string, keyof NatsAuthFiles>> = {
  'nats-nkey-seed-file': 'nkeySeedFile',
  'nats-creds-file': 'credsFile',
  'nats-tls-ca-file': 'tlsCaFile',
  'nats-tls-cert-file': 'tlsCertFile',
  'nats-tls-key-file': 'tlsKeyFile',
};

interface Given {
  spec: ConfigKey;
  source: Exclude<SettingSource, 'default'>;
  raw: RawSetting;
}

/** The default data dir of a node: `./.bosun/<node>`. */
export function defaultDataDir(node: string, cwd: string): string {
  return path.resolve(cwd, '.bosun', node);
}

/**
 * Where the config file is, from flags and environment alone (the file cannot move
 * itself): `--config`, else `<config-dir>/config.json`, where the config dir is
 * `--config-dir`, else `<data-dir>/config`, with the data dir from `--data-dir`, else
 * `./.bosun/<node>`. Undefined when none of these is given.
 */
export function locateConfigFile(sources: Omit<ConfigSources, 'file'>): { path: string; explicit: boolean } | undefined {
  const pick = (key: string): string | undefined => {
    const flag = sources.flags[key];
    if (flag !== undefined && flag !== '') return flag;
    const env = sources.env[configKey(key)!.env];
    return env !== undefined && env !== '' ? env : undefined;
  };
  const config = pick('config');
  if (config !== undefined) return { path: path.resolve(sources.cwd, config), explicit: true };
  const configDir = pick('config-dir');
  if (configDir !== undefined) return { path: path.resolve(sources.cwd, configDir, CONFIG_FILE_NAME), explicit: false };
  const dataDir = pick('data-dir');
  if (dataDir !== undefined) return { path: path.resolve(sources.cwd, dataDir, 'config', CONFIG_FILE_NAME), explicit: false };
  const node = pick('node');
  if (node !== undefined && /^[A-Za-z0-9_-]{1,128}$/.test(node)) {
    return { path: path.join(defaultDataDir(node, sources.cwd), 'config', CONFIG_FILE_NAME), explicit: false };
  }
  return undefined;
}

/**
 * Merges the settings of `bosun start`, lowest first: defaults, config file, environment,
 * flags; then checks them. A problem is one `BOSUN_BAD_CONFIG` error naming the key and
 * where its value came from. Pure: the caller reads the file.
 */
export function resolveConfig(sources: ConfigSources): ResolvedConfig {
  const given = new Map<string, Given>();
  if (sources.file?.text !== undefined) {
    const file = sources.file as Required<Pick<ConfigFileText, 'path' | 'text'>>;
    for (const [key, value] of Object.entries(parseConfigFile(file))) {
      if (value === null) continue;
      given.set(key, { spec: configKey(key)!, source: 'file', raw: { value, origin: `"${key}" in ${file.path}`, base: path.dirname(file.path) } });
    }
  }
  checkMethodSwitchEnv(sources.env);
  for (const spec of CONFIG_KEYS) {
    const value = sources.env[spec.env];
    if (value !== undefined && value !== '') given.set(spec.key, { spec, source: 'env', raw: { value, origin: `$${spec.env}`, base: sources.cwd } });
  }
  for (const [key, value] of Object.entries(sources.flags)) {
    if (value === undefined) continue;
    const spec = configKey(key);
    if (!spec) throw badConfig(`unknown setting "${key}"`);
    given.set(key, { spec, source: 'flag', raw: { value, origin: `--${key}`, base: sources.cwd } });
  }

  const parsed = new Map<string, { given: Given; value: unknown; fileValue: unknown }>();
  // The node first: with no name, nothing else is worth checking.
  const order = ['node', ...[...given.keys()].filter((k) => k !== 'node')];
  if (!given.has('node')) throw badConfig('node is not set: give --node NAME (or $BOSUN_NODE, or "node" in the config file)');
  for (const key of order) {
    const g = given.get(key)!;
    parsed.set(key, { given: g, ...parseSetting(g.spec, g.raw) });
  }
  const value = <T>(key: string, fallback: T): T => (parsed.has(key) ? (parsed.get(key)!.value as T) : fallback);
  const isSet = (key: string): boolean => parsed.has(key);

  const node = value<string>('node', '');
  const dataDir = value('data-dir', defaultDataDir(node, sources.cwd));
  const configDir = value(
    'config-dir',
    sources.file && !sources.file.explicit ? path.dirname(sources.file.path) : path.join(dataDir, 'config'),
  );
  const natsAuth: NatsAuthFiles = {};
  for (const [key, option] of Object.entries(NATS_FILE_KEYS)) {
    if (!isSet(key)) continue;
    if (!isSet('nats')) throw badConfig(`${key} (${parsed.get(key)!.given.raw.origin}) is set, but nats is not: give the NATS server(s) too`);
    natsAuth[option] = value<string>(key, '');
  }
  if (natsAuth.nkeySeedFile !== undefined && natsAuth.credsFile !== undefined) {
    throw badConfig('nats-nkey-seed-file and nats-creds-file are both set; give one of them');
  }
  const config: StartConfig = {
    node,
    dataDir,
    configDir,
    configFile: sources.file?.path ?? value('config', path.join(configDir, 'config.json')),
    central: value('central', DEFAULT_CENTRAL),
    helloIntervalSeconds: value('hello-interval', DEFAULT_HELLO_INTERVAL_SECONDS),
    logLevel: value<LogLevel>('log-level', 'info'),
    natsAuth,
    inputFilePollSeconds: value('input-file-poll', DEFAULT_INPUT_FILE_POLL_SECONDS),
    defaults: {
      ACKTimeout: value('ack-timeout', DEFAULT_MESSAGE_DEFAULTS.ACKTimeout),
      retries: value('retries', DEFAULT_MESSAGE_DEFAULTS.retries),
      retryWait: value('retry-wait', DEFAULT_MESSAGE_DEFAULTS.retryWait),
      methodTimeout: value('method-timeout', DEFAULT_MESSAGE_DEFAULTS.methodTimeout),
    },
    enabledMethods: METHOD_SWITCH_KEYS.filter((k) => value(k.key, true)).map((k) => k.method!),
    secure: value('secure', false),
    signingDir: value('signing-dir', path.join(dataDir, 'keys')),
    messageTtlSeconds: value('message-ttl', 604_800),
    httpAllowedOrigins: value<string[]>('http-allowed-origins', []),
    httpAllowedHosts: value<string[]>('http-allowed-hosts', []).map((h) => h.toLowerCase()),
    inputMemoryBudgetBytes: value('input-memory-budget', 256) * 1024 * 1024,
    inputMaxConnections: value('input-max-connections', 256),
    inputIdleSeconds: value('input-idle-timeout', 30),
    acceptDedupWindowSeconds: value('accept-dedup-window', 86_400),
  };
  const tokenFile = value<string | undefined>('http-token-file', undefined);
  if (tokenFile) config.httpTokenFile = tokenFile;
  const peer = value<string | undefined>('peer', undefined);
  if (peer) config.peer = peer;
  const routes = value<Record<string, string> | undefined>('routes', undefined);
  if (routes && Object.keys(routes).length > 0) config.routes = routes;
  if (peer && isSet('nats')) throw badConfig('peer and nats are both set: a node dials a gateway or a NATS server, not both');
  const gateway = value<ListenAddress | undefined>('gateway-listen', undefined);
  if (gateway) config.gatewayListen = gateway;
  const trust = value<string | undefined>('trust-central', undefined);
  if (trust) config.trustCentral = trust;
  const fingerprint = value<string | undefined>('trust-central-fingerprint', undefined);
  if (fingerprint) config.trustCentralFingerprint = fingerprint;
  const nats = value<string[] | undefined>('nats', undefined);
  if (nats) config.nats = nats;
  const tcp = value<ListenAddress | undefined>('tcp-listen', undefined);
  if (tcp) config.tcpListen = tcp;
  const http = value<ListenAddress | undefined>('http-listen', undefined);
  if (http) config.httpListen = http;
  const inputFile = isSet('input-file') ? value<string | undefined>('input-file', undefined) : path.join(dataDir, INPUT_FILE_NAME);
  if (inputFile !== undefined) config.inputFile = inputFile;

  const derivedDefaults: Record<string, string> = {
    'data-dir': config.dataDir,
    'config-dir': config.configDir,
    config: config.configFile,
    'input-file': config.inputFile ?? 'off',
    'signing-dir': config.signingDir,
    'http-token-file': path.join(config.dataDir, 'input.token'),
  };
  const settings: ResolvedSetting[] = CONFIG_KEYS.map((spec) => {
    const p = parsed.get(spec.key);
    if (!p) return { key: spec.key, source: 'default', shown: derivedDefaults[spec.key] ?? spec.defaultText };
    return {
      key: spec.key,
      source: p.given.source,
      origin: p.given.source === 'file' ? sources.file!.path : p.given.raw.origin,
      shown: spec.secret ? MASK : showValue(p.fileValue),
      ...(p.given.source === 'flag' ? { fileValue: p.fileValue } : {}),
      ...(p.given.source === 'flag' && spec.opensAccess ? { thisStartOnly: true as const } : {}),
    };
  });
  return { config, settings };
}

function showValue(value: unknown): string {
  if (Array.isArray(value)) return value.join(',');
  if (value !== null && typeof value === 'object') {
    if ('host' in value && 'port' in value) return formatAddress(value as ListenAddress);
    return Object.entries(value).map(([k, v]) => `${k}=${String(v)}`).join(',');
  }
  return String(value);
}

/** The config file's keys, checked: a JSON object of known keys that may live in a file. */
export function parseConfigFile(file: { path: string; text: string }): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(file.text);
  } catch (e) {
    throw badConfig(`the config file ${file.path} is not valid JSON: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw badConfig(`the config file ${file.path} must hold a JSON object`);
  }
  for (const key of Object.keys(parsed)) {
    const spec = configKey(key);
    if (!spec) throw badConfig(`unknown key "${key}" in ${file.path}; "bosun start --help" lists the keys`);
    if (!spec.inFile) {
      throw badConfig(`"${key}" cannot be set in the config file ${file.path}: it says where that file is; give --${key} or $${spec.env}`);
    }
  }
  return parsed as Record<string, unknown>;
}

/** A method switch for a method that does not exist is a typo worth stopping for. */
function checkMethodSwitchEnv(env: NodeJS.ProcessEnv): void {
  const known = new Set(METHOD_SWITCH_KEYS.map((k) => k.env));
  for (const name of Object.keys(env)) {
    if (name.startsWith(METHOD_SWITCH_ENV_PREFIX) && !known.has(name) && env[name] !== '') {
      throw badConfig(`$${name} switches no built-in method; the switches are ${[...known].map((n) => n.slice(METHOD_SWITCH_ENV_PREFIX.length)).join(', ')}`);
    }
  }
}
