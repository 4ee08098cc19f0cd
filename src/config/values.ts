import path from 'node:path';
import { BosunError } from '../errors.ts';
import { isValidName } from '../message.ts';
import { formatAddress, type TcpAddress } from '../inputs/tcpListen.ts';
import { LOG_LEVELS, type ConfigKey, type LogLevel } from './keys.ts';

/** A raw value and where it came from, so a refusal can say which to fix. */
export interface RawSetting {
  value: unknown;
  /** How a person names the place: `--node`, `$BOSUN_NODE`, `"node" in /etc/bosun.json`. */
  origin: string;
  /** Folder that relative paths in it are taken from. */
  base: string;
}

/** An address to listen on; port 0 lets the kernel choose. */
export type ListenAddress = TcpAddress;

export function badConfig(message: string): BosunError {
  return new BosunError('BOSUN_BAD_CONFIG', message);
}

const TRUE_WORDS = ['true', '1', 'yes', 'on'];
const FALSE_WORDS = ['false', '0', 'no', 'off'];

/**
 * A boolean as people write it. Unlike steward's `CheckEnv`, which took any set value,
 * `false` and `0` included, as true, a word outside the two lists is an error.
 */
export function parseBool(raw: unknown): boolean | undefined {
  if (typeof raw === 'boolean') return raw;
  if (raw === 0 || raw === 1) return raw === 1;
  if (typeof raw !== 'string') return undefined;
  const word = raw.trim().toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  return undefined;
}

function text(s: RawSetting, key: string): string {
  if (typeof s.value !== 'string' || s.value.trim() === '') throw badConfig(`${key} (${s.origin}) must be a non-empty string`);
  return s.value;
}

function name(s: RawSetting, key: string): string {
  const value = text(s, key);
  if (!isValidName(value)) {
    throw badConfig(`${key} (${s.origin}) is "${value}"; a node name may only hold letters, digits, "-" and "_" (at most 128)`);
  }
  return value;
}

function pathValue(s: RawSetting, key: string): string {
  return path.resolve(s.base, text(s, key));
}

const NUMBER = /^\s*-?\d+(\.\d+)?\s*$/;

function numberOf(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && NUMBER.test(value)) return Number(value);
  return NaN;
}

function number(s: RawSetting, key: string, ok: (n: number) => boolean, what: string): number {
  const n = numberOf(s.value);
  if (!Number.isFinite(n) || !ok(n)) throw badConfig(`${key} (${s.origin}) must be ${what}; got ${JSON.stringify(s.value)}`);
  return n;
}

function wsUrl(s: RawSetting, key: string): string {
  const text = typeof s.value === 'string' ? s.value.trim() : '';
  try {
    const url = new URL(text);
    if ((url.protocol === 'ws:' || url.protocol === 'wss:') && url.hostname !== '') return url.toString();
  } catch {
    // refused below
  }
  throw badConfig(`${key} (${s.origin}) must be a websocket URL like ws://gateway.example:8080/bosun`);
}

function natsServers(s: RawSetting, key: string): string[] {
  const list = Array.isArray(s.value) ? s.value : typeof s.value === 'string' ? s.value.split(',') : undefined;
  if (!list || list.length === 0 || !list.every((x) => typeof x === 'string')) {
    throw badConfig(`${key} (${s.origin}) must be a server URL like nats://127.0.0.1:4222, or several`);
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
    if (!ok) throw badConfig(`${key} (${s.origin}) has "${server}", which is not a server URL like nats://127.0.0.1:4222`);
    return trimmed;
  });
}

/** `ship2=hub,central=hub` (flag, environment) or `{"ship2": "hub"}` (file): target → relay. */
function routes(s: RawSetting, key: string): Record<string, string> {
  const expected = `${key} (${s.origin}) must be NODE=RELAY pairs, comma-separated, like ship2=hub,central=hub`;
  let pairs: Array<[unknown, unknown]>;
  if (typeof s.value === 'string') {
    pairs = s.value
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '')
      .map((p) => {
        const at = p.indexOf('=');
        if (at < 0) throw badConfig(`${expected}; "${p}" has no "="`);
        return [p.slice(0, at).trim(), p.slice(at + 1).trim()];
      });
  } else if (s.value !== null && typeof s.value === 'object' && !Array.isArray(s.value)) {
    pairs = Object.entries(s.value);
  } else {
    throw badConfig(expected);
  }
  const table: Record<string, string> = {};
  for (const [target, relay] of pairs) {
    if (typeof target !== 'string' || !isValidName(target) || typeof relay !== 'string' || !isValidName(relay)) {
      throw badConfig(`${expected}; "${String(target)}=${String(relay)}" does not name two nodes`);
    }
    if (target === relay) throw badConfig(`${key} (${s.origin}) routes ${target} through itself`);
    table[target] = relay;
  }
  return table;
}

