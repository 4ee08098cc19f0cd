import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MESSAGE_DEFAULTS, normaliseMessages, type Message } from '../src/message.ts';
import { canonicalJson, envelopeBytes } from '../src/security/canonical.ts';
import { fingerprintOf, readPublicKeyFile } from '../src/security/keys.ts';
import { Daemon, runBosun, tempDir, waitFor, type CommandResult } from './helpers/daemon.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';

/**
 * A secure fleet of real daemons (central, ship1) on a real nats-server that confines no
 * one, attacked by a plain nats.js client on the same server: it can subscribe to every
 * subject, capture frames, and publish anything. Each `it` is one of the attacks that
 * worked before frames were bound to their delivery:
 *
 * 1. a forged key set "from central" for a node not approved yet (trust on first use);
 * 2. a genuine message replayed under the stream's next number, burning it;
 * 3. a genuine ACK earned on a burnt number, replayed to drop an undelivered message;
 * 4. a flood of frames from made-up sender names.
 *
 * The attacker speaks whatever frame version it captures (it edits captured frames) and
 * forges frames of both versions, each signed with its own key where a signature goes.
 */

let nats: NatsServer;
let mallory: NatsConnection;
const captured: Array<{ subject: string; text: string }> = [];
const daemons = new Set<Daemon>();

beforeAll(async () => {
  nats = await startNatsServer();
  mallory = await connect({ servers: nats.url });
  // An open broker: anyone may listen to everything.
  mallory.subscribe('>', { callback: (_err, m) => captured.push({ subject: m.subject, text: new TextDecoder().decode(m.data) }) });
});

afterAll(async () => {
  await mallory?.close();
  await Promise.all([...daemons].map((d) => d.stop()));
  await nats?.stop();
});

async function start(node: string, dataDir: string, args: string[] = [], env: Record<string, string> = {}): Promise<Daemon> {
  const d = await Daemon.start({ node, dataDir, args: ['--nats', nats.url, '--secure', 'true', ...args], env });
  daemons.add(d);
  return d;
}

async function stop(d: Daemon): Promise<void> {
  await d.stop();
  daemons.delete(d);
}

const exists = (file: string) => access(file).then(() => true, () => false);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function bosun(dataDir: string, ...args: string[]): Promise<CommandResult> {
  return runBosun([...args, '--data-dir', dataDir]);
}

/** Central's operator has central run `touch FILE` on ship1; resolves with the message's id. */
async function centralTouches(centralDir: string, file: string): Promise<string> {
  const sent = await runBosun(['send', '--data-dir', centralDir, '-'], {
    input: JSON.stringify({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['touch', file], replyMethod: 'none' }),
  });
  expect(sent, sent.stderr).toMatchObject({ code: 0 });
  const id = /"id":"([^"]+)"/.exec(sent.stdout)?.[1];
  expect(id, sent.stdout).toBeDefined();
  return id!;
}

/** Central allows ship1's pending key, and ship1 gets the key set. */
async function allowShip1(centralDir: string, ship1: Daemon): Promise<void> {
  await waitFor(async () => (await bosun(centralDir, 'keys', 'ls')).stdout.includes('pending  ship1'), 20_000, 'ship1 pending on central');
  const allowed = await bosun(centralDir, 'keys', 'allow', 'ship1');
  expect(allowed, allowed.stderr).toMatchObject({ code: 0 });
  await ship1.waitForLog((l) => /^key set \d+/.test(l.msg), 20_000);
}

// ---- the attacker's tools ---------------------------------------------------------------

interface AttackerKey {
  publicKey: string;
  sign(bytes: Uint8Array): string;
}

function attackerKey(): AttackerKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x;
  return { publicKey: Buffer.from(x, 'base64url').toString('base64'), sign: (bytes) => sign(null, bytes, privateKey).toString('base64') };
}

/** A message as bosun would make it, signed with the attacker's key. */
function forge(key: AttackerKey, fields: Record<string, unknown>, fromNode: string): Message {
  const [base] = normaliseMessages(fields, fromNode, DEFAULT_MESSAGE_DEFAULTS, Date.now());
  const m: Message = { ...base!, expiresAt: base!.acceptedAt + 3600_000 };
  m.signature = key.sign(envelopeBytes(m));
  return m;
}

/**
 * Data frames of both versions for `message` at `seq`, the newer one with the attacker's
 * delivery signature, made as an attacker would from the format (not with bosun's own
 * functions, so the same attacks run against a version that has none).
 */
function dataFrames(key: AttackerKey, stream: string, seq: number, message: Message): string[] {
  const inc = `${Date.now().toString(36)}-${randomBytes(8).toString('hex')}`;
  const digest = createHash('sha256').update(JSON.stringify(message)).digest('hex');
  const sig = key.sign(Buffer.from(`bosun-delivery-v1\n${canonicalJson({ type: 'data', stream, inc, seq, sha256: digest })}`));
  return [JSON.stringify({ v: 1, type: 'data', stream, seq, message }), JSON.stringify({ v: 2, type: 'data', stream, inc, seq, sig, message })];
}

