import os from 'node:os';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export interface Machine {
  cpus: number;
  model: string;
  memoryGB: number;
  node: string;
  platform: string;
  natsServer: string;
  natsJs: string;
  loadAverage: number[];
  /** RSS of a bench worker that has loaded nothing yet (node + tsx): the floor under every worker's figure. */
  idleWorkerRssMB?: number;
}

/** What the figures were measured on: they mean little without it. */
export function describeMachine(natsServerBinary: string): Machine {
  const cpus = os.cpus();
  return {
    cpus: os.availableParallelism?.() ?? cpus.length,
    model: cpus[0]?.model.trim() ?? 'unknown',
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    natsServer: version(() => execFileSync(natsServerBinary, ['--version'], { encoding: 'utf8' }).trim()),
    natsJs: version(() => (JSON.parse(readFileSync(new URL('../../node_modules/nats/package.json', import.meta.url), 'utf8')) as { version: string }).version),
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

function version(read: () => string): string {
  try {
    return read();
  } catch {
    return 'unknown';
  }
}
