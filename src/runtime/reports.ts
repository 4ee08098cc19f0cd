import type { ErrorKernel } from '../../supervisors/errorKernel.ts';
import { describeError } from '../errors.ts';
import type { Message } from '../message.ts';
import { streamIdOf } from '../delivery/frames.ts';
import type { NodeCounters, NodeStatus } from './nodeTypes.ts';

export interface NodeReportsDeps {
  node: string;
  kernel: ErrorKernel;
  counters: NodeCounters;
  transportKind: string;
  status(): NodeStatus;
  /** The store was found closed while the node runs: its child has failed. */
  storeFailed(error: unknown): void;
}

/** How the node's parts tell the error kernel what went wrong, with the node's name on every source. */
export class NodeReports {
  constructor(private readonly deps: NodeReportsDeps) {}

  /** An exception from a part of the node (`store`, `outbound`, `inbound/<method>`). */
  error(source: string, error: unknown): void {
    const { code, message } = describeError(error);
    this.deps.kernel.report({ source: `${this.deps.node}/${source}`, severity: 'error', code, message, error, action: 'reported' });
    // A store found closed while the node runs, wherever that is found, has failed: its
    // child ends, and the children that read from it restart with it.
    if (storeClosed(error) && this.deps.status() === 'running') this.deps.storeFailed(error);
  }

  /** A failure with its code, about `about` if it concerns one message. */
  report(source: string, code: string, message: string, about?: Message): void {
    // Errors about the error log itself are not sent to it again, or they would loop.
    const forward = about?.method !== 'REQErrorLog';
    this.deps.kernel.report({ source: `${this.deps.node}/${source}`, severity: 'error', code, message, action: 'reported', forward });
  }

  /** A message that went to the dead-letter store. */
  deadLetter(message: Message, attempts: number, tooLarge: { frameBytes: number; maxFrameBytes: number } | undefined): void {
    this.deps.counters.dead++;
    const what = `message ${message.id} (${message.method} to ${message.toNode})`;
    this.report(
      `outbound/${streamIdOf(this.deps.node, message.toNode, message.method)}`,
      tooLarge ? 'BOSUN_TOO_LARGE' : 'BOSUN_DEAD_LETTER',
      tooLarge
        ? `${what} is ${tooLarge.frameBytes} bytes as a frame, and the ${this.deps.transportKind} transport carries at most ${tooLarge.maxFrameBytes}; it was not sent, and is in the dead-letter store`
        : `${what} got no ACK after ${attempts} attempts; it is in the dead-letter store`,
      message,
    );
  }

  /** A record the store found corrupt and moved to quarantine. */
  corrupt(key: string, error: unknown): void {
    this.deps.kernel.report({
      source: `${this.deps.node}/store`,
      severity: 'error',
      code: 'BOSUN_STORE_CORRUPT',
      message: `the record ${key} was corrupt; it was moved to quarantine!${key} and left out (${describeError(error).message})`,
      action: 'reported',
    });
  }
}

/** True when `error`, or an error it was caused by (a child that could not start), is a closed store. */
function storeClosed(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === 'BOSUN_STORE_CLOSED') return true;
  }
  return false;
}
