import { randomBytes } from 'node:crypto';
import {
  authorizationBlock,
  bad,
  checkedHostPort,
  fleetHeader,
  list,
  loginEntry,
  natsLogins,
  quote,
  type FleetLogins,
  type NatsConfigOptions,
  type NodeLogin,
} from './natsConfig.ts';

/** A server of the fleet's core: alone, one of a cluster (`routes`), of a supercluster (`gateway`), a hub for leaf servers (`leafnodes`). */
export interface CoreServerSpec {
  name: string;
  /** `host:port` for clients; the host is also where the others reach it. */
  listen: string;
  /** `host:port` where it takes routes from the other servers of its cluster. */
  routes?: string;
  /** `host:port` where it takes leaf servers' links. */
  leafnodes?: string;
  /** Its cluster's name; `clusterName` by default. Servers of different clusters join by gateways. */
  cluster?: string;
  /** `host:port` where it takes gateway links from the other clusters of a supercluster. */
  gateway?: string;
}

/** A site's own server (a ship's), bridged to the hubs by a leaf link; its nodes log in there. */
export interface LeafServerSpec {
  name: string;
  listen: string;
  nodes: string[];
}

export interface NatsTopologyOptions extends Omit<NatsConfigOptions, 'listen'> {
  servers: CoreServerSpec[];
  leaves?: LeafServerSpec[];
  /** Default `bosun`. */
  clusterName?: string;
  /** Makes the routes' and the leaf links' passwords; random by default. */
  secret?: () => string;
}

export interface GeneratedServerConfig {
  server: string;
  kind: 'core' | 'leaf';
  text: string;
}

const SERVER_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const ROUTE_USER = 'route';
const GATEWAY_USER = 'gateway';

/**
 * A configuration per server for a fleet on several NATS servers: a cluster (full-mesh
 * routes), hubs that take leaf links, and leaf servers for sites behind poor links.
 *
 * Every server confines every node by the rules of `natsServerConfig`: the core servers
 * hold the logins of every node that is at no site, a leaf server only its site's nodes'.
 * Routes log in with one password per cluster, known to its servers alone; gateways (a
 * supercluster of clusters) with one known to the supercluster's servers alone.
 *
 * A leaf link is a trust boundary of its own: whoever holds a ship's server holds its link.
 * User permissions cannot confine a link on nats-server 2.9: the hub offers a leaf its
 * subscriptions (`central.>`) only when the link's login may publish all of them, which
 * would let the link speak for every node. So with leaf servers the core servers put the
 * fleet's logins in an account `FLEET`, and each site's link in an account of its own,
 * `SITE_<site>`, that shares with `FLEET` exactly two things: the subjects its nodes
 * receive (`<node>.>`, from `FLEET`), and the subjects its nodes publish to nodes
 * elsewhere (to `FLEET`). Whatever else the link publishes goes nowhere, and it receives
 * nothing else. Messages between the site's own nodes never leave the leaf server.
 */
