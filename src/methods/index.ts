export type { MethodContext, MethodOperator, MethodResult, MethodSpec, OperatorProcess } from './types.ts';
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
  type OutputStream,
  type RunOptions,
  type RunResult,
} from './exec.ts';
export { LineSplitter, DEFAULT_MAX_LINE_CHARS } from './lineSplitter.ts';
export { REQnCliCommandCont, cliCommandContMethod } from './cliCommandCont.ts';
export { REQTailFile } from './tailFile.ts';
export { followFile, type FollowOptions } from './fileFollower.ts';
export { REQHttpGet, httpGetMethod, DEFAULT_MAX_BODY_BYTES, type HttpGetOptions } from './httpGet.ts';
export {
  copyFileMethods,
  formatBytes,
  DEFAULT_CHUNK_BYTES,
  DEFAULT_WINDOW_CHUNKS,
  MAX_CHUNK_BYTES,
  type CopyFileOptions,
} from './copyFile.ts';
export { REQCopyChunk, REQCopyDone, PART_SUFFIX } from './copyReceive.ts';
export { REQOpCommand, parseOpCommand } from './opCommand.ts';
export { REQNone, REQnNone } from './none.ts';
export { REQRelay, REQnRelay } from './relay.ts';
