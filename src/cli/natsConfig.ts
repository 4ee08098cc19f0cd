import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BosunError } from '../errors.ts';
import { readGatewayNames } from '../gateway/config.ts';
import { natsServerConfig, type NatsIdentity } from '../security/natsConfig.ts';
import { natsTopologyConfigs, type NatsTopologyOptions } from '../security/natsTopology.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import { processIo, type CliIo } from './io.ts';
import { makeNodeKeys } from './natsKeys.ts';

export const NATS_CONFIG_USAGE = `Usage: bosun nats-config (--nkeys FILE | --users FILE | --make-keys DIR) [options]

Prints a nats-server configuration that confines every node to its own subjects: a node
subscribes only to <node>.>, and publishes only to the nodes it talks to (central and
every node; pairs given with --link; everyone with --mesh). A node that runs a receptor
gateway with NATS (--gateway) also gets the gateway's subjects, _INBOX.> and the
JetStream API of its streams and registry bucket, and nothing more; its nats-server
needs JetStream (-js). Check the result with "nats-server -c FILE -t".

A node that dials a gateway node over websockets (--peer ws://…) has no login: name
it with --behind, and the gateway node's login also gets what it publishes and receives
on NATS for that node, by the same rules of who talks to whom, and nothing more.

Several servers (--server, --leaf): one configuration per server goes to --output-dir,
as <name>.conf. Servers given --routes form a cluster (full-mesh routes, with a route
login only they know); clusters named with --cluster-of join by gateways (--supercluster);
servers given --leafnodes are hubs that take leaf links. A leaf
server is a site's own server (a ship's): the nodes named with --site log in there, and
it links to every hub with a login of its own that lets across only what its nodes may
publish and receive. Every server confines every node in the same way; a site's nodes
log in at their leaf server alone, and a leaf server knows no other node. HOST is where
the server listens and where the others reach it.

Options:
  --nodes A,B,…       the nodes (default: those in the nkeys or users file, and those
                      named with --behind or --site)
  --central NAME      the central node (default central)
  --nkeys FILE        each node's user nkey: JSON {"node": "U…"} or lines "node U…"
  --users FILE        user and password per node: JSON {"node": {"user", "password"}}
                      or lines "node user password" (prefer nkeys)
  --make-keys DIR     make a user nkey for each node with a login, and use those: the
                      seeds go to DIR/<node>.nk (mode 0600; each node's
                      --nats-nkey-seed-file), the public keys to DIR/nkeys.txt; seeds
                      already in DIR are kept
  --link A:B          A and B talk directly (repeatable; also A:B,C:D)
  --mesh              every node talks to every node
  --gateway A,B,…     these nodes run a receptor gateway (repeatable); the subject and
                      stream names are the gateway's defaults, or RECEPTOR_CONTROLLER_
                      {RESPONSES,JOBS}_{SUBJECT,STREAM} when set here as for the gateway
  --behind GW=A,B,…   A and B dial gateway node GW (its --gateway-listen) with --peer
                      (repeatable); each dials one gateway and is in no nkeys or users
                      file
  --listen HOST:PORT  add a listen line (one server)
  --output FILE       write the configuration there (mode 0600) instead of stdout (one
                      server)

Several servers:
  --server NAME=HOST:PORT     a server of the fleet's core, clients at HOST:PORT (repeatable)
  --routes NAME=HOST:PORT     server NAME takes routes there: a cluster (repeatable)
  --cluster-name NAME         the cluster's name (default bosun)
  --cluster-of NAME=CLUSTER   server NAME is in cluster CLUSTER instead (repeatable)
  --supercluster NAME=HOST:PORT
                              server NAME takes gateway links from the other clusters
                              there: clusters joined into a supercluster (every server
                              of every cluster needs one)
  --leafnodes NAME=HOST:PORT  server NAME takes leaf links there: a hub (repeatable)
  --leaf SITE=HOST:PORT       a leaf server named SITE, clients at HOST:PORT (repeatable)
  --site SITE=A,B,…           nodes A and B log in at leaf server SITE (repeatable)
  --output-dir DIR            where the configurations go, <name>.conf each (mode 0600)
  -h, --help                  this help
`;

