import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../src/cli/keys.ts';
import { startSocketInput, type SocketInput } from '../src/inputs/socketInput.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { eventually, startSecureTestNode, type SecureTestNode } from './support/security.ts';
import { capturedIo } from './helpers/capturedIo.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A secure central with its socket in `<dataDir>`, as the daemon runs it, and ship1 saying hello. */
async function centralDaemon(): Promise<{ dataDir: string; central: SecureTestNode; ship1: SecureTestNode }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bosun-cli-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const bus = new EmbeddedBus();
  const central = await startSecureTestNode('central', { bus, dataDir });
  cleanups.push(() => central.stop());
  const socket: SocketInput = await startSocketInput(central.node, { dataDir });
  cleanups.push(() => socket.close());
  const ship1 = await startSecureTestNode('ship1', { bus, centralKey: central.security.keys.publicKey });
  cleanups.push(() => ship1.stop());
  await eventually(() => central.security.authority!.list().pending.length === 1, 5000, 'the pending key');
  return { dataDir, central, ship1 };
}

describe('bosun keys', () => {
  it('lists pending keys, allows one by fingerprint, lists it allowed, revokes it', async () => {
    const { dataDir, ship1 } = await centralDaemon();
    const fp = ship1.security.keys.fingerprint;

    const ls = capturedIo(dataDir);
    expect(await run(['ls', '--data-dir', dataDir], ls)).toBe(0);
    expect(ls.out()).toMatch(new RegExp(`^pending\\s+ship1\\s+${fp.replace(/[+/]/g, '\\$&')}`, 'm'));
    expect(ls.out()).toMatch(/^allowed\s+central\s+SHA256:/m);

    const wrong = capturedIo(dataDir);
    expect(await run(['allow', 'ship1=SHA256:nope', '--data-dir', dataDir], wrong)).toBe(1);
    expect(wrong.err()).toMatch(/BOSUN_UNKNOWN_KEY: the pending key of ship1 is SHA256:/);

    const allow = capturedIo(dataDir);
    expect(await run(['allow', `ship1=${fp}`, '--data-dir', dataDir], allow)).toBe(0);
    expect(allow.out()).toBe(`allowed ship1 (${fp})\n`);

    const json = capturedIo(dataDir);
    expect(await run(['ls', '--json', '--data-dir', dataDir], json)).toBe(0);
    expect(JSON.parse(json.out())).toMatchObject({ allowed: [{ node: 'central' }, { node: 'ship1', fingerprint: fp }], pending: [] });

    const revoke = capturedIo(dataDir);
    expect(await run(['revoke', 'ship1', '--data-dir', dataDir], revoke)).toBe(0);
    expect(revoke.out()).toMatch(/^revoked ship1 /);
  });

  it('shows a node\'s own fingerprint from its key folder, without a daemon', async () => {
    const { ship1 } = await centralDaemon();
    const show = capturedIo(ship1.keyDir);
    expect(await run(['show', '--key-dir', ship1.keyDir], show)).toBe(0);
    expect(show.out()).toBe(`${ship1.security.keys.fingerprint}\n${ship1.security.keys.publicKey}\n`);
  });

  it('says how it was called wrongly, and when no daemon answers', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-cli-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const none = capturedIo(dir);
    expect(await run(['frobnicate', '--data-dir', dir], none)).toBe(2);
    expect(none.err()).toMatch(/unknown keys command "frobnicate"/);
    const gone = capturedIo(dir);
    expect(await run(['ls', '--data-dir', dir], gone)).toBe(2);
    expect(gone.err()).toMatch(/no bosun daemon at/);
  });
});
