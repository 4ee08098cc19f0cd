import type { Logger } from 'pino';
import type { Message } from '../message.ts';
import type { LocalFiles } from '../methods/LocalFiles.ts';
import type { MethodContext, MethodOperator, MethodRegistryData } from '../methods/types.ts';

/** What every run on a node shares; built once per node. */
export interface RunServices {
  node: string;
  central: string;
  filesDir: string;
  localFiles: LocalFiles;
  registry: MethodRegistryData;
  operator: MethodOperator;
  log: Logger;
  send: MethodContext['send'];
  /** Sends one reply to `request` now (`MethodContext.emit`). */
  emit(request: Message, data: string): Promise<void>;
  recordHello?: MethodContext['recordHello'];
}

/**
 * The context one run's handler gets. A class rather than an object literal of closures:
 * every run pays for this object, and closures made per run cost more than the run of a
 * trivial handler itself (each one is also given its name at creation under tsx).
 */
export class RunContext implements MethodContext {
  readonly #services: RunServices;
  readonly message: Message;
  readonly signal: AbortSignal;

  constructor(services: RunServices, message: Message, signal: AbortSignal) {
    this.#services = services;
    this.message = message;
    this.signal = signal;
  }

  get node(): string {
    return this.#services.node;
  }

  get central(): string {
    return this.#services.central;
  }

  get filesDir(): string {
    return this.#services.filesDir;
  }

  get localFiles(): LocalFiles {
    return this.#services.localFiles;
  }

  get registry(): MethodRegistryData {
    return this.#services.registry;
  }

  get operator(): MethodOperator {
    return this.#services.operator;
  }

  get recordHello(): MethodContext['recordHello'] {
    return this.#services.recordHello;
  }

  /** A child logger naming the run; made on first use only, as most runs never log. */
  get log(): Logger {
    return this.#services.log.child({ method: this.message.method, id: this.message.id });
  }

  emit(data: string): Promise<void> {
    return this.#services.emit(this.message, data);
  }

  send(message: Record<string, unknown>): ReturnType<MethodContext['send']> {
    return this.#services.send(message);
  }
}
