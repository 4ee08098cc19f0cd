/**
 * The gateway's settings, read from the environment by the Go gateway's names
 * (`RECEPTOR_CONTROLLER_*`; durations in seconds, as there) plus a few of bosun's own for
 * what Go did with Redis and Kafka. See src/gateway/README.md for the table.
 */
import { hostname } from 'node:os';
import { BosunError } from '../errors.ts';

export interface GatewayConfig {
  /** Node id the gateway gives in its HI and as `sender` of its directives. */
  nodeId: string;
  /** `{clientId: psk}` for service-to-service callers. */
  credentials: Map<string, string>;
  /** Node id → the account it belongs to; other ids belong to the account they first connect with. */
  nodeAccounts: Map<string, string>;
  /** A key every receptor node must send (`x-bosun-node-psk`) to connect; none by default. */
  nodePsk?: string;
  writeWaitMs: number;
  pongWaitMs: number;
  pingIntervalMs: number;
  handshakeTimeoutMs: number;
  maxMessageBytes: number;
  syncPingTimeoutMs: number;
  shutdownTimeoutMs: number;
  enableProfile: boolean;
  /** `local`: this process only; `nats`: a NATS KV bucket shared by every instance. */
  registrar: 'local' | 'nats';
  /** This gateway instance's name among its peers (Go used the pod IP). */
  instanceId: string;
  /** Which NATS the gateway connects to, when no connection is handed in. */
  nats: GatewayNatsSetting;
  /** How long a registry entry lives without being refreshed (NATS KV). */
  leaseMs: number;
  /** The refresh period is drawn between these two, so instances do not refresh in step. */
  refreshMinMs: number;
  refreshMaxMs: number;
  /** Subject of the responses stream (the Go gateway's Kafka topic name). */
  responsesSubject: string;
  /** The JetStream stream that keeps the responses (created if missing). */
  responsesStream: string;
  /** Subject jobs arrive on, besides `POST /job`. */
  jobsSubject: string;
  /** The JetStream stream that keeps jobs until a gateway takes them (created if missing). */
  jobsStream: string;
  /** Whether this instance takes jobs from the jobs subject. */
  jobsIntake: boolean;
  /** How long a job from the jobs stream waits for its node to (re)connect before it fails with 404. */
  jobsNodeWaitMs: number;
  /** Records of the responses log older than this are pruned; 0 keeps them however old. */
  responsesMaxAgeMs: number;
  /** Only this many of the newest records of the responses log are kept; 0 keeps them all. */
  responsesMaxRecords: number;
}

/**
 * `RECEPTOR_CONTROLLER_NATS_URL`: these servers; `off`: no NATS at all; unset: the
 * node's own NATS (`bosun start --nats`), when the node has one.
 */
export type GatewayNatsSetting = { kind: 'servers'; servers: string[] } | { kind: 'off' } | { kind: 'node' };

export type Env = Record<string, string | undefined>;

const PREFIX = 'RECEPTOR_CONTROLLER_';

function badConfig(message: string): BosunError {
  return new BosunError('BOSUN_BAD_CONFIG', message);
}

function read(env: Env, name: string): string | undefined {
  const value = env[PREFIX + name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function positive(env: Env, name: string, fallback: number, unit: string): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw badConfig(`${PREFIX}${name} must be a positive number of ${unit}, got "${raw}"`);
  return value;
}

/** A limit where `0` means none: a whole number of `unit`s, 0 or more. */
function limit(env: Env, name: string, fallback: number, unit: string): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value)) throw badConfig(`${PREFIX}${name} must be a whole number of ${unit} (0 for no limit), got "${raw}"`);
  return value;
}

const seconds = (env: Env, name: string, fallback: number) => Math.round(positive(env, name, fallback, 'seconds') * 1000);

function bool(env: Env, name: string, fallback = false): boolean {
  const raw = read(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['1', 't', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'f', 'false', 'no', 'off'].includes(raw)) return false;
  throw badConfig(`${PREFIX}${name} must be true or false, got "${raw}"`);
}

function credentials(env: Env): Map<string, string> {
  return stringMap(env, 'SERVICE_TO_SERVICE_CREDENTIALS', { key: 'client-id', value: 'psk' });
}