/** `bosun nats-config …`: exit 0 done, 2 called wrongly. */
export async function run(argv: string[], io: CliIo = processIo()): Promise<number> {
  try {
    return await natsConfig(argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`bosun: ${err.message}\n\n${NATS_CONFIG_USAGE}`);
      return 2;
    }
    if (err instanceof BosunError) {
      io.stderr.write(`bosun: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

const OPTIONS = {
  nodes: { type: 'string' },
  central: { type: 'string' },
  nkeys: { type: 'string' },
  users: { type: 'string' },
  'make-keys': { type: 'string' },
  link: { type: 'string', multiple: true },
  mesh: { type: 'boolean' },
  gateway: { type: 'string', multiple: true },
  behind: { type: 'string', multiple: true },
  listen: { type: 'string' },
  output: { type: 'string' },
  server: { type: 'string', multiple: true },
  routes: { type: 'string', multiple: true },
  'cluster-name': { type: 'string' },
  leafnodes: { type: 'string', multiple: true },
  'cluster-of': { type: 'string', multiple: true },
  supercluster: { type: 'string', multiple: true },
  leaf: { type: 'string', multiple: true },
  site: { type: 'string', multiple: true },
  'output-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseCommandArgs<typeof OPTIONS>>['values'];

/** Options of several servers only. */
const SEVERAL_SERVERS = ['routes', 'leafnodes', 'site', 'output-dir', 'cluster-name', 'cluster-of', 'supercluster'] as const;

async function natsConfig(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('nats-config', argv, OPTIONS);
  if (values.help) {
    io.stdout.write(NATS_CONFIG_USAGE);
    return 0;
  }
  const behind: Record<string, string[]> = {};
  for (const [gateway, peers] of namedLists(values.behind, '--behind', 'GATEWAY=PEER[,PEER…]')) (behind[gateway] ??= []).push(...peers);
  const sites = new Map<string, string[]>();
  for (const [site, nodes] of namedLists(values.site, '--site', 'SITE=NODE[,NODE…]')) sites.set(site, [...(sites.get(site) ?? []), ...nodes]);
  const central = values.central ?? 'central';
  const { identities, nodes } = await nodeLogins(values, io, central, behind, sites);
  const links = (values.link ?? []).flatMap(splitList).map((pair) => {
    const [a, b, ...rest] = pair.split(':');
    if (!a || !b || rest.length) throw new UsageError(`--link takes A:B, not "${pair}"`, 'nats-config');
    return [a, b] as [string, string];
  });
  const fleet = {
    nodes,
    central,
    identities,
    links,
    mesh: values.mesh ?? false,
    gateways: (values.gateway ?? []).flatMap(splitList),
    behind,
    gatewayNames: readGatewayNames(io.env),
    generatedAt: new Date(),
  };
  if (values.server !== undefined || values.leaf !== undefined) return severalServers(values, io, fleet, sites);

  for (const option of SEVERAL_SERVERS) {
    if (values[option] !== undefined) throw new UsageError(`--${option} is for several servers: name them with --server (and --leaf)`, 'nats-config');
  }
  const text = natsServerConfig({ ...fleet, ...(values.listen !== undefined ? { listen: values.listen } : {}) });
  if (values.output !== undefined) await writeFile(path.resolve(io.cwd, values.output), text, { mode: 0o600 });
  else io.stdout.write(text);
  return 0;
}

/** Each node's login (from --nkeys, --users, or keys made by --make-keys) and the fleet's nodes. */
async function nodeLogins(
  values: Values,
  io: CliIo,
  central: string,
  behind: Record<string, string[]>,
  sites: Map<string, string[]>,
): Promise<{ identities: Record<string, NatsIdentity>; nodes: string[] }> {
  const given = [values.nkeys, values.users, values['make-keys']].filter((v) => v !== undefined);
  if (given.length !== 1) throw new UsageError('give each node a login: --nkeys FILE, --users FILE or --make-keys DIR (one of them)', 'nats-config');
  const peers = Object.values(behind).flat();
  const siteNodes = [...sites.values()].flat();
  if (values['make-keys'] !== undefined) {
    if (values.nodes === undefined && sites.size === 0) throw new UsageError('--make-keys needs the nodes: --nodes A,B,… (or --site)', 'nats-config');
    const nodes = unique([central, ...splitList(values.nodes ?? ''), ...siteNodes, ...peers]);
    // a node behind a gateway node has no login, so no key
    const identities = await makeNodeKeys(path.resolve(io.cwd, values['make-keys']), nodes.filter((n) => !peers.includes(n)));
    return { identities, nodes };
  }
  const identities =
    values.nkeys !== undefined ? await readIdentities(path.resolve(io.cwd, values.nkeys), 'nkeys') : await readIdentities(path.resolve(io.cwd, values.users!), 'users');
  const nodes = values.nodes !== undefined ? splitList(values.nodes) : [...Object.keys(identities), ...peers, ...siteNodes];
  return { identities, nodes };
}

/** Several servers: one configuration each, written to --output-dir, and a line per file on stdout. */
async function severalServers(values: Values, io: CliIo, fleet: Omit<NatsTopologyOptions, 'servers' | 'leaves'>, sites: Map<string, string[]>): Promise<number> {
  if (values.listen !== undefined || values.output !== undefined) {
    throw new UsageError('with several servers, each listens where --server or --leaf says, and --output-dir takes the configurations', 'nats-config');
  }
  if (values['output-dir'] === undefined) throw new UsageError('several servers need --output-dir DIR for their configurations', 'nats-config');
  const routes = addresses('--routes', values.routes);
  const leafnodes = addresses('--leafnodes', values.leafnodes);
  const gateways = addresses('--supercluster', values.supercluster);
  const clusterOf = new Map(namedLists(values['cluster-of'], '--cluster-of', 'SERVER=CLUSTER', false).map(([name, [cluster]]) => [name, cluster!]));
  const servers = [...addresses('--server', values.server)].map(([name, listen]) => ({
    name,
    listen,
    ...(routes.has(name) ? { routes: routes.get(name)! } : {}),
    ...(leafnodes.has(name) ? { leafnodes: leafnodes.get(name)! } : {}),
    ...(gateways.has(name) ? { gateway: gateways.get(name)! } : {}),
    ...(clusterOf.has(name) ? { cluster: clusterOf.get(name)! } : {}),
  }));
  for (const [option, named] of [['--routes', routes], ['--leafnodes', leafnodes], ['--supercluster', gateways], ['--cluster-of', clusterOf]] as const) {
    for (const name of named.keys()) if (!servers.some((s) => s.name === name)) throw new UsageError(`${option} names ${name}, which no --server names`, 'nats-config');
  }
  const leaves = [...addresses('--leaf', values.leaf)].map(([name, listen]) => ({ name, listen, nodes: sites.get(name) ?? [] }));
  for (const site of sites.keys()) if (!leaves.some((l) => l.name === site)) throw new UsageError(`--site names ${site}, which no --leaf names`, 'nats-config');

  const configs = natsTopologyConfigs({ ...fleet, servers, leaves, ...(values['cluster-name'] !== undefined ? { clusterName: values['cluster-name'] } : {}) });
  const dir = path.resolve(io.cwd, values['output-dir']);
  await mkdir(dir, { recursive: true });
  for (const { server, text } of configs) await writeFile(path.join(dir, `${server}.conf`), text, { mode: 0o600 });
  for (const { server, kind } of configs) {
    const what = kind === 'leaf' ? `leaf server of ${sites.get(server)!.join(', ')}` : describeCore(servers.find((s) => s.name === server)!);
    io.stdout.write(`${path.join(dir, `${server}.conf`)}\t${what}\n`);
  }
  return 0;
}

/** `NAME=HOST:PORT` options by name; a name given twice is an error. */
function addresses(option: string, given: string[] | undefined): Map<string, string> {
  const named = new Map<string, string>();
  for (const [name, [address]] of namedLists(given, option, 'NAME=HOST:PORT', false)) {
    if (named.has(name)) throw new UsageError(`${option} names ${name} twice`, 'nats-config');
    named.set(name, address!);
  }
  return named;
}

function describeCore(server: { routes?: string; leafnodes?: string; gateway?: string }): string {
  const roles = [
    ...(server.routes !== undefined ? ['cluster'] : []),
    ...(server.gateway !== undefined ? ['supercluster'] : []),
    ...(server.leafnodes !== undefined ? ['hub'] : []),
  ];
  return roles.length > 0 ? `server (${roles.join(', ')})` : 'server';
}

/** `NAME=VALUE[,VALUE…]` options, each split at its first `=` (the values kept whole when `split` is false). */
function namedLists(given: string[] | undefined, option: string, form: string, split = true): Array<[string, string[]]> {
  return (given ?? []).map((value) => {
    const at = value.indexOf('=');
    const name = at > 0 ? value.slice(0, at).trim() : '';
    const rest = at > 0 ? value.slice(at + 1) : '';
    const items = split ? splitList(rest) : rest.trim() === '' ? [] : [rest.trim()];
    if (name === '' || items.length === 0 || (split && rest.includes('='))) throw new UsageError(`${option} takes ${form}, not "${value}"`, 'nats-config');
    return [name, items];
  });
}

function unique(items: string[]): string[] {
  return [...new Set(items.filter(Boolean))];
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

async function readIdentities(file: string, kind: 'nkeys' | 'users'): Promise<Record<string, NatsIdentity>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`, 'nats-config');
  }
  const out: Record<string, NatsIdentity> = {};
  if (text.trimStart().startsWith('{')) {
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new UsageError(`${file} is not valid JSON: ${(e as Error).message}`, 'nats-config');
    }
    for (const [node, id] of Object.entries(value)) {
      if (kind === 'nkeys') out[node] = { nkey: String(id) };
      else {
        const u = id as { user?: unknown; password?: unknown };
        out[node] = { user: String(u?.user ?? ''), password: String(u?.password ?? '') };
      }
    }
    return out;
  }
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    if (kind === 'nkeys' && fields.length === 2) out[fields[0]!] = { nkey: fields[1]! };
    else if (kind === 'users' && fields.length === 3) out[fields[0]!] = { user: fields[1]!, password: fields[2]! };
    else throw new UsageError(`${file}: "${line}" is not "${kind === 'nkeys' ? 'node nkey' : 'node user password'}"`, 'nats-config');
  }
  return out;
}
