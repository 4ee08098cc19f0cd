/**
 * A secure gateway node makes every dial-out node prove its name: it challenges each ws
 * hello, and a node whose key it holds must sign the challenge with that key. An impostor
 * that names a real peer, without its key, is refused with 4003 and reported to central's
 * error log; the real peer keeps its connection and its messages keep flowing. Real
 * daemons (central is the gateway node, ship1 dials it), a test client speaking the ws
 * protocol by hand as the impostor.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { helloClaimBytes, signHelloClaim } from '../src/security/wsHello.ts';
import { loadOrCreateKeys } from '../src/security/keys.ts';
import type { HelloClaim } from '../src/transport/wsProtocol.ts';
import { Daemon, runBosun, talk, tempDir, waitFor, waitForFile } from './helpers/daemon.ts';

let dir: string;
let central: Daemon;
let ship1: Daemon;
let url: string;
const secure = ['--secure', 'true'];

beforeAll(async () => {
  dir = await tempDir('bosun-wsproof-');
  central = await Daemon.start({ node: 'central', dataDir: path.join(dir, 'central'), args: [...secure, '--gateway-listen', '127.0.0.1:0'] });
  url = `ws://${String(central.started.gateway)}/bosun`;
  ship1 = await startShip1();
}, 60_000);

afterAll(async () => {
  await Promise.all([central, ship1].filter(Boolean).map((d) => d.stop()));
});

function startShip1(): Promise<Daemon> {
  const trust = ['--trust-central', path.join(dir, 'central', 'keys', 'public.pem')];
  return Daemon.start({ node: 'ship1', dataDir: path.join(dir, 'ship1'), args: [...secure, ...trust, '--peer', url] });
}

let commands = 0;
/** Has central run `echo TEXT` on ship1, and resolves once the reply is back on central. */
async function centralRunsOnShip1(text: string): Promise<void> {
  const fileName = `reply-${++commands}.txt`;
  const message = { toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['echo', text], fileName, ACKTimeout: 1, retryWait: 0.2 };
  const [answer] = await talk(central.socketPath, JSON.stringify(message) + '\n');
  expect(answer).toMatchObject({ status: 'accepted' });
  expect(await waitForFile(path.join(central.dataDir, 'files', 'REQCliCommand', 'ship1', fileName), 30_000)).toBe(`${text}\n`);
}

const errorLog = () => readFile(path.join(central.dataDir, 'files', 'errorLog', 'error.log'), 'utf8').catch(() => '');

type Outcome = { kind: 'welcome'; claim: HelloClaim | undefined; signature: string | undefined } | { kind: 'closed'; code: number; reason: string };

/**
 * Says hello as `node` over a new socket and answers a challenge with `prove(claim)`;
 * resolves with the welcome, or with how the gateway closed the socket.
 */
function handshake(hello: Record<string, unknown>, prove: (claim: HelloClaim) => string | undefined = () => undefined): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let claim: HelloClaim | undefined;
    let signature: string | undefined;
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify(hello)));
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; gateway: string; challenge: string };
      if (message.type === 'challenge') {
        claim = { challenge: message.challenge, node: String(hello.node), gateway: message.gateway };
        signature = prove(claim);
        ws.send(JSON.stringify({ v: 2, type: 'proof', ...(signature !== undefined ? { signature } : {}) }));
      } else if (message.type === 'welcome') {
        ws.close(1000);
        resolve({ kind: 'welcome', claim, signature });
      }
    });
    ws.on('close', (code, reason) => resolve({ kind: 'closed', code, reason: reason.toString('utf8') }));
  });
}

const helloAs = (node: string, v = 2) => ({ v, type: 'hello', node, maxMessageBytes: 1024 * 1024 });
/** A key that is nobody's in this fleet. */
const strangerKey = generateKeyPairSync('ed25519').privateKey;
const signedByStranger = (claim: HelloClaim) => sign(null, helloClaimBytes(claim), strangerKey).toString('base64');

describe('a secure gateway node and a node that dials it', { timeout: 120_000 }, () => {
  it('runs commands on the dial-out node once its key is allowed, before and after it reconnects with a proof', async () => {
    const fingerprint = await waitFor(async () => {
      const listing = JSON.parse((await runBosun(['keys', 'ls', '--json', '--data-dir', central.dataDir])).stdout) as { pending: Array<{ node: string; fingerprint: string }> };
      return listing.pending.find((p) => p.node === 'ship1')?.fingerprint;
    }, 30_000, 'ship1 pending on central');
    const allowed = await runBosun(['keys', 'allow', `ship1=${fingerprint}`, '--data-dir', central.dataDir]);
    expect(allowed, allowed.stderr).toMatchObject({ code: 0 });
    await centralRunsOnShip1('taken on its word before its key was allowed');

    // from now on central holds ship1's key: ship1's next hello must prove it
    await ship1.stop();
    ship1 = await startShip1();
    await centralRunsOnShip1('proven after a restart');
  });

  it('refuses an impostor that names the peer without its key, and the peer keeps its connection', async () => {
    const forged = await handshake(helloAs('ship1'), signedByStranger);
    expect(forged).toMatchObject({ kind: 'closed', code: 4003 });
    expect((forged as { reason: string }).reason).toMatch(/^ship1's hello is not signed by its key SHA256:\S+$/);

    const unsigned = await handshake(helloAs('ship1'));
    expect(unsigned).toMatchObject({ kind: 'closed', code: 4003, reason: expect.stringMatching(/^ship1's hello is not signed, and its key is known here/) });

    // a peer of version 1 cannot be challenged: with a known key, its word is not enough
    const oldProtocol = await handshake(helloAs('ship1', 1));
    expect(oldProtocol).toMatchObject({ kind: 'closed', code: 4003 });

    await waitFor(
      async () => /central BOSUN_BAD_SIGNATURE .*refused a ws peer saying hello as ship1 from 127\.0\.0\.1:\d+: ship1's hello is not signed by its key SHA256:/.test(await errorLog()),
      30_000,
      'the refusal in central’s error log',
    );
    expect(central.logs.some((l) => l.code === 'BOSUN_BAD_SIGNATURE' && /refused a ws peer saying hello as ship1/.test(l.msg))).toBe(true);
    await centralRunsOnShip1('still connected');
  });

  it('refuses a proof replayed from an earlier handshake', async () => {
    // the earlier handshake: genuine, signed with ship1's own key (the test may read it)
    const ship1Keys = await loadOrCreateKeys(path.join(ship1.dataDir, 'keys'));
    const genuine = await handshake(helloAs('ship1'), (claim) => signHelloClaim(ship1Keys, claim));
    expect(genuine).toMatchObject({ kind: 'welcome' });
    const captured = (genuine as { signature: string }).signature;

    const replayed = await handshake(helloAs('ship1'), () => captured);
    expect(replayed).toMatchObject({ kind: 'closed', code: 4003, reason: expect.stringMatching(/^ship1's hello is not signed by its key/) });

    // the genuine handshake above displaced ship1, which proves its name again and is back
    await centralRunsOnShip1('back after being displaced');
  });
});