export function natsTopologyConfigs(o: NatsTopologyOptions): GeneratedServerConfig[] {
  const fleet = natsLogins(o);
  const leaves = o.leaves ?? [];
  checkServers(o.servers, leaves);
  const clusterOf = (server: CoreServerSpec) => server.cluster ?? o.clusterName ?? 'bosun';
  const clusters = [...new Set(o.servers.map(clusterOf))];
  const routedIn = new Map(clusters.map((c) => [c, o.servers.filter((s) => clusterOf(s) === c && s.routes !== undefined)]));
  for (const [cluster, routed] of routedIn) {
    if (routed.length === 1) throw bad(`a cluster needs routes on two servers or more; in ${cluster} only ${routed[0]!.name} has them`);
  }
  checkGateways(o.servers, clusters, clusterOf);
  const hubs = o.servers.filter((s) => s.leafnodes !== undefined);
  if (leaves.length > 0 && hubs.length === 0) throw bad('leaf servers need a server that takes leaf links (leafnodes)');
  const loginOf = new Map(fleet.logins.map((l) => [l.node, l]));
  checkSites(leaves, fleet, loginOf);

  const secret = o.secret ?? (() => randomBytes(24).toString('base64url'));
  const routePasswords = new Map([...routedIn].map(([cluster, routed]) => [cluster, routed.length > 0 ? checkedSecret(secret()) : '']));
  const gatewayPassword = o.servers.some((s) => s.gateway !== undefined) ? checkedSecret(secret()) : '';
  const leafLinks = leaves.map((leaf): LeafLink => {
    const logins = leaf.nodes.map((n) => loginOf.get(n)!);
    const receives = union(logins.map((l) => l.subscribe));
    const here = new Set(receives.map(addressee));
    return {
      leaf,
      account: `SITE_${leaf.name}`,
      user: `leaf-${leaf.name}`,
      password: checkedSecret(secret()),
      receives,
      // to a node at the same site a message stays on the leaf server
      sends: union(logins.map((l) => l.publish)).filter((subject) => !here.has(addressee(subject))),
    };
  });

  const core = o.servers.map((server): GeneratedServerConfig => {
    const lines = [...fleetHeader(o, fleet, `server ${server.name} of a bosun fleet`), `server_name: ${quote(server.name)}`, `listen: ${quote(checkedHostPort(server.listen))}`];
    const cluster = clusterOf(server);
    if (server.routes !== undefined) {
      const routePassword = routePasswords.get(cluster)!;
      const others = routedIn.get(cluster)!.filter((s) => s !== server).map((s) => `nats-route://${ROUTE_USER}:${routePassword}@${checkedHostPort(s.routes!)}`);
      lines.push(
        'cluster {',
        `  name: ${quote(cluster)}`,
        `  listen: ${quote(checkedHostPort(server.routes))}`,
        '  # the cluster\'s servers alone know this login',
        `  authorization { user: ${quote(ROUTE_USER)}, password: ${quote(routePassword)} }`,
        `  routes: ${list(others)}`,
        '}',
      );
    }
    if (server.gateway !== undefined) {
      const others = clusters
        .filter((c) => c !== cluster)
        .map((c) => {
          const urls = o.servers.filter((s) => clusterOf(s) === c).map((s) => `nats://${GATEWAY_USER}:${gatewayPassword}@${checkedHostPort(s.gateway!)}`);
          return `{ name: ${quote(c)}, urls: ${list(urls)} }`;
        });
      lines.push(
        'gateway {',
        `  name: ${quote(cluster)}`,
        `  listen: ${quote(checkedHostPort(server.gateway))}`,
        "  # the supercluster's servers alone know this login",
        `  authorization { user: ${quote(GATEWAY_USER)}, password: ${quote(gatewayPassword)} }`,
        `  gateways: [${others.join(', ')}]`,
        '}',
      );
    }
    if (server.leafnodes !== undefined) {
      lines.push(
        'leafnodes {',
        `  listen: ${quote(checkedHostPort(server.leafnodes))}`,
        '  # a leaf server logs in as leaf-<site>, into an account of its own (below)',
        '}',
      );
    }
    lines.push(...(leafLinks.length > 0 ? accountsBlock(fleet, leafLinks) : authorizationBlock(fleet.logins.map(loginEntry))), '');
    return { server: server.name, kind: 'core', text: lines.join('\n') };
  });

  const leafConfigs = leafLinks.map((l): GeneratedServerConfig => {
    const urls = hubs.map((h) => `nats-leaf://${l.user}:${l.password}@${checkedHostPort(h.leafnodes!)}`);
    const lines = [
      ...fleetHeader(o, fleet, `leaf server ${l.leaf.name} of a bosun fleet`),
      `# Nodes that log in here: ${l.leaf.nodes.join(', ')}. Messages among them stay here; the others`,
      '# cross the leaf link while it is up, and wait in their senders\' outboxes while it is down.',
      `server_name: ${quote(l.leaf.name)}`,
      `listen: ${quote(checkedHostPort(l.leaf.listen))}`,
      'leafnodes {',
      `  remotes: [ { urls: ${list(urls)} } ]`,
      '}',
      ...authorizationBlock(l.leaf.nodes.map((n) => loginEntry(loginOf.get(n)!))),
      '',
    ];
    return { server: l.leaf.name, kind: 'leaf', text: lines.join('\n') };
  });
  return [...core, ...leafConfigs];
}

interface LeafLink {
  leaf: LeafServerSpec;
  account: string;
  user: string;
  password: string;
  /** What its nodes receive: subjects `FLEET` shares with the site. */
  receives: string[];
  /** What its nodes publish to nodes elsewhere: subjects the site shares with `FLEET`. */
  sends: string[];
}

const FLEET_ACCOUNT = 'FLEET';