function publish(subject: string, text: string): void {
  mallory.publish(subject, new TextEncoder().encode(text));
}

/** The captured data frame (as sent) of the message that ran `touch FILE`. */
function capturedFrameOf(file: string): { subject: string; frame: Record<string, unknown> & { seq: number } } {
  for (const c of captured) {
    const frame = JSON.parse(c.text) as { type?: string; seq: number; message?: Message };
    if (frame.type === 'data' && frame.message?.methodArgs?.includes(file)) return { subject: c.subject, frame: frame as never };
  }
  throw new Error(`no captured frame ran touch ${file}`);
}

// ---- the attacks --------------------------------------------------------------------------

describe('a secure fleet on an open broker', { timeout: 240_000 }, () => {
  it('1a: a secure node that is not central refuses to start without a way to know central\'s key', async () => {
    const dir = await tempDir('bosun-open1a-');
    const refused = await runBosun(['start', '--node', 'lone', '--data-dir', path.join(dir, 'lone'), '--nats', nats.url, '--secure'], { timeoutMs: 20_000 });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/lone runs with --secure but does not know central's key; .*--trust-central FILE .*--trust-central-fingerprint SHA256:/);
  });

  it('1b: a node not approved yet is not taken over by a forged key set', async () => {
    const dir = await tempDir('bosun-open1-');
    const central = await start('central', path.join(dir, 'central'));
    const fingerprint = fingerprintOf(await readPublicKeyFile(path.join(dir, 'central', 'keys', 'public.pem')));
    // Given central's fingerprint (here in the environment), it waits for a key set with that key.
    const ship1 = await start('ship1', path.join(dir, 'ship1'), [], { BOSUN_TRUST_CENTRAL_FINGERPRINT: fingerprint });
    const evil = attackerKey();
    const keySet = {
      kind: 'bosun-keys-v1',
      body: { central: 'central', centralKey: evil.publicKey, keys: { central: evil.publicKey }, serial: 1_000_000, issuedAt: Date.now() },
    };
    const signedKeySet = { ...keySet, signature: evil.sign(Buffer.from(`bosun-keys-v1\n${canonicalJson(keySet.body)}`)) };
    const owned = path.join(dir, 'owned-by-mallory');
    const update = forge(evil, { toNode: 'ship1', method: 'REQKeysUpdate', data: JSON.stringify(signedKeySet), replyMethod: 'none' }, 'central');
    const command = forge(evil, { toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['touch', owned], replyMethod: 'none' }, 'central');
    for (let round = 0; round < 8; round++) {
      for (let seq = 1; seq <= 3; seq++) {
        for (const f of dataFrames(evil, 'central~ship1~REQKeysUpdate', seq, update)) publish('ship1.central.REQKeysUpdate.EventACK', f);
        for (const f of dataFrames(evil, 'central~ship1~REQCliCommand', seq, command)) publish('ship1.central.REQCliCommand.CommandACK', f);
      }
      await sleep(500);
    }
    await sleep(3000);
    expect(await exists(owned)).toBe(false);
    expect(ship1.logs.some((l) => /pinned central's key/.test(l.msg) && l.msg.includes(fingerprintOf(evil.publicKey)))).toBe(false);

    // The genuine central is still trusted once it approves ship1.
    await allowShip1(path.join(dir, 'central'), ship1);
    const genuine = path.join(dir, 'from-central');
    await centralTouches(path.join(dir, 'central'), genuine);
    await waitFor(() => exists(genuine), 20_000, 'central\'s command on ship1');
    await Promise.all([stop(ship1), stop(central)]);
  });

  describe('an approved ship', () => {
    let dir: string;
    let central: Daemon;
    let ship1: Daemon;
    let ship1Args: string[];

    beforeAll(async () => {
      dir = await tempDir('bosun-open2-');
      central = await start('central', path.join(dir, 'central'));
      ship1Args = ['--trust-central', path.join(dir, 'central', 'keys', 'public.pem')];
      ship1 = await start('ship1', path.join(dir, 'ship1'), ship1Args);
      await allowShip1(path.join(dir, 'central'), ship1);
    }, 60_000);

    it('2: a genuine message replayed under the next numbers does not burn them: the next genuine message runs', async () => {
      const a = path.join(dir, 'a');
      await centralTouches(path.join(dir, 'central'), a);
      await waitFor(() => exists(a), 20_000, 'touch a on ship1');
      const { subject, frame } = capturedFrameOf(a);
      for (let ahead = 1; ahead <= 5; ahead++) publish(subject, JSON.stringify({ ...frame, seq: frame.seq + ahead }));
      // Far ahead too: a receiver must not hold or take what its sender cannot have sent.
      publish(subject, JSON.stringify({ ...frame, seq: frame.seq + 5000 }));
      await sleep(2000);
      const b = path.join(dir, 'b');
      await centralTouches(path.join(dir, 'central'), b);
      await waitFor(() => exists(b), 20_000, 'touch b on ship1 (the message that got the next number)');
    });

    it('2b: a genuine key set replayed under the next numbers does not swallow a revocation', async () => {
      const ship2 = await start('ship2', path.join(dir, 'ship2'), ship1Args);
      const keySets = (n: number) => (l: { msg: string }) => new RegExp(`^key set \\d+ with ${n} keys`).test(l.msg);
      await waitFor(async () => (await bosun(path.join(dir, 'central'), 'keys', 'ls')).stdout.includes('pending  ship2'), 20_000, 'ship2 pending');
      expect(await bosun(path.join(dir, 'central'), 'keys', 'allow', 'ship2')).toMatchObject({ code: 0 });
      await ship1.waitForLog(keySets(3), 20_000);
      const pushes = captured.filter((c) => c.subject === 'ship1.central.REQKeysUpdate.EventACK');
      const last = JSON.parse(pushes.at(-1)!.text) as { seq: number };
      for (let ahead = 1; ahead <= 50; ahead++) publish(pushes.at(-1)!.subject, JSON.stringify({ ...last, seq: last.seq + ahead }));
      await sleep(2000);
      const since = ship1.logs.length;
      const revoked = await bosun(path.join(dir, 'central'), 'keys', 'revoke', 'ship2');
      expect(revoked, revoked.stderr).toMatchObject({ code: 0 });
      // The key set without ship2 reaches ship1.
      await waitFor(() => ship1.logs.slice(since).some(keySets(2)), 20_000, 'the key set without ship2 on ship1');
      await stop(ship2);
    });

    it('3: ACKs replayed while the ship is away do not drop a message it never got', async () => {
      await stop(ship1);
      const c = path.join(dir, 'c');
      const id = await centralTouches(path.join(dir, 'central'), c);
      // Every ACK ship1 ever sent central, as captured, and with higher numbers.
      const acks = captured.filter((x) => x.subject === 'central.ship1.REQCliCommand.ACK');
      expect(acks.length).toBeGreaterThan(0);
      for (const ack of acks) {
        const frame = JSON.parse(ack.text) as { upTo?: number };
        publish(ack.subject, ack.text);
        if (frame.upTo !== undefined) publish(ack.subject, JSON.stringify({ ...frame, upTo: frame.upTo + 10 }));
      }
      await sleep(2000);
      // Central still holds it for ship1: no replayed ACK named it.
      expect(JSON.stringify(await central.debug('queue'))).toContain(id);
      ship1 = await start('ship1', path.join(dir, 'ship1'), ship1Args);
      await waitFor(() => exists(c), 30_000, 'touch c on ship1 after it came back');
    });

    it('4: a flood from made-up sender names leaves no streams, rows or replies, and few reports', async () => {
      // Independent of how the attacks before it went.
      if (!ship1.running) ship1 = await start('ship1', path.join(dir, 'ship1'), ship1Args);
      const before = (await ship1.debug('stats')) as { live: { senders: number; receivers: number } };
      const evil = attackerKey();
      for (let i = 0; i < 1500; i++) {
        const ghost = `ghost${i}`;
        const m = forge(evil, { toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['id'], replyRetries: -1 }, ghost);
        for (const f of dataFrames(evil, `${ghost}~ship1~REQCliCommand`, 1, m)) publish(`ship1.${ghost}.REQCliCommand.CommandACK`, f);
      }
      await mallory.flush();
      await waitFor(async () => ((await ship1.debug('stats')) as { counters: { refusedFrames: number } }).counters.refusedFrames >= 1500, 30_000, 'ship1 to judge the flood');
      await sleep(3000);
      const after = (await ship1.debug('stats')) as { live: { senders: number; receivers: number } };
      expect(after.live.receivers).toBeLessThanOrEqual(before.live.receivers);
      expect(after.live.senders).toBeLessThanOrEqual(before.live.senders + 1); // its report to central's error log
      const queued = JSON.stringify(await ship1.debug('queue'));
      expect(queued).not.toContain('ghost');
      // Restarted, it has nothing of the flood either: no stream positions, no replies to resend.
      await stop(ship1);
      ship1 = await start('ship1', path.join(dir, 'ship1'), ship1Args);
      expect(JSON.stringify(await ship1.debug('queue'))).not.toContain('ghost');
      const restarted = (await ship1.debug('stats')) as { live: { receivers: number } };
      expect(restarted.live.receivers).toBeLessThanOrEqual(before.live.receivers);
      const log = await readFile(path.join(dir, 'central', 'files', 'errorLog', 'error.log'), 'utf8').catch(() => '');
      const reports = log.split('\n').filter((l) => l.includes('ghost'));
      expect(reports.length).toBeGreaterThan(0);
      expect(reports.length).toBeLessThan(30);
      expect(log).toMatch(/dropped \d+ more frames from nodes without a trusted key \(ghost\d+, /);
    });
  });
});
