import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { LevelStore } from '../store/LevelStore.ts';
import { MemoryStore } from '../store/MemoryStore.ts';
import type { Store } from '../store/types.ts';
import { EmbeddedBus } from '../transport/EmbeddedBus.ts';
import { NatsTransport, type NatsTransportOptions } from '../transport/NatsTransport.ts';
import type { Transport } from '../transport/types.ts';
import { BosunNode, type NodeOptions } from './Node.ts';

/** What the node itself takes, passed on as given. */
type PassedOn = 'clock' | 'logger' | 'defaults' | 'windowSize' | 'helloIntervalSeconds' | 'methods' | 'enabledMethods' | 'onError' | 'guard' | 'auditStripData' | 'onFatal' | 'unorderedConcurrency' | 'acceptDedupWindowMs';

export interface StartNodeOptions extends Pick<NodeOptions, PassedOn> {
  /** This node's name. */
  node: string;
  /** The node that collects hellos and errors (default `central`). */
  central?: string;
  /** Relays by target node (see `NodeOptions.routes`). */
  routes?: Record<string, string>;
  /**
   * Where the node keeps its LevelDB (`db/`) and result files (`files/`). Without it the
   * node keeps its state in memory: fine for tests and embedding, gone at exit.
   */
  dataDir?: string;
  /** fsync every group-committed batch (default true). */
  sync?: boolean;
  /** Connect to NATS; without it the node uses the in-process bus. */
  nats?: NatsTransportOptions;
  /** The in-process bus to join (several nodes in one process share one). */
  bus?: EmbeddedBus;
  /** A ready transport or store, for tests and special set-ups. */
  transport?: Transport;
  store?: Store;
}

/** The bus nodes join when they are given neither NATS nor a bus of their own. */
export const defaultBus = new EmbeddedBus();

/**
 * Starts a bosun node inside this process.
 * @example
 * import { startNode } from 'bosun';
 * const central = await startNode({ node: 'central' });
 * const ship1 = await startNode({ node: 'ship1' });
 * const d = await central.send({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['uname', '-a'] });
 * console.log((await d.reply).data);
 */
export async function startNode(options: StartNodeOptions): Promise<BosunNode> {
  const store =
    options.store ??
    (options.dataDir ? new LevelStore(path.join(options.dataDir, 'db'), { sync: options.sync ?? true }) : new MemoryStore());
  const transport =
    options.transport ?? (options.nats ? new NatsTransport({ name: options.node, ...options.nats }) : (options.bus ?? defaultBus).transport());
  // A node without a data dir keeps nothing: its files live in a temporary folder that
  // goes when it stops.
  const filesDir = options.dataDir ? path.join(options.dataDir, 'files') : await mkdtemp(path.join(os.tmpdir(), `bosun-${options.node}-`));
  const { dataDir: _dataDir, sync: _sync, nats: _nats, bus: _bus, ...rest } = options;
  return BosunNode.start({ ...rest, store, transport, filesDir, ...(options.dataDir ? {} : { removeFilesDirOnStop: true }) });
}
