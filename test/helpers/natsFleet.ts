import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { DaemonProcess } from './fleet.ts';
import { startNatsServer, type NatsServer, type NatsServerOptions } from './natsServer.ts';

/** What a test sees of its fleet: a fresh one for every test. */
export interface NatsFleet {
  /** The test's temporary folder; a daemon's data folder is `<dir>/<node>`. */
  readonly dir: string;
  /** The test's own nats-server. */
  readonly nats: NatsServer;
  /** A daemon of `node` on the nats-server, not yet started; killed (by its PID) after the test. */
  daemon(node: string, args?: readonly string[]): DaemonProcess;
}

export interface NatsFleetOptions {
  /** Prepares the folder before the server starts (keys, a config) and says how to start it. */
  prepare?(dir: string): Promise<NatsServerOptions>;
  /** Arguments every daemon of the fleet gets after `--nats <url>`. */
  daemonArgs?(node: string, dir: string): string[];
}

/**
 * Daemons as real processes over a real nats-server, for a test file: before each test a
 * temporary folder (named from `prefix`) and a server on free ports; after it, every
 * daemon made by `daemon()` killed, the server stopped and the folder removed. Call it at
 * the top of the file; read `dir` and `nats` inside tests only.
 */
export function useNatsFleet(prefix: string, options: NatsFleetOptions = {}): NatsFleet {
  let dir: string | undefined;
  let nats: NatsServer | undefined;
  let daemons: DaemonProcess[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    nats = await startNatsServer(await options.prepare?.(dir));
  });

  afterEach(async () => {
    await Promise.all(daemons.map((d) => d.kill()));
    daemons = [];
    await nats?.stop();
    nats = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  const fleet: NatsFleet = {
    get dir() {
      if (dir === undefined) throw new Error('the fleet exists only while a test runs');
      return dir;
    },
    get nats() {
      if (nats === undefined) throw new Error('the fleet exists only while a test runs');
      return nats;
    },
    daemon(node, args = []) {
      const extra = options.daemonArgs?.(node, fleet.dir) ?? [];
      const d = new DaemonProcess(node, path.join(fleet.dir, node), ['--nats', fleet.nats.url, ...extra, ...args]);
      daemons.push(d);
      return d;
    },
  };
  return fleet;
}
