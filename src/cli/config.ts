import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BosunError } from '../errors.ts';
import { isValidName } from '../message.ts';

/** The daemon's settings once every source is read and checked. */
export interface StartConfig {
  node: string;
  /** Absolute. */
  dataDir: string;
  /** NATS servers; none means the in-process bus. */
  nats?: string[];
  central?: string;
  helloIntervalSeconds?: number;
  logLevel: LogLevel;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The settings `bosun start` takes, by their flag (and config file) names. */
export const START_KEYS = ['node', 'data-dir', 'nats', 'central', 'hello-interval', 'log-level'] as const;
type Key = (typeof START_KEYS)[number];

/** Environment variables, between the config file and the flags. */
const ENV: Partial<Record<Key, string>> = {
  node: 'BOSUN_NODE',
  'data-dir': 'BOSUN_DATA_DIR',
  nats: 'BOSUN_NATS',
  central: 'BOSUN_CENTRAL',
};

/** A raw setting and where it came from, so a refusal can say which to fix. */
interface Setting {
  value: unknown;
  source: string;
  /** Folder that relative paths in it are taken from. */
  base: string;
}

export interface ConfigSources {
  flags: Partial<Record<Key, string>>;
  env: NodeJS.ProcessEnv;
  /** The `--config` file, already read. */
  file?: { path: string; text: string };
  cwd: string;
}

/** The default data dir of a node: `./.bosun/<node>`. */
export function defaultDataDir(node: string, cwd: string): string {
  return path.resolve(cwd, '.bosun', node);
}

/** Reads the `--config` file; a missing or unreadable one is a config error. */
export async function readConfigFile(file: string, cwd: string): Promise<{ path: string; text: string }> {
  const absolute = path.resolve(cwd, file);
  try {
    return { path: absolute, text: await readFile(absolute, 'utf8') };
  } catch (e) {
    throw badConfig(`cannot read the config file "${file}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Merges the settings of `bosun start`, lowest first: config file, environment, flags;
 * then checks them. A problem is one `BOSUN_BAD_CONFIG` error naming the key and where
 * its value came from.
 */
export function resolveStartConfig(sources: ConfigSources): StartConfig {
  const settings = new Map<Key, Setting>();
  if (sources.file) {
    for (const [key, value] of Object.entries(parseConfigFile(sources.file))) {
      settings.set(key as Key, { value, source: `"${key}" in ${sources.file.path}`, base: path.dirname(sources.file.path) });
    }
  }
  for (const [key, name] of Object.entries(ENV) as Array<[Key, string]>) {
    const value = sources.env[name];
    if (value !== undefined && value !== '') settings.set(key, { value, source: `$${name}`, base: sources.cwd });
  }
  for (const [key, value] of Object.entries(sources.flags) as Array<[Key, string | undefined]>) {
    if (value !== undefined) settings.set(key, { value, source: `--${key}`, base: sources.cwd });
  }

  const nodeSetting = settings.get('node');
  if (!nodeSetting) throw badConfig('node is not set: give --node NAME (or $BOSUN_NODE, or "node" in the config file)');
  const node = name(nodeSetting, 'node');
  const dataDirSetting = settings.get('data-dir');
  const config: StartConfig = {
    node,
    dataDir: dataDirSetting ? path.resolve(dataDirSetting.base, text(dataDirSetting, 'data-dir')) : defaultDataDir(node, sources.cwd),
    logLevel: 'info',
  };
  const nats = settings.get('nats');
  if (nats) config.nats = natsServers(nats);
  const central = settings.get('central');
  if (central) config.central = name(central, 'central');
  const hello = settings.get('hello-interval');
  if (hello) config.helloIntervalSeconds = seconds(hello, 'hello-interval');
  const level = settings.get('log-level');
  if (level) config.logLevel = logLevel(level);
  return config;
}

function parseConfigFile(file: { path: string; text: string }): Record<string, unknown> {
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
    if (!(START_KEYS as readonly string[]).includes(key)) {
      throw badConfig(`unknown key "${key}" in ${file.path}; the keys are ${START_KEYS.join(', ')}`);
    }
  }
  return parsed as Record<string, unknown>;
}

function text(s: Setting, key: Key): string {
  if (typeof s.value !== 'string' || s.value.trim() === '') throw badConfig(`${key} (${s.source}) must be a non-empty string`);
  return s.value;
}

function name(s: Setting, key: Key): string {
  const value = text(s, key);
  if (!isValidName(value)) {
    throw badConfig(`${key} (${s.source}) is "${value}"; a node name may only hold letters, digits, "-" and "_" (at most 128)`);
  }
  return value;
}

function natsServers(s: Setting): string[] {
  const list = Array.isArray(s.value) ? s.value : typeof s.value === 'string' ? s.value.split(',') : undefined;
  if (!list || list.length === 0 || !list.every((x) => typeof x === 'string')) {
    throw badConfig(`nats (${s.source}) must be a server URL like nats://127.0.0.1:4222, or several`);
  }
  return (list as string[]).map((server) => {
    const trimmed = server.trim();
    let ok: boolean;
    try {
      const url = new URL(trimmed.includes('://') ? trimmed : `nats://${trimmed}`);
      ok = ['nats:', 'tls:', 'ws:', 'wss:'].includes(url.protocol) && url.hostname !== '';
    } catch {
      ok = false;
    }
    if (!ok) throw badConfig(`nats (${s.source}) has "${server}", which is not a server URL like nats://127.0.0.1:4222`);
    return trimmed;
  });
}

function seconds(s: Setting, key: Key): number {
  const n = typeof s.value === 'number' ? s.value : typeof s.value === 'string' && s.value.trim() !== '' ? Number(s.value) : NaN;
  if (!Number.isFinite(n) || n < 0) throw badConfig(`${key} (${s.source}) must be a number of seconds, 0 or more; got ${JSON.stringify(s.value)}`);
  return n;
}

function logLevel(s: Setting): LogLevel {
  if (typeof s.value !== 'string' || !(LOG_LEVELS as readonly string[]).includes(s.value)) {
    throw badConfig(`log-level (${s.source}) must be one of ${LOG_LEVELS.join(', ')}; got ${JSON.stringify(s.value)}`);
  }
  return s.value as LogLevel;
}

function badConfig(message: string): BosunError {
  return new BosunError('BOSUN_BAD_CONFIG', message);
}
