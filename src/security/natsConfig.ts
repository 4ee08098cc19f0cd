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
  /** node → how it logs in; every node needs one, but those `behind` a gateway node, which have none. */
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
  /**
   * Nodes that dial a gateway node over websockets (`--peer ws://…`), by that gateway node
   * (`--gateway-listen`): gateway node → its peers. A peer has no login; its gateway
   * node's login also gets what it publishes and receives on NATS for them, by the same
   * rules of who talks to whom. Each peer must be in `nodes`, behind one gateway node,
   * without an identity, and not itself a gateway of either kind.
   */
  behind?: Record<string, string[]>;
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
 * - subscribe: `<node>.>` (frames for it, and ACK/RESUME of its own streams), and nothing else;
 * - publish: for itself and each node it talks to, subjects that name it as publisher:
 *   `<peer>.<node>.*.CommandACK` and `<peer>.<node>.*.EventACK` (data),
 *   `<peer>.<node>.*.ACK` (ACKs of that peer's streams to it) and `<peer>.<node>.*.RESUME`.
 *   A node can then neither send on another node's streams nor ACK them.
 *
 * A node can then neither read another node's frames nor send to a node it has no
 * business with; what it may send to its peers is the guard's to check. A node named in
 * `gateways` also gets what its receptor gateway needs, and only those nodes do.
 *
 * A gateway node named in `behind` forwards its ws peers' frames to and from NATS: it
 * publishes their frames under subjects that name the peer as publisher and receives
 * `<peer>.>` while the peer is connected. Its login gets, for each peer, that peer's
 * subscription and the publish subjects the peer would have with a login of its own,
 * less those that never cross NATS: frames between a peer and its gateway node, to
 * itself, or to another peer of the same gateway node go over the websockets alone.
 */
export function natsServerConfig(o: NatsConfigOptions): string {
  const fleet = natsLogins(o);
  return [
    ...fleetHeader(o, fleet, 'a bosun fleet'),
    ...(o.listen !== undefined ? [`listen: ${quote(checkedHostPort(o.listen))}`] : []),
    ...authorizationBlock(fleet.logins.map(loginEntry)),
    '',
  ].join('\n');
}

/** One node's login: how it logs in, and what it may publish and subscribe to. */
export interface NodeLogin {
  node: string;
  identity: NatsIdentity;
  /** What else the login is for (`receptor gateway`, `gateway of …`), for its comment. */
  roles: string[];
  publish: string[];
  subscribe: string[];
}

/** Every node's login, by the rules above; checks the options as it goes. */
export interface FleetLogins {
  /** Every node, central first when it was not listed. */
  nodes: string[];
  /** One per node that logs in (all but those behind a gateway node). */
  logins: NodeLogin[];
  receptorGateways: string[];
  /** ws peer → its gateway node. */
  gatewayOf: Map<string, string>;
}

export function natsLogins(o: NatsConfigOptions): FleetLogins {
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
  const gatewayOf = wsPeers(o.behind ?? {}, peers, o.identities, gateways);
  const peersOf = (node: string) => [...gatewayOf].filter(([, g]) => g === node).map(([peer]) => peer).sort();

  const logins = nodes.filter((node) => !gatewayOf.has(node)).map((node): NodeLogin => {
    const identity = o.identities[node];
    if (!identity) throw bad(`no nkey or user for node ${node}`);
    const publish = [...peers.get(node)!].sort().flatMap((p) => publishedBy(node, p));
    // Not `_INBOX.>`: a node makes no requests, and that subscription would let it read
    // every answer the fleet's services get (see src/security/README.md)
    const subscribe = [`${node}.>`];
    const wsPeersHere = peersOf(node);
    for (const peer of wsPeersHere) {
      const overNats = [...peers.get(peer)!].filter((p) => p !== peer && p !== node && gatewayOf.get(p) !== node);
      publish.push(...overNats.sort().flatMap((p) => publishedBy(peer, p)));
      subscribe.push(`${peer}.>`);
    }
    if (gateways.has(node)) {
      publish.push(...gateway.publish);
      subscribe.push(...gateway.subscribe);
    }
    const roles = [...(gateways.has(node) ? ['receptor gateway'] : []), ...(wsPeersHere.length > 0 ? [`gateway of ${wsPeersHere.join(', ')}`] : [])];
    return { node, identity, roles, publish, subscribe };
  });
  return { nodes, logins, receptorGateways: [...gateways], gatewayOf };
}

/** The comment lines that open a generated configuration. */
export function fleetHeader(o: NatsConfigOptions, fleet: FleetLogins, what: string): string[] {
  return [
    `# nats-server configuration for ${what}, made by \`bosun nats-config\`${o.generatedAt ? ` on ${o.generatedAt.toISOString()}` : ''}.`,
    `# central: ${o.central}; nodes: ${fleet.nodes.join(', ')}`,
    '# Each node reads only its own subjects and publishes only to the nodes it talks to.',
    ...(fleet.receptorGateways.length > 0
      ? [`# Receptor gateways (their subjects and JetStream API too; run nats-server with JetStream): ${fleet.receptorGateways.join(', ')}`]
      : []),
    ...(fleet.gatewayOf.size > 0
      ? [`# Behind gateway nodes, with no login (their gateway node publishes and receives for them): ${[...fleet.gatewayOf].map(([peer, g]) => `${peer} via ${g}`).join(', ')}`]
      : []),
  ];
}

/** A node's entry in `authorization.users`. */
export function loginEntry(login: NodeLogin): string {
  const { node, identity: id } = login;
  const lines =
    'nkey' in id
      ? [`nkey: ${quote(checked(id.nkey, NKEY_USER, `the nkey of ${node} is not a user nkey (U…)`))}`]
      : [
          `user: ${quote(checked(id.user, SAFE_TEXT, `the user of ${node} is empty or holds quotes, backslashes or spaces`))}`,
          `password: ${quote(checked(id.password, SAFE_TEXT, `the password of ${node} is empty or holds quotes, backslashes or spaces`))}`,
        ];
  return userEntry(`${node}${login.roles.length > 0 ? ` (${login.roles.join('; ')})` : ''}`, lines, login.publish, login.subscribe);
}

/** One entry of `authorization.users`: a comment, the login lines, the permissions. */
export function userEntry(comment: string, login: string[], publish: string[], subscribe: string[]): string {
  return [
    `    {`,
    `      # ${comment}`,
    ...login.map((line) => `      ${line}`),
    `      permissions: {`,
    `        publish: { allow: ${list(publish)} }`,
    `        subscribe: { allow: ${list(subscribe)} }`,
    `      }`,
    `    }`,
  ].join('\n');
}

export function authorizationBlock(entries: string[]): string[] {
  return ['authorization {', '  users = [', entries.join('\n'), '  ]', '}'];
}

/** `host:port` as a config line takes it, or a `BOSUN_BAD_CONFIG` error. */
export function checkedHostPort(hostPort: string): string {
  return checked(hostPort, /^[A-Za-z0-9.:[\]-]{1,255}$/, `"${hostPort}" is not host:port`);
}

/** What `node` publishes to `to`: its frames, and its ACKs and resumes of `to`'s streams to it. */
function publishedBy(node: string, to: string): string[] {
  return [`${to}.${node}.*.CommandACK`, `${to}.${node}.*.EventACK`, `${to}.${node}.*.ACK`, `${to}.${node}.*.RESUME`];
}

/**
 * Checks `behind` (gateway node → its ws peers) and turns it round: ws peer → its gateway
 * node. A peer dials one gateway (`--peer` takes one URL), so two gateway nodes may not
 * both read its frames; it has no NATS connection (`bosun start` refuses `--peer` with
 * `--nats`), so it can have no login to leave lying about, run no receptor gateway on
 * NATS, and forward for no ws peers of its own.
 */
function wsPeers(
  behind: Record<string, string[]>,
  nodes: Map<string, unknown>,
  identities: Record<string, NatsIdentity>,
  receptorGateways: Set<string>,
): Map<string, string> {
  const gatewayOf = new Map<string, string>();
  for (const [g, peers] of Object.entries(behind)) {
    if (!nodes.has(g)) throw bad(`gateway node ${g} is not in the list of nodes`);
    for (const peer of peers) {
      if (!nodes.has(peer)) throw bad(`${peer}, behind ${g}, is not in the list of nodes`);
      if (peer === g) throw bad(`${g} cannot be behind itself`);
      const other = gatewayOf.get(peer);
      if (other !== undefined && other !== g) throw bad(`${peer} is behind both ${other} and ${g}: a node dials one gateway`);
      gatewayOf.set(peer, g);
    }
  }
  for (const [peer, g] of gatewayOf) {
    if (Object.hasOwn(behind, peer)) throw bad(`gateway node ${peer} is itself behind ${g}: a node that dials a gateway forwards for no one`);
    if (Object.hasOwn(identities, peer)) {
      throw bad(`${peer} is behind ${g} but has a login of its own: a node dials a gateway or NATS, not both; remove it from the nkeys or users file`);
    }
    if (receptorGateways.has(peer)) throw bad(`${peer} is behind ${g}, so it has no NATS for a receptor gateway`);
  }
  return gatewayOf;
}

export function list(subjects: string[]): string {
  return `[${subjects.map(quote).join(', ')}]`;
}

export function quote(s: string): string {
  return `"${s}"`;
}

function checked(value: unknown, pattern: RegExp, message: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) throw bad(message);
  return value;
}

export function bad(message: string): BosunError {
  return new BosunError('BOSUN_BAD_CONFIG', message);
}
