export type { MethodContext, MethodResult, MethodSpec } from './types.ts';
export { MethodRegistry, builtinMethods, type BuiltinMethodOptions } from './registry.ts';
export { REQCliCommand, REQnCliCommand, cliCommandMethod, type CliCommandOptions } from './cliCommand.ts';
export { REQToFile, REQToFileAppend, resultFilePath } from './files.ts';
export { REQToConsole, consoleMethod, type TextSink } from './console.ts';
export { REQPing, REQPong } from './ping.ts';
export { REQHello, REQErrorLog, ERROR_LOG_PATH } from './hello.ts';
export { resolveInside, type PathPart, type NamedPathPart } from './paths.ts';
export {
  runCommand,
  DEFAULT_KILL_GRACE_MS,
  DEFAULT_MAX_OUTPUT_BYTES,
  type RunOptions,
  type RunResult,
} from './exec.ts';
export { REQNone, REQnNone } from './none.ts';
