import { afterAll, afterEach } from 'vitest';
import { Daemon, removeTempDirs, type DaemonOptions } from './daemon.ts';

/**
 * For a test file whose tests start their own daemons: returns the function that starts
 * one, and registers what cleans up after them: every daemon it started is killed (by its
 * PID) after each test, and the temporary folders are removed after the file. Call it at
 * the top of the file.
 */
export function daemonsPerTest(): (options?: DaemonOptions) => Promise<Daemon> {
  let daemons: Daemon[] = [];
  afterEach(async () => {
    await Promise.all(daemons.map((d) => d.kill()));
    daemons = [];
  });
  afterAll(() => removeTempDirs());
  return async (options = {}) => {
    const daemon = await Daemon.start(options);
    daemons.push(daemon);
    return daemon;
  };
}
