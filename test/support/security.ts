import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MessageGuard, BosunNode } from '../../src/runtime/Node.ts';
import { startNode, type StartNodeOptions } from '../../src/runtime/startNode.ts';
import type { MethodSpec } from '../../src/methods/types.ts';
import { ERROR_LOG_PATH } from '../../src/methods/hello.ts';
import { MemoryStore } from '../../src/store/MemoryStore.ts';
import type { EmbeddedBus } from '../../src/transport/EmbeddedBus.ts';
import type { NatsTransportOptions } from '../../src/transport/NatsTransport.ts';
import { createSecurity, type Security, type SecurityOptions } from '../../src/security/createSecurity.ts';

/** @internal A node started with security, for tests. */
export interface SecureTestNode {
  name: string;
  node: BosunNode;
  security: Security;
  keyDir: string;
  store: MemoryStore;
  stop(): Promise<void>;
}

export interface SecureTestNodeOptions {
  /** The in-process bus, or NATS (one of them). */
  bus?: EmbeddedBus;
  nats?: NatsTransportOptions;
  /** Files go to `<dataDir>/files`, as a daemon's do (a temporary folder without it). */
  dataDir?: string;
  central?: string;
  methods?: MethodSpec[];
  /** Wraps the real guard: what an attacker's node would do to its messages. */
  wrapGuard?(guard: MessageGuard): MessageGuard;
  /** Central's public key, as the operator gives it out of band (every node but central needs it). */
  centralKey?: string;
  security?: Partial<SecurityOptions>;
  helloIntervalSeconds?: number;
  /** Only these built-in methods are served (default: all). */
  enabledMethods?: string[];
  /** Relays by target node (see `NodeOptions.routes`). */
  routes?: Record<string, string>;
}

/** @internal Starts `name` with security on a memory store and a temporary key folder. */
export async function startSecureTestNode(name: string, o: SecureTestNodeOptions): Promise<SecureTestNode> {
  const central = o.central ?? 'central';
  const store = new MemoryStore();
  const keyDir = await mkdtemp(path.join(os.tmpdir(), `bosun-keys-${name}-`));
  const security = await createSecurity({
    node: name,
    central,
    keyDir,
    store,
    unknownKeyGraceSeconds: 2,
    syncIntervalSeconds: 0,
    ...(o.centralKey !== undefined && name !== central ? { centralKey: o.centralKey } : {}),
    ...o.security,
  });
  const options: StartNodeOptions & { guard: MessageGuard } = {
    node: name,
    central,
    ...(o.bus ? { bus: o.bus } : {}),
    ...(o.nats ? { nats: { name: name, ...o.nats } } : {}),
    ...(o.dataDir ? { dataDir: o.dataDir } : {}),
    store,
    helloIntervalSeconds: o.helloIntervalSeconds ?? 0,
    guard: o.wrapGuard ? o.wrapGuard(security.guard) : security.guard,
    methods: [...security.methods, ...(o.methods ?? [])],
    defaults: { ACKTimeout: 0.5, retryWait: 0.1 },
    ...(o.enabledMethods ? { enabledMethods: o.enabledMethods } : {}),
    ...(o.routes ? { routes: o.routes } : {}),
  };
  const node = await startNode(options);
  const detach = security.attach(node);
  return {
    name,
    node,
    security,
    keyDir,
    store,
    async stop() {
      detach();
      await node.stop(200);
      await rm(keyDir, { recursive: true, force: true });
    },
  };
}

/** @internal Polls `condition` every 10 ms; throws after `ms`. */
export async function eventually<T>(condition: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000, what = 'a condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** @internal Central's error log as text ('' while there is none). */
export function errorLogOf(central: BosunNode): Promise<string> {
  return readFile(path.join(central.filesDir, ERROR_LOG_PATH), 'utf8').catch(() => '');
}

/**
 * @internal Central and `ships`, all allowed: each ship asked for keys at start (its key
 * is pending), central's operator allowed them all, and every ship holds every key.
 */
export async function startSecureFleet(
  ships: string[],
  o: SecureTestNodeOptions & { perNode?: Record<string, Partial<SecureTestNodeOptions>> },
): Promise<{ central: SecureTestNode; ships: Record<string, SecureTestNode>; all: SecureTestNode[] }> {
  const central = await startSecureTestNode('central', { ...o, ...o.perNode?.central });
  const started: Record<string, SecureTestNode> = {};
  const centralKey = central.security.keys.publicKey;
  for (const s of ships) started[s] = await startSecureTestNode(s, { centralKey, ...o, ...o.perNode?.[s] });
  const authority = central.security.authority!;
  await eventually(() => ships.every((s) => authority.list().pending.some((p) => p.node === s)), 10_000, 'pending keys');
  const allowed = await central.node.send({ toNode: 'central', method: 'REQKeysAllow', methodArgs: ships });
  await allowed.reply;
  const everyone = ['central', ...ships];
  await eventually(() => ships.every((s) => everyone.every((n) => started[s]!.security.trust!.keyFor(n) !== undefined)), 10_000, 'key distribution');
  return { central, ships: started, all: [central, ...Object.values(started)] };
}