function nodeAccounts(env: Env): Map<string, string> {
  return stringMap(env, 'NODE_ACCOUNTS', { key: 'node-id', value: 'account' });
}

/**
 * A setting that maps names to non-empty strings, given as a JSON object; `names` says
 * what the keys and values are, for the errors.
 */
function stringMap(env: Env, name: string, names: { key: string; value: string }): Map<string, string> {
  const raw = read(env, name);
  if (raw === undefined) return new Map();
  const shape = `{"${names.key}": "${names.value}", …}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw badConfig(`${PREFIX}${name} is not JSON; expected ${shape}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw badConfig(`${PREFIX}${name} must be a JSON object ${shape}`);
  const map = new Map<string, string>();
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== 'string' || value === '') throw badConfig(`${PREFIX}${name}: the ${names.value} of "${key}" must be a non-empty string`);
    map.set(key, value);
  }
  return map;
}

function nodePsk(env: Env): string | undefined {
  const psk = read(env, 'NODE_PSK');
  if (psk !== undefined && psk.length < 16) throw badConfig(`${PREFIX}NODE_PSK must be at least 16 characters`);
  return psk;
}

/** The instance id is a NATS subject token, so it is kept to `[A-Za-z0-9_-]`. */
function instanceId(env: Env): string {
  const given = read(env, 'GATEWAY_INSTANCE_ID');
  if (given === undefined) return `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_-]/g, '_');
  if (!/^[A-Za-z0-9_-]+$/.test(given)) throw badConfig(`${PREFIX}GATEWAY_INSTANCE_ID may only hold letters, digits, "_" and "-", got "${given}"`);
  return given;
}

/** A subject to publish on: dot-separated tokens, no wildcards, no spaces. */
function subject(env: Env, name: string, fallback: string): string {
  const value = read(env, name) ?? fallback;
  if (!/^[^.\s*>]+(\.[^.\s*>]+)*$/.test(value)) throw badConfig(`${PREFIX}${name} must be a NATS subject without wildcards, got "${value}"`);
  return value;
}

/** JetStream names may not hold `.`, `*`, `>` or whitespace. */
function streamName(env: Env, name: string, fallback: string): string {
  const value = read(env, name) ?? fallback;
  if (!/^[^.\s*>/\\]+$/.test(value)) throw badConfig(`${PREFIX}${name} must be a JetStream stream name (no ".", "*", ">", "/" or spaces), got "${value}"`);
  return value;
}

function natsSetting(env: Env, registrar: 'local' | 'nats'): GatewayNatsSetting {
  const raw = read(env, 'NATS_URL');
  if (raw === undefined) return { kind: 'node' };
  if (raw.toLowerCase() === 'off') {
    if (registrar === 'nats') throw badConfig(`${PREFIX}NATS_URL is off, but the nats registrar keeps its registry in NATS`);
    return { kind: 'off' };
  }
  const servers = raw
    .split(',')
    .map((server) => server.trim())
    .filter(Boolean);
  if (servers.length === 0) throw badConfig(`${PREFIX}NATS_URL must name NATS servers (comma-separated) or be "off", got "${raw}"`);
  return { kind: 'servers', servers };
}

/** The subjects and JetStream streams the gateway uses on NATS. */
export type GatewayNames = Pick<GatewayConfig, 'responsesSubject' | 'responsesStream' | 'jobsSubject' | 'jobsStream'>;

/**
 * The gateway's subject and stream names (`RECEPTOR_CONTROLLER_*_SUBJECT`, `*_STREAM`),
 * also what `bosun nats-config --gateway` grants. @throws BosunError `BOSUN_BAD_CONFIG`
 */
export function readGatewayNames(env: Env): GatewayNames {
  const responsesSubject = subject(env, 'RESPONSES_SUBJECT', 'platform.receptor-controller.responses');
  const jobsSubject = subject(env, 'JOBS_SUBJECT', 'platform.receptor-controller.jobs');
  if (responsesSubject === jobsSubject) throw badConfig(`${PREFIX}RESPONSES_SUBJECT and ${PREFIX}JOBS_SUBJECT must differ`);
  const responsesStream = streamName(env, 'RESPONSES_STREAM', 'RECEPTOR_CONTROLLER_RESPONSES');
  const jobsStream = streamName(env, 'JOBS_STREAM', 'RECEPTOR_CONTROLLER_JOBS');
  if (responsesStream === jobsStream) throw badConfig(`${PREFIX}RESPONSES_STREAM and ${PREFIX}JOBS_STREAM must differ`);
  return { responsesSubject, responsesStream, jobsSubject, jobsStream };
}

/** @throws BosunError `BOSUN_BAD_CONFIG` naming the variable to fix. */
export function readGatewayConfig(env: Env): GatewayConfig {
  const pongWaitMs = seconds(env, 'WEBSOCKET_PONG_WAIT', 25);
  const registrar = read(env, 'GATEWAY_CONNECTION_REGISTRAR_IMPL') ?? 'local';
  if (registrar !== 'local' && registrar !== 'nats') {
    throw badConfig(
      `${PREFIX}GATEWAY_CONNECTION_REGISTRAR_IMPL must be "local" or "nats", got "${registrar}"` +
        (registrar === 'redis' ? ' (bosun keeps the shared registry in NATS KV, not Redis)' : ''),
    );
  }
  const refreshMinMs = positive(env, 'GATEWAY_ACTIVE_CONNECTION_REGISTRAR_POLL_MIN_DELAY', 5000, 'milliseconds');
  const refreshMaxMs = positive(env, 'GATEWAY_ACTIVE_CONNECTION_REGISTRAR_POLL_MAX_DELAY', 10000, 'milliseconds');
  if (refreshMaxMs < refreshMinMs) throw badConfig(`${PREFIX}GATEWAY_ACTIVE_CONNECTION_REGISTRAR_POLL_MAX_DELAY is below the MIN_DELAY`);
  const leaseMs = seconds(env, 'GATEWAY_CONNECTION_LEASE', 30);
  if (leaseMs <= refreshMaxMs) throw badConfig(`${PREFIX}GATEWAY_CONNECTION_LEASE must be longer than the refresh period (POLL_MAX_DELAY)`);
  const nats = natsSetting(env, registrar);
  const { responsesSubject, responsesStream, jobsSubject, jobsStream } = readGatewayNames(env);
  return {
    nodeId: read(env, 'RECEPTORCONTROLLERNODEID') ?? 'node-cloud-receptor-controller',
    credentials: credentials(env),
    nodeAccounts: nodeAccounts(env),
    ...(nodePsk(env) !== undefined ? { nodePsk: nodePsk(env)! } : {}),
    writeWaitMs: seconds(env, 'WEBSOCKET_WRITE_WAIT', 5),
    pongWaitMs,
    pingIntervalMs: Math.round(pongWaitMs * 0.9),
    handshakeTimeoutMs: seconds(env, 'WEBSOCKET_HANDSHAKE_READ_WAIT', pongWaitMs / 1000),
    maxMessageBytes: Math.floor(positive(env, 'WEBSOCKET_MAX_MESSAGE_SIZE', 1024 * 1024, 'bytes')),
    syncPingTimeoutMs: seconds(env, 'RECEPTOR_SYNC_PING_TIMEOUT', 10),
    shutdownTimeoutMs: seconds(env, 'HTTP_SHUTDOWN_TIMEOUT', 2),
    enableProfile: bool(env, 'ENABLE_PROFILE'),
    registrar,
    instanceId: instanceId(env),
    nats,
    leaseMs,
    refreshMinMs,
    refreshMaxMs,
    responsesSubject,
    responsesStream,
    jobsSubject,
    jobsStream,
    jobsIntake: bool(env, 'JOBS_INTAKE', true),
    jobsNodeWaitMs: seconds(env, 'JOBS_NODE_WAIT', 30),
    responsesMaxAgeMs: limit(env, 'RESPONSES_MAX_AGE', 7 * 24 * 3600, 'seconds') * 1000,
    responsesMaxRecords: limit(env, 'RESPONSES_MAX_RECORDS', 1_000_000, 'records'),
  };
}
