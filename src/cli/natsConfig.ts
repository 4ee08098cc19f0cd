import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BosunError } from '../errors.ts';
import { readGatewayNames } from '../gateway/config.ts';
import { natsServerConfig, type NatsIdentity } from '../security/natsConfig.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import type { CliIo } from './io.ts';

export const NATS_CONFIG_USAGE = `Usage: bosun nats-config (--nkeys FILE | --users FILE) [options]

Prints a nats-server configuration that confines every node to its own subjects: a node
subscribes only to <node>.> (and _INBOX.>), and publishes only to the nodes it talks
to (central and every node; pairs given with --link; everyone with --mesh). A node that
runs a receptor gateway with NATS (--gateway) also gets the gateway's subjects and the
JetStream API of its streams and registry bucket, and nothing more; its nats-server
needs JetStream (-js). Check the result with "nats-server -c FILE -t".

A node that dials a gateway node over websockets (--peer ws://…) has no login: name
it with --behind, and the gateway node's login also gets what it publishes and receives
on NATS for that node, by the same rules of who talks to whom, and nothing more.

Options:
  --nodes A,B,…       the nodes (default: those in the nkeys or users file, and those
                      named with --behind)
  --central NAME      the central node (default central)
  --nkeys FILE        each node's user nkey: JSON {"node": "U…"} or lines "node U…"
  --users FILE        user and password per node: JSON {"node": {"user", "password"}}
                      or lines "node user password" (prefer nkeys)
  --link A:B          A and B talk directly (repeatable; also A:B,C:D)
  --mesh              every node talks to every node
  --gateway A,B,…     these nodes run a receptor gateway (repeatable); the subject and
                      stream names are the gateway's defaults, or RECEPTOR_CONTROLLER_
                      {RESPONSES,JOBS}_{SUBJECT,STREAM} when set here as for the gateway
  --behind GW=A,B,…   A and B dial gateway node GW (its --gateway-listen) with --peer
                      (repeatable); each dials one gateway and is in no nkeys or users
                      file
  --listen HOST:PORT  add a listen line
  --output FILE       write the configuration there (mode 0600) instead of stdout
  -h, --help          this help
`;

/** `bosun nats-config …`: exit 0 done, 2 called wrongly. */
export async function run(argv: string[], io: CliIo): Promise<number> {
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

async function natsConfig(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('nats-config', argv, {
    nodes: { type: 'string' },
    central: { type: 'string' },
    nkeys: { type: 'string' },
    users: { type: 'string' },
    link: { type: 'string', multiple: true },
    mesh: { type: 'boolean' },
    gateway: { type: 'string', multiple: true },
    behind: { type: 'string', multiple: true },
    listen: { type: 'string' },
    output: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(NATS_CONFIG_USAGE);
    return 0;
  }
  if ((values.nkeys === undefined) === (values.users === undefined)) {
    throw new UsageError('give each node a login: --nkeys FILE or --users FILE (one of them)', 'nats-config');
  }
  const identities =
    values.nkeys !== undefined
      ? await readIdentities(path.resolve(io.cwd, values.nkeys), 'nkeys')
      : await readIdentities(path.resolve(io.cwd, values.users!), 'users');
  const behind: Record<string, string[]> = {};
  for (const value of values.behind ?? []) {
    const [gateway, peers, ...rest] = value.split('=');
    if (!gateway?.trim() || peers === undefined || splitList(peers).length === 0 || rest.length) {
      throw new UsageError(`--behind takes GATEWAY=PEER[,PEER…], not "${value}"`, 'nats-config');
    }
    (behind[gateway.trim()] ??= []).push(...splitList(peers));
  }
  const nodes = values.nodes !== undefined ? splitList(values.nodes) : [...Object.keys(identities), ...Object.values(behind).flat()];
  const links = (values.link ?? []).flatMap(splitList).map((pair) => {
    const [a, b, ...rest] = pair.split(':');
    if (!a || !b || rest.length) throw new UsageError(`--link takes A:B, not "${pair}"`, 'nats-config');
    return [a, b] as [string, string];
  });
  const text = natsServerConfig({
    nodes,
    central: values.central ?? 'central',
    identities,
    links,
    mesh: values.mesh ?? false,
    gateways: (values.gateway ?? []).flatMap(splitList),
    behind,
    gatewayNames: readGatewayNames(io.env),
    ...(values.listen !== undefined ? { listen: values.listen } : {}),
    generatedAt: new Date(),
  });
  if (values.output !== undefined) await writeFile(path.resolve(io.cwd, values.output), text, { mode: 0o600 });
  else io.stdout.write(text);
  return 0;
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
