/**
 * bosun: command fleets of nodes by message passing.
 *
 * The public API. Everything not exported here is internal.
 */
export { startNode, defaultBus, type StartNodeOptions } from './runtime/startNode.ts';
export { BosunNode, type AcceptResult, type Delivery, type NodeErrorReport } from './runtime/Node.ts';
export type { Message, MessageDefaults } from './message.ts';
export { BosunError, type ErrorCode } from './errors.ts';
export type { MethodSpec, MethodContext, MethodResult } from './methods/types.ts';
export { EmbeddedBus } from './transport/EmbeddedBus.ts';
export type { Transport, TransportStatus } from './transport/types.ts';
export type { Store } from './store/types.ts';
export { systemClock, VirtualClock, type Clock } from './clock.ts';