/** The fleet's logins in `FLEET`; each leaf link's in its site's account, sharing only what crosses. */
function accountsBlock(fleet: FleetLogins, links: LeafLink[]): string[] {
  const stream = (subject: string, account: string) => `{ stream: ${quote(subject)}, accounts: [${quote(account)}] }`;
  const fromAccount = (account: string, subject: string) => `{ stream: { account: ${quote(account)}, subject: ${quote(subject)} } }`;
  const block = (name: string, users: string[], exports: string[], imports: string[], jetStream = false) => [
    `  ${name}: {`,
    // an account other than the default one has JetStream only when it says so
    ...(jetStream ? ['    jetstream: enabled'] : []),
    '    users = [',
    ...users.map((entry) => entry.replace(/^/gm, '  ')),
    '    ]',
    '    exports = [',
    ...exports.map((line) => `      ${line}`),
    '    ]',
    '    imports = [',
    ...imports.map((line) => `      ${line}`),
    '    ]',
    '  }',
  ];
  return [
    'accounts {',
    ...block(
      FLEET_ACCOUNT,
      // a site's nodes log in at their leaf server alone: frames between them never leave it
      fleet.logins.filter((login) => !links.some((l) => l.leaf.nodes.includes(login.node))).map(loginEntry),
      links.flatMap((l) => l.receives.map((subject) => stream(subject, l.account))),
      links.flatMap((l) => l.sends.map((subject) => fromAccount(l.account, subject))),
      fleet.receptorGateways.length > 0,
    ),
    ...links.flatMap((l) =>
      block(
        l.account,
        [userEntryWithoutPermissions(`leaf server ${l.leaf.name}, for ${l.leaf.nodes.join(', ')}: only what this account shares crosses its link`, l)],
        l.sends.map((subject) => stream(subject, FLEET_ACCOUNT)),
        l.receives.map((subject) => fromAccount(FLEET_ACCOUNT, subject)),
      ),
    ),
    '}',
  ];
}

function userEntryWithoutPermissions(comment: string, link: LeafLink): string {
  return [`    {`, `      # ${comment}`, `      user: ${quote(link.user)}`, `      password: ${quote(link.password)}`, `    }`].join('\n');
}

/** The node a subject is addressed to: its first token (`<to>.<from>.<method>.<kind>`, `<node>.>`). */
function addressee(subject: string): string {
  return subject.split('.')[0]!;
}

/**
 * Gateways join clusters into a supercluster: two clusters or more, and then every server
 * of every cluster takes gateway links (nats-server wants all of a cluster's servers to).
 */
function checkGateways(servers: CoreServerSpec[], clusters: string[], clusterOf: (s: CoreServerSpec) => string): void {
  const withGateway = servers.filter((s) => s.gateway !== undefined);
  if (clusters.length > 1 && withGateway.length === 0) throw bad(`servers of several clusters (${clusters.join(', ')}) need gateways to join them`);
  if (withGateway.length === 0) return;
  if (clusters.length < 2) throw bad('gateways join two clusters or more: name each server\'s cluster');
  const without = servers.find((s) => s.gateway === undefined);
  if (without !== undefined) throw bad(`${without.name} (cluster ${clusterOf(without)}) takes no gateway links: in a supercluster every server must`);
}

function checkServers(servers: CoreServerSpec[], leaves: LeafServerSpec[]): void {
  if (servers.length === 0) throw bad('name at least one server');
  const seen = new Set<string>();
  for (const { name } of [...servers, ...leaves]) {
    if (!SERVER_NAME.test(name)) throw bad(`"${name}" is not a server name (letters, digits, "-" and "_")`);
    if (seen.has(name)) throw bad(`two servers are named ${name}`);
    seen.add(name);
  }
}

/** Each node at a site is in the fleet, has a login of its own, and is at one site only. */
function checkSites(leaves: LeafServerSpec[], fleet: FleetLogins, loginOf: Map<string, NodeLogin>): void {
  const siteOf = new Map<string, string>();
  for (const leaf of leaves) {
    if (leaf.nodes.length === 0) throw bad(`leaf server ${leaf.name} has no nodes`);
    for (const node of leaf.nodes) {
      if (!fleet.nodes.includes(node)) throw bad(`${node}, at leaf server ${leaf.name}, is not in the list of nodes`);
      if (!loginOf.has(node)) throw bad(`${node} is behind a gateway node, so it logs in at no leaf server`);
      if (fleet.receptorGateways.includes(node)) throw bad(`${node} runs a receptor gateway: run it on a core server, not at leaf server ${leaf.name}`);
      const other = siteOf.get(node);
      if (other !== undefined && other !== leaf.name) throw bad(`${node} is at two leaf servers, ${other} and ${leaf.name}`);
      siteOf.set(node, leaf.name);
    }
  }
}

function union(lists: string[][]): string[] {
  return [...new Set(lists.flat())];
}

function checkedSecret(secret: string): string {
  // it goes into URLs (user:password@host) and quoted strings
  if (!/^[A-Za-z0-9_-]{16,}$/.test(secret)) throw bad('a generated password must be 16 or more letters, digits, "-" or "_"');
  return secret;
}