/** `HOST:PORT`, `[v6]:PORT`, or a bare `PORT` on loopback; `off` is no listener. */
export function parseListen(raw: string): ListenAddress | 'off' | undefined {
  const value = raw.trim();
  if (value.toLowerCase() === 'off') return 'off';
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(value);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port > 65535) return undefined;
  const host = match[1] === undefined ? '127.0.0.1' : match[1].replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

function listen(s: RawSetting, key: string): ListenAddress | undefined {
  const parsed = typeof s.value === 'number' ? parseListen(String(s.value)) : typeof s.value === 'string' ? parseListen(s.value) : undefined;
  if (parsed === undefined) {
    throw badConfig(
      `${key} (${s.origin}) must be HOST:PORT (a bare PORT listens on 127.0.0.1; 0.0.0.0:PORT on every interface), or off; got ${JSON.stringify(s.value)}`,
    );
  }
  return parsed === 'off' ? undefined : parsed;
}

/** `a,b` (flag, environment) or `["a","b"]` (file); empty entries dropped. */
function list(s: RawSetting, key: string): string[] {
  const items = Array.isArray(s.value) ? s.value : typeof s.value === 'string' ? s.value.split(',') : undefined;
  if (!items || !items.every((x) => typeof x === 'string')) throw badConfig(`${key} (${s.origin}) must be a comma-separated list`);
  return (items as string[]).map((x) => x.trim()).filter((x) => x !== '');
}

function logLevel(s: RawSetting, key: string): LogLevel {
  if (typeof s.value !== 'string' || !(LOG_LEVELS as readonly string[]).includes(s.value)) {
    throw badConfig(`${key} (${s.origin}) must be one of ${LOG_LEVELS.join(', ')}; got ${JSON.stringify(s.value)}`);
  }
  return s.value as LogLevel;
}

function bool(s: RawSetting, key: string): boolean {
  const value = parseBool(s.value);
  if (value === undefined) {
    throw badConfig(`${key} (${s.origin}) must be true or false (or 1/0, yes/no, on/off); got ${JSON.stringify(s.value)}`);
  }
  return value;
}

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

function fingerprint(s: RawSetting, key: string): string {
  const value = text(s, key).trim();
  if (!FINGERPRINT.test(value)) throw badConfig(`${key} (${s.origin}) must be a key fingerprint, SHA256: and 43 base64 characters as bosun keys show prints; got ${JSON.stringify(s.value)}`);
  return value;
}

/** A checked value, and its form in the config file (paths absolute, lists as arrays). */
export interface ParsedValue {
  value: unknown;
  fileValue: unknown;
}

/**
 * Reads one setting by its key's kind. Throws `BOSUN_BAD_CONFIG` naming the key and
 * where the value came from.
 */
export function parseSetting(spec: ConfigKey, s: RawSetting): ParsedValue {
  const key = spec.key;
  const same = (value: unknown): ParsedValue => ({ value, fileValue: value });
  switch (spec.kind) {
    case 'name':
      return same(name(s, key));
    case 'path':
      return same(pathValue(s, key));
    case 'pathOrOff': {
      if (typeof s.value === 'string' && s.value.trim().toLowerCase() === 'off') return { value: undefined, fileValue: 'off' };
      return same(pathValue(s, key));
    }
    case 'seconds':
      return same(number(s, key, (n) => n >= 0, 'a number of seconds, 0 or more'));
    case 'positiveSeconds':
      return same(number(s, key, (n) => n > 0, 'a number of seconds, more than 0'));
    case 'methodTimeout':
      return same(number(s, key, (n) => n > 0 || n === -1, 'a number of seconds, more than 0, or -1 for no limit'));
    case 'retries':
      return same(number(s, key, (n) => Number.isInteger(n) && n >= -1, 'a whole number, 0 or more, or -1 to resend forever'));
    case 'bool':
      return same(bool(s, key));
    case 'fingerprint':
      return same(fingerprint(s, key));
    case 'natsServers': {
      const servers = natsServers(s, key);
      return { value: servers, fileValue: servers.length === 1 ? servers[0] : servers };
    }
    case 'listen': {
      const address = listen(s, key);
      return { value: address, fileValue: address ? formatAddress(address) : 'off' };
    }
    case 'wsUrl':
      return same(wsUrl(s, key));
    case 'routes':
      return same(routes(s, key));
    case 'logLevel':
      return same(logLevel(s, key));
    case 'list': {
      const items = list(s, key);
      return { value: items, fileValue: items };
    }
    case 'mebibytes':
      return same(number(s, key, (n) => Number.isInteger(n) && n > 0, 'a whole number of MiB, more than 0'));
    case 'count':
      return same(number(s, key, (n) => Number.isInteger(n) && n > 0, 'a whole number, more than 0'));
  }
}
