import { BosunError } from '../errors.ts';
import { cliCommandMethod, type CliCommandOptions } from './cliCommand.ts';
import { cliCommandContMethod } from './cliCommandCont.ts';
import { copyFileMethods } from './copyFile.ts';
import { REQHttpGet } from './httpGet.ts';
import { REQOpCommand } from './opCommand.ts';
import { REQTailFile } from './tailFile.ts';
import { consoleMethod, type TextSink } from './console.ts';
import { REQToFile, REQToFileAppend } from './files.ts';
import { REQErrorLog, REQHello } from './hello.ts';
import { REQPing, REQPong } from './ping.ts';
import { REQNone, REQnNone } from './none.ts';
import { REQRelay, REQnRelay } from './relay.ts';
import type { MethodSpec } from './types.ts';

/** The methods a node can run, by name. */
export class MethodRegistry {
  readonly #methods = new Map<string, MethodSpec>();

  constructor(methods: Iterable<MethodSpec> = []) {
    for (const method of methods) this.register(method);
  }

  /** Adds a method; a second method under the same name is a configuration mistake. */
  register(method: MethodSpec): this {
    if (this.#methods.has(method.name)) {
      throw new BosunError('BOSUN_BAD_CONFIG', `method ${method.name} is registered twice`);
    }
    this.#methods.set(method.name, method);
    return this;
  }

  /** The method, or undefined: the runtime turns that into `BOSUN_UNKNOWN_METHOD`. */
  get(name: string): MethodSpec | undefined {
    return this.#methods.get(name);
  }

  /** Stops serving a method (an operator's start of a switched-off method is undone). */
  delete(name: string): boolean {
    return this.#methods.delete(name);
  }

  has(name: string): boolean {
    return this.#methods.has(name);
  }

  /** Every method, sorted by name. */
  list(): MethodSpec[] {
    return [...this.#methods.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}

export interface BuiltinMethodOptions extends CliCommandOptions {
  /** Where `REQToConsole` prints; process.stdout and process.stderr by default. */
  stdout?: TextSink;
  stderr?: TextSink;
}

/** The kernel's request methods. */
export function builtinMethods(options: BuiltinMethodOptions = {}): MethodSpec[] {
  const { stdout, stderr, ...cli } = options;
  return [
    cliCommandMethod('REQCliCommand', cli),
    cliCommandMethod('REQnCliCommand', cli),
    REQToFileAppend,
    REQToFile,
    consoleMethod(stdout, stderr),
    REQPing,
    REQPong,
    REQHello,
    REQErrorLog,
    REQNone,
    REQnNone,
    cliCommandContMethod(cli),
    REQTailFile,
    REQHttpGet,
    ...copyFileMethods(),
    REQOpCommand,
    REQRelay,
    REQnRelay,
  ];
}
