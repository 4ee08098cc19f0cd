import { BosunError } from '../errors.ts';
import { type GatewayNames, readGatewayNames } from '../gateway/config.ts';
import { gatewayNatsPermissions } from '../gateway/natsPermissions.ts';
import { isValidName } from '../message.ts';

/** How a node logs in to nats-server: an nkey (preferred), or a user and password. */
export type NatsIdentity = { nkey: string } | { user: string; password: string };

export interface NatsConfigOptions {
  /** Every node of the fleet, central included. */
  nodes: string[];
  central: string;
  /** node → how it logs in; every node needs one. */
  identities: Record<string, NatsIdentity>;
  /** Pairs of nodes that talk directly, both ways, besides central ↔ every node. */
  links?: Array<[string, string]>;
  /** Every node may talk to every other. */
  mesh?: boolean;
  /**
   * Nodes that run a receptor gateway (`--gateway-listen` with NATS): their logins also get
   * the gateway's subjects and JetStream API (see `src/gateway/natsPermissions.ts`).
   */
  gateways?: string[];
  /** The gateways' subject and stream names; the gateway's defaults when absent. */
  gatewayNames?: GatewayNames;
  /** `host:port` for a `listen` line; none by default (the server's own default or flags). */
  listen?: string;
  /** Shown in the header comment. */
  generatedAt?: Date;
}

const NKEY_USER = /^U[A-Z2-7]{55}$/;
const SAFE_TEXT = /^[\x21\x23-\x5b\x5d-\x7e]{1,256}$/;

/**
 * A nats-server `authorization` block that confines every node to its own subjects
 * (see `src/delivery/frames.ts` for the subject names):
 *
 * - subscribe: `<node>.>` (frames for it, and ACK/RESUME of its own streams) and `_INBOX.>`;
 * - publish: for itself and each node it talks to, subjects that name it as publisher:
 *   `<peer>.<node>.*.CommandACK` and `<peer>.<node>.*.EventACK` (data),
 *   `<peer>.<node>.*.ACK` (ACKs of that peer's streams to it) and `<peer>.<node>.*.RESUME`.
 *   A node can then neither send on another node's streams nor ACK them.
 *
 * A node can then neither read another node's frames nor send to a node it has no
 * business with; what it may send to its peers is the guard's to check. A node named in
 * `gateways` also gets what its receptor gateway needs, and only those nodes do.
 */
export function natsServerConfig(o: NatsConfigOptions): string {
  const nodes = [...new Set(o.nodes)];
  if (nodes.length === 0) throw bad('no nodes given');
  for (const n of nodes) if (!isValidName(n)) throw bad(`"${n}" is not a node name`);
  if (!nodes.includes(o.central)) nodes.unshift(o.central);
  const peers = new Map(nodes.map((n) => [n, new Set([n])]));
  const link = (a: string, b: string) => {
    if (!peers.has(a) || !peers.has(b)) throw bad(`link ${a}:${b} names a node that is not in the list`);
    peers.get(a)!.add(b);
    peers.get(b)!.add(a);
  };
  for (const n of nodes) link(o.central, n);
  for (const [a, b] of o.links ?? []) link(a, b);
  if (o.mesh) for (const a of nodes) for (const b of nodes) link(a, b);
  const gateways = new Set(o.gateways ?? []);
  for (const g of gateways) if (!peers.has(g)) throw bad(`gateway ${g} is not in the list of nodes`);
  const gateway = gatewayNatsPermissions(o.gatewayNames ?? readGatewayNames({}));

  const users = nodes.map((node) => {
    const id = o.identities[node];
    if (!id) throw bad(`no nkey or user for node ${node}`);
    const publish = [...peers.get(node)!]
      .sort()
      .flatMap((p) => [`${p}.${node}.*.CommandACK`, `${p}.${node}.*.EventACK`, `${p}.${node}.*.ACK`, `${p}.${node}.*.RESUME`]);
    const subscribe = [`${node}.>`, '_INBOX.>'];
    if (gateways.has(node)) {
      publish.push(...gateway.publish);
      subscribe.push(...gateway.subscribe);
    }
    const login =
      'nkey' in id
        ? `      nkey: ${quote(checked(id.nkey, NKEY_USER, `the nkey of ${node} is not a user nkey (U…)`))}`
        : `      user: ${quote(checked(id.user, SAFE_TEXT, `the user of ${node} is empty or holds quotes, backslashes or spaces`))}\n` +
          `      password: ${quote(checked(id.password, SAFE_TEXT, `the password of ${node} is empty or holds quotes, backslashes or spaces`))}`;
    return [
      `    {`,
      `      # ${node}${gateways.has(node) ? ' (receptor gateway)' : ''}`,
      login,
      `      permissions: {`,
      `        publish: { allow: ${list(publish)} }`,
      `        subscribe: { allow: ${list(subscribe)} }`,
      `      }`,
      `    }`,
    ].join('\n');
  });
  return [
    `# nats-server configuration for a bosun fleet, made by \`bosun nats-config\`${o.generatedAt ? ` on ${o.generatedAt.toISOString()}` : ''}.`,
    `# central: ${o.central}; nodes: ${nodes.join(', ')}`,
    '# Each node reads only its own subjects and publishes only to the nodes it talks to.',
    ...(gateways.size > 0 ? [`# Receptor gateways (their subjects and JetStream API too; run nats-server with JetStream): ${[...gateways].join(', ')}`] : []),
    ...(o.listen !== undefined ? [`listen: ${quote(checked(o.listen, /^[A-Za-z0-9.:[\]-]{1,255}$/, `"${o.listen}" is not host:port`))}`] : []),
    'authorization {',
    '  users = [',
    users.join('\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
}

function list(subjects: string[]): string {
  return `[${subjects.map(quote).join(', ')}]`;
}

function quote(s: string): string {
  return `"${s}"`;
}

function checked(value: unknown, pattern: RegExp, message: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) throw bad(message);
  return value;
}

function bad(message: string): BosunError {
  return new BosunError('BOSUN_BAD_CONFIG', message);
}
