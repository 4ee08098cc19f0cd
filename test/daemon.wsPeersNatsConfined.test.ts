/**
 * A node that can only dial out (`--peer ws://…`) behind a gateway node whose NATS login
 * is confined by `bosun nats-config`. The gateway node puts its peer's frames on NATS under
 * subjects that name the peer as publisher, and receives `<peer>.>` for it: `--behind
 * GATEWAY=PEER` gives its login exactly that, and the peer needs no login of its own.
 * Without it the same fleet is cut off at the gateway, and the server says so in its log.
 * Real daemons, the real CLI, a real nats-server running the generated configuration.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { nkeys } from 'nats';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Daemon, removeTempDirs, runBosun, talk, tempDir, waitFor, waitForFile } from './helpers/daemon.ts';
import { permissionViolations, startNatsServer, type NatsServer } from './helpers/natsServer.ts';

/** The nodes on NATS, each with an nkey; ship1 dials gw1. */
const ON_NATS = ['central', 'gw1'] as const;

let dir: string;
let logFile: string;
let nats: NatsServer | undefined;
let daemons: Daemon[] = [];
const users = {} as Record<string, { publicKey: string; seedFile: string }>;

beforeEach(async () => {
  dir = await tempDir('bosun-wsconf-');
  logFile = path.join(dir, 'nats-server.log');
  for (const name of [...ON_NATS, 'ship1']) {
    const user = nkeys.createUser();
    const seedFile = path.join(dir, `${name}.seed`);
    await writeFile(seedFile, user.getSeed(), { mode: 0o600 });
    users[name] = { publicKey: user.getPublicKey(), seedFile };
  }
});

afterEach(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  daemons = [];
  await nats?.stop();
  nats = undefined;
  removeTempDirs();
});

/** Writes the nkeys of `logins`, runs `bosun nats-config` with `flags`, and starts nats-server on the result. */
async function confinedNats(logins: readonly string[], flags: string[]): Promise<void> {
  const nkeyFile = path.join(dir, 'nkeys.txt');
  await writeFile(nkeyFile, logins.map((n) => `${n} ${users[n]!.publicKey}\n`).join(''));
  const conf = path.join(dir, 'fleet.conf');
  expect(await runBosun(['nats-config', '--nkeys', nkeyFile, ...flags, '--output', conf])).toMatchObject({ code: 0, stderr: '' });
  nats = await startNatsServer({ args: ['-c', conf, '-l', logFile] });
}

/** central and gw1 on NATS with their nkeys, gw1 a gateway (no receptor gateway on NATS), ship1 dialling it. */
async function startFleet(): Promise<{ central: Daemon; ship1: Daemon }> {
  const onNats = (name: string) => ['--nats', nats!.url, '--nats-nkey-seed-file', users[name]!.seedFile];
  const central = await Daemon.start({ node: 'central', args: onNats('central') });
  daemons.push(central);
  const gw1 = await Daemon.start({ node: 'gw1', args: [...onNats('gw1'), '--gateway-listen', '127.0.0.1:0'], env: { RECEPTOR_CONTROLLER_NATS_URL: 'off' } });
  daemons.push(gw1);
  const ship1 = await Daemon.start({ node: 'ship1', args: ['--peer', `ws://${String(gw1.started.gateway)}/bosun`] });
  daemons.push(ship1);
  return { central, ship1 };
}

/** Sends one message through a daemon's socket, retried often, so that it goes as soon as a path exists. */
async function send(from: Daemon, toNode: string, command: string, fileName: string): Promise<void> {
  const message = { toNode, method: 'REQCliCommand', methodArgs: ['sh', '-c', command], fileName, ACKTimeout: 1, retryWait: 0.2 };
  const [answer] = await talk(from.socketPath, JSON.stringify(message) + '\n');
  expect(answer).toMatchObject({ status: 'accepted' });
}

const reply = (on: Daemon, from: string, fileName: string) => path.join(on.dataDir, 'files', 'REQCliCommand', from, fileName);

describe('a dial-out node behind a gateway node on a confined NATS', () => {
  it('reaches and is reached by central when nats-config names it --behind its gateway, with no login of its own', async () => {
    await confinedNats(ON_NATS, ['--behind', 'gw1=ship1']);
    const { central, ship1 } = await startFleet();

    await send(central, 'ship1', 'echo ran on ship1', 'from-central.txt');
    expect(await waitForFile(reply(central, 'ship1', 'from-central.txt'), 30_000)).toBe('ran on ship1\n');

    const arrived = path.join(dir, 'arrived-on-central.txt');
    await send(ship1, 'central', `echo from ship1 > ${arrived}; echo done`, 'from-ship1.txt');
    expect(await waitForFile(arrived, 30_000)).toBe('from ship1\n');
    expect(await waitForFile(reply(ship1, 'central', 'from-ship1.txt'), 30_000)).toBe('done\n');

    expect(await permissionViolations(logFile, users.gw1!.publicKey)).toEqual([]);
    expect(await permissionViolations(logFile, users.central!.publicKey)).toEqual([]);
  });

  it('is cut off at its gateway without --behind, even with a login of its own: the server refuses the gateway its subjects', async () => {
    // Today's only way to make ship1 addressable: a login it never uses, so central may publish to it.
    await confinedNats([...ON_NATS, 'ship1'], []);
    const { central, ship1 } = await startFleet();
    const arrived = path.join(dir, 'arrived-on-central.txt');
    await send(central, 'ship1', `echo ran > ${path.join(dir, 'ran-on-ship1.txt')}`, 'from-central.txt');
    await send(ship1, 'central', `echo from ship1 > ${arrived}`, 'from-ship1.txt');

    const refused = await waitFor(async () => {
      const lines = (await permissionViolations(logFile, users.gw1!.publicKey)).join('\n');
      return lines.includes('"ship1.>"') && lines.includes('"central.ship1.REQCliCommand.CommandACK"') ? lines : undefined;
    }, 30_000, "the server's refusals of gw1's subscription and publish for ship1");
    expect(refused).toMatch(/Subscription Violation/i);
    expect(refused).toMatch(/Publish Violation/i);
    // Neither message got through while the server kept refusing them.
    expect(existsSync(arrived)).toBe(false);
    expect(existsSync(path.join(dir, 'ran-on-ship1.txt'))).toBe(false);
  });
});
