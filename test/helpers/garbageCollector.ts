import v8 from 'node:v8';
import vm from 'node:vm';

/** The engine's full garbage collection, reached without starting the test process with --expose-gc. */
export function garbageCollector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}
