import { DEFAULT_MESSAGE_DEFAULTS } from '../message.ts';
import { builtinMethods } from '../methods/index.ts';

/** How a key's value is read and checked (see `values.ts`). */
export type ValueKind =
  | 'name'
  | 'path'
  | 'pathOrOff'
  | 'seconds'
  | 'positiveSeconds'
  | 'methodTimeout'
  | 'retries'
  | 'bool'
  | 'fingerprint'
  | 'natsServers'
  | 'listen'
  | 'wsUrl'
  | 'routes'
  | 'logLevel'
  | 'list'
  | 'mebibytes'
  | 'count';

/** One setting of `bosun start`: its names in every source, its default and meaning. */
export interface ConfigKey {
  /** The key in the config file; the flag is `--<key>`. */
  readonly key: string;
  /** The environment variable. */
  readonly env: string;
  readonly kind: ValueKind;
  /** What the flag takes, for help: `NAME`, `DIR`, `S`… */
  readonly arg: string;
  /** The default, as people read it. */
  readonly defaultText: string;
  readonly meaning: string;
  /**
   * False for the keys that say where the config file is: the file cannot move itself,
   * and they are never written back.
   */
  readonly inFile: boolean;
  /** Never written back to the config file, and masked by `bosun config show`. */
  readonly secret: boolean;
  /**
   * Opens a way in (a listener, an allow-list): applies to the start it is given to only.
   * Saving it would let a later plain `bosun start` open it again without anyone asking.
   */
  readonly opensAccess: boolean;
  /** For a method switch, the built-in method it starts or not. */
  readonly method?: string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Default seconds between hellos to central. */
export const DEFAULT_HELLO_INTERVAL_SECONDS = 30;
/** Default seconds between looks at the input file besides the file-system events. */
export const DEFAULT_INPUT_FILE_POLL_SECONDS = 1;
export const DEFAULT_CENTRAL = 'central';
/** The watched input file's name in the data dir, as in steward. */
export const INPUT_FILE_NAME = 'inmsg.txt';
export const CONFIG_FILE_NAME = 'config.json';
export const ENV_PREFIX = 'BOSUN_';
export const METHOD_SWITCH_ENV_PREFIX = 'BOSUN_START_SUB_';

/**
 * A setting is a secret by its name, whatever its value: such values stay where the
 * operator put them (a file they wrote, the environment) and are never echoed.
 */
const SECRET_NAME = /seed|creds|psk|key|password|token/i;

export function isSecretKey(key: string): boolean {
  return SECRET_NAME.test(key);
}

/** The keys that open a way in; see `ConfigKey.opensAccess`. */
const ACCESS_KEYS = new Set(['tcp-listen', 'http-listen', 'gateway-listen', 'http-allowed-origins', 'http-allowed-hosts']);

type KeyDraft = Omit<ConfigKey, 'env' | 'secret' | 'inFile' | 'opensAccess'> & { inFile?: boolean };

function define(draft: KeyDraft): ConfigKey {
  return {
    inFile: true,
    opensAccess: ACCESS_KEYS.has(draft.key),
    ...draft,
    env: ENV_PREFIX + draft.key.toUpperCase().replaceAll('-', '_'),
    secret: isSecretKey(draft.key),
  };
}

const d = DEFAULT_MESSAGE_DEFAULTS;

/** Every key but the method switches, in the order help and docs show them. */
export const STATIC_KEYS: readonly ConfigKey[] = [
  define({ key: 'node', kind: 'name', arg: 'NAME', defaultText: '(required)', meaning: 'this node\'s name: letters, digits, "-" and "_", at most 128' }),
  define({ key: 'data-dir', kind: 'path', arg: 'DIR', defaultText: './.bosun/<node>', meaning: 'where the node keeps its database, result files, sockets and input file' }),
  define({
    key: 'config-dir',
    kind: 'path',
    arg: 'DIR',
    defaultText: '<data-dir>/config',
    meaning: 'holds config.json and the startup/ folder; found from flags and environment only',
    inFile: false,
  }),
  define({
    key: 'config',
    kind: 'path',
    arg: 'FILE',
    defaultText: '<config-dir>/config.json',
    meaning: 'the config file: a JSON object of these keys; flags given on the command line are saved to it',
    inFile: false,
  }),
  define({ key: 'central', kind: 'name', arg: 'NAME', defaultText: DEFAULT_CENTRAL, meaning: 'the node that collects hellos and error logs' }),
  define({
    key: 'hello-interval',
    kind: 'seconds',
    arg: 'S',
    defaultText: String(DEFAULT_HELLO_INTERVAL_SECONDS),
    meaning: 'seconds between hellos to central; 0 turns them off',
  }),
  define({ key: 'log-level', kind: 'logLevel', arg: 'LEVEL', defaultText: 'info', meaning: LOG_LEVELS.join(', ') }),
  define({
    key: 'nats',
    kind: 'natsServers',
    arg: 'URL',
    defaultText: '(none)',
    meaning: 'NATS server(s), comma-separated (a cluster announces its others); without it nodes talk over the in-process bus of this daemon',
  }),
  define({ key: 'nats-nkey-seed-file', kind: 'path', arg: 'FILE', defaultText: '(none)', meaning: "file holding this node's NATS nkey seed (SU…)" }),
  define({ key: 'nats-creds-file', kind: 'path', arg: 'FILE', defaultText: '(none)', meaning: 'NATS .creds file (user JWT and seed); not with a seed file' }),
  define({ key: 'nats-tls-ca-file', kind: 'path', arg: 'FILE', defaultText: '(none)', meaning: "CA certificate to check the NATS server's TLS certificate" }),
  define({ key: 'nats-tls-cert-file', kind: 'path', arg: 'FILE', defaultText: '(none)', meaning: 'client certificate for NATS TLS' }),
  define({ key: 'nats-tls-key-file', kind: 'path', arg: 'FILE', defaultText: '(none)', meaning: "the client certificate's private key" }),
  define({
    key: 'tcp-listen',
    kind: 'listen',
    arg: 'HOST:PORT',
    defaultText: 'off',
    meaning: 'take JSON messages over TCP, as on bosun.sock, after a first line holding the input token; a bare PORT is 127.0.0.1; never saved from a flag',
  }),
  define({
    key: 'http-listen',
    kind: 'listen',
    arg: 'HOST:PORT',
    defaultText: 'off',
    meaning: 'serve POST /api/v1/messages (with the input token), /healthz and /readyz; a bare PORT is 127.0.0.1; never saved from a flag',
  }),
  define({
    key: 'http-token-file',
    kind: 'path',
    arg: 'FILE',
    defaultText: '<data-dir>/input.token',
    meaning: 'the bearer token the HTTP and TCP inputs require (made at first start, mode 0600, when not given)',
  }),
  define({
    key: 'http-allowed-origins',
    kind: 'list',
    arg: 'ORIGIN,…',
    defaultText: '(none)',
    meaning: 'web origins (https://ui.example) whose pages may call the HTTP input; never saved from a flag',
  }),
  define({
    key: 'http-allowed-hosts',
    kind: 'list',
    arg: 'NAME,…',
    defaultText: '(none)',
    meaning: 'host names, besides IP addresses and localhost, the HTTP input answers to (DNS rebinding); never saved from a flag',
  }),
  define({
    key: 'input-memory-budget',
    kind: 'mebibytes',
    arg: 'MIB',
    defaultText: '256',
    meaning: 'MiB all inputs together may hold in unfinished messages; a client past it is refused and closed',
  }),
  define({ key: 'input-max-connections', kind: 'count', arg: 'N', defaultText: '256', meaning: 'connections each of the socket, TCP and HTTP inputs serves at once' }),
  define({
    key: 'input-idle-timeout',
    kind: 'positiveSeconds',
    arg: 'S',
    defaultText: '30',
    meaning: 'seconds an unfinished message may wait for its next byte before its connection is closed',
  }),
  define({
    key: 'accept-dedup-window',
    kind: 'seconds',
    arg: 'S',
    defaultText: '86400',
    meaning: 'seconds a client-given message id is remembered: the same id again answers "duplicate" and queues nothing; 0 turns it off',
  }),
  define({
    key: 'input-file',
    kind: 'pathOrOff',
    arg: 'FILE',
    defaultText: `<data-dir>/${INPUT_FILE_NAME}`,
    meaning: 'messages appended to this file are taken and the file emptied; off turns it off',
  }),
  define({
    key: 'input-file-poll',
    kind: 'positiveSeconds',
    arg: 'S',
    defaultText: String(DEFAULT_INPUT_FILE_POLL_SECONDS),
    meaning: 'seconds between looks at the input file, besides file-system events',
  }),
  define({
    key: 'peer',
    kind: 'wsUrl',
    arg: 'URL',
    defaultText: '(none)',
    meaning: 'dial out to a gateway node at ws://HOST:PORT/bosun instead of NATS: for nodes that can only connect outwards',
  }),
  define({
    key: 'gateway-listen',
    kind: 'listen',
    arg: 'HOST:PORT',
    defaultText: 'off',
    meaning: 'be a gateway: bosun nodes connect at /bosun, receptor nodes at /wss/receptor-controller/gateway, with the job HTTP API; never saved from a flag',
  }),
  define({
    key: 'routes',
    kind: 'routes',
    arg: 'NODE=RELAY,…',
    defaultText: '(none)',
    meaning: 'relays by target: messages for NODE that name no relayViaNode go through RELAY (a node behind a relay sets central=RELAY)',
  }),
  define({ key: 'secure', kind: 'bool', arg: '[BOOL]', defaultText: 'false', meaning: 'sign every message this node sends and check every message it runs (ed25519, keys approved on central)' }),
  define({ key: 'signing-dir', kind: 'path', arg: 'DIR', defaultText: '<data-dir>/keys', meaning: "where this node's signing key pair lives (made at first start)" }),
  define({
    key: 'trust-central',
    kind: 'path',
    arg: 'FILE',
    defaultText: '(none)',
    meaning: "with secure, on every node but central: central's public signing key (its public.pem, copied out of band)",
  }),
  define({
    key: 'trust-central-fingerprint',
    kind: 'fingerprint',
    arg: 'SHA256:…',
    defaultText: '(none)',
    meaning: "with secure, instead of trust-central: the fingerprint of central's key (bosun keys show on central); the first key set with that key pins it",
  }),
  define({ key: 'message-ttl', kind: 'positiveSeconds', arg: 'S', defaultText: '604800', meaning: 'with secure: seconds a signed message stays valid (replay protection)' }),
  define({ key: 'ack-timeout', kind: 'positiveSeconds', arg: 'S', defaultText: String(d.ACKTimeout), meaning: 'seconds to wait for an ACK, for messages without ACKTimeout' }),
  define({ key: 'retries', kind: 'retries', arg: 'N', defaultText: String(d.retries), meaning: 'resends after the first, for messages without retries; -1 resends forever' }),
  define({ key: 'retry-wait', kind: 'seconds', arg: 'S', defaultText: String(d.retryWait), meaning: 'seconds between resends, for messages without retryWait' }),
  define({
    key: 'method-timeout',
    kind: 'methodTimeout',
    arg: 'S',
    defaultText: String(d.methodTimeout),
    meaning: 'seconds a handler may run, for messages without methodTimeout; -1 is no limit',
  }),
];

/** `REQCliCommand` → `req-cli-command`, `REQnCliCommand` → `reqn-cli-command`. */
export function kebabMethod(method: string): string {
  const [, prefix = '', rest = method] = /^(REQn?)([A-Z].*)$/.exec(method) ?? [];
  const words = rest.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2');
  return (prefix ? `${prefix}-${words}` : words).toLowerCase();
}

/** The switch that decides whether a node serves a built-in method (steward's START_SUB_…). */
export function methodSwitchKey(method: string): ConfigKey {
  return define({ key: `start-sub-${kebabMethod(method)}`, kind: 'bool', arg: '[BOOL]', defaultText: 'true', meaning: `serve ${method}`, method });
}

/** One switch per built-in method, in the runtime's order. */
export const METHOD_SWITCH_KEYS: readonly ConfigKey[] = builtinMethods().map((m) => methodSwitchKey(m.name));

export const CONFIG_KEYS: readonly ConfigKey[] = [...STATIC_KEYS, ...METHOD_SWITCH_KEYS];

const BY_KEY = new Map(CONFIG_KEYS.map((k) => [k.key, k]));

export function configKey(key: string): ConfigKey | undefined {
  return BY_KEY.get(key);
}
