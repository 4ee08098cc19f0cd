import { deliveryEmbedded, deliveryEmbeddedSecure, deliveryNats, deliveryNatsNoSync, deliveryUnordered } from './delivery.ts';
import { latency } from './latency.ts';
import { offlineQueue } from './offlineQueue.ts';
import { fanout } from './fanout.ts';
import { fleet } from './fleet.ts';
import { fleetCluster } from './fleetCluster.ts';
import { recovery } from './recovery.ts';
import { commands, commandsOrdered, fileAppend, tailStream } from './realMethods.ts';
import type { Scenario } from './types.ts';

/** Every scenario, in the order a full run takes them (later ones compare with earlier ones). */
export const SCENARIOS: Scenario[] = [
  deliveryNats,
  deliveryEmbedded,
  deliveryUnordered,
  latency,
  fileAppend,
  tailStream,
  commands,
  commandsOrdered,
  offlineQueue,
  recovery,
  fleet,
  fleetCluster,
  fanout,
];

/** Diagnostics: run only when named. */
export const DIAGNOSTICS: Scenario[] = [deliveryNatsNoSync, deliveryEmbeddedSecure];
