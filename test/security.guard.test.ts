import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../src/message.ts';
import { testMessage } from './support/methods.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { streamIdOf, newIncarnation, type SignedFrame } from '../src/delivery/frames.ts';
import { SIGNED_FIELDS, envelopeBytes } from '../src/security/canonical.ts';
import { createSecurity, type Security } from '../src/security/createSecurity.ts';
import { loadOrCreateKeys, parsePublicKey, verifySignature } from '../src/security/keys.ts';
import { Ledger } from '../src/security/Ledger.ts';

const INC = newIncarnation();

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'bosun-sec-'));
  dirs.push(d);
  return d;
}

/** Central and ship1's security, ship1 given central's key in a file; no runtime. */
async function pair(clock = { now: () => Date.now() }): Promise<{ central: Security; ship1: Security; centralKeyDir: string }> {
  const centralKeyDir = await tempDir();
  const central = await createSecurity({ node: 'central', central: 'central', keyDir: centralKeyDir, store: new MemoryStore(), clock });
  const ship1 = await createSecurity({
    node: 'ship1',
    central: 'central',
    keyDir: await tempDir(),
    store: new MemoryStore(),
    centralKeyFile: path.join(centralKeyDir, 'public.pem'),
    unknownKeyGraceSeconds: 0,
    clock,
  });
  return { central, ship1, centralKeyDir };
}

function request(fields: Partial<Message> = {}): Message {
  return testMessage({ id: `m-${Math.random()}`, fromNode: 'central', toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['uptime'], acceptedAt: Date.now(), ...fields });
}

describe('node keys', () => {
  it('creates the pair on first start (private 0600) and loads the same one after', async () => {
    const dir = await tempDir();
    const first = await loadOrCreateKeys(dir);
    expect((await stat(path.join(dir, 'private.pem'))).mode & 0o777).toBe(0o600);
    expect(parsePublicKey(await readFile(path.join(dir, 'public.pem'), 'utf8'))).toBe(first.publicKey);
    const again = await loadOrCreateKeys(dir);
    expect(again.publicKey).toBe(first.publicKey);
    const bytes = new TextEncoder().encode('x');
    expect(verifySignature(first.publicKey, bytes, again.sign(bytes))).toBe(true);
  });

  it('refuses a private key others may read, and a file that is no key', async () => {
    const dir = await tempDir();
    await loadOrCreateKeys(dir);
    await chmod(path.join(dir, 'private.pem'), 0o644);
    await expect(loadOrCreateKeys(dir)).rejects.toMatchObject({ code: 'BOSUN_BAD_KEY_FILE', message: expect.stringMatching(/chmod 600/) });
    const other = await tempDir();
    await writeFile(path.join(other, 'private.pem'), 'hello', { mode: 0o600 });
    await expect(loadOrCreateKeys(other)).rejects.toMatchObject({ code: 'BOSUN_BAD_KEY_FILE' });
  });
});

describe('the envelope signature', () => {
  it('covers every field: changing any one breaks it', async () => {
    const { central } = await pair();
    const sealed = central.guard.seal(
      request({ data: 'd', directory: 'dir', fileName: 'f', schedule: [1, 2], replyACKTimeout: 3, replyRetries: 4, isReply: false, inReplyTo: { id: 'x', method: 'M', fromNode: 'a', toNode: 'b' } }),
    );
    const changed: Record<string, unknown> = {
      id: 'other', fromNode: 'ship2', toNode: 'ship2', method: 'REQnCliCommand', methodArgs: ['rm'], data: 'e', replyMethod: 'REQToFile',
      replyMethodArgs: ['x'], ACKTimeout: 99, retries: 0, retryWait: 9, replyACKTimeout: 1, replyRetries: 1, methodTimeout: -1, directory: 'x',
      fileName: 'g', schedule: [1, 3], isReply: true, error: { code: 'X', message: 'y' }, inReplyTo: { id: 'y', method: 'M', fromNode: 'a', toNode: 'b' }, acceptedAt: 1, expiresAt: 2,
      relayViaNode: 'hub',
    };
    expect(Object.keys(changed).sort()).toEqual([...SIGNED_FIELDS].sort());
    expect(verifySignature(central.keys.publicKey, envelopeBytes(sealed), sealed.signature!)).toBe(true);
    for (const [field, value] of Object.entries(changed)) {
      const tampered = { ...sealed, [field]: value } as Message;
      expect(verifySignature(central.keys.publicKey, envelopeBytes(tampered), sealed.signature!), field).toBe(false);
    }
  });

  it('refuses a field no signature covers, and an unsigned message', async () => {
    const { central, ship1 } = await pair();
    const sealed = central.guard.seal(request());
    await expect(ship1.guard.check({ ...sealed, useShell: true } as unknown as Message)).rejects.toMatchObject({
      code: 'BOSUN_BAD_SIGNATURE',
      message: 'the message carries "useShell", which no signature covers',
    });
    const { signature: _s, ...unsigned } = sealed;
    await expect(ship1.guard.check(unsigned as Message)).rejects.toMatchObject({ code: 'BOSUN_BAD_SIGNATURE', message: 'the message is not signed' });
  });

  it('refuses a lifetime longer than this node allows', async () => {
    const { ship1, centralKeyDir } = await pair();
    const longLived = await createSecurity({ node: 'central', central: 'central', keyDir: centralKeyDir, store: new MemoryStore(), ttlSeconds: 90 * 24 * 3600 });
    await expect(ship1.guard.check(longLived.guard.seal(request()))).rejects.toMatchObject({ code: 'BOSUN_EXPIRED', message: expect.stringMatching(/asks to live/) });
  });
});

describe('check with the runtime\'s delivery', () => {
  it('takes the same delivery checked again (a restart) for what it is, and a second delivery for a replay', async () => {
    const { central, ship1 } = await pair();
    const m = central.guard.seal(request());
    const stream = streamIdOf('central', 'ship1', 'REQCliCommand');
    await ship1.guard.check(m, { stream, seq: 7 });
    await ship1.guard.check(m, { stream, seq: 7 });
    await expect(ship1.guard.check(m, { stream, seq: 8 })).rejects.toMatchObject({ code: 'BOSUN_REPLAYED' });
    await expect(ship1.guard.check(m)).rejects.toMatchObject({ code: 'BOSUN_REPLAYED' });
  });

  it('refuses a message that arrived on another stream than its own (so another method runs it)', async () => {
    const { central, ship1 } = await pair();
    const m = central.guard.seal(request({ method: 'REQToConsole' }));
    await expect(ship1.guard.check(m, { stream: streamIdOf('central', 'ship1', 'REQCliCommand'), seq: 1 })).rejects.toMatchObject({
      code: 'BOSUN_MISDIRECTED',
    });
  });

  it('takes a relayed message only from the relay its sender signed for', async () => {
    const { central, ship1 } = await pair();
    const m = central.guard.seal(request({ relayViaNode: 'hub' }));
    await expect(ship1.guard.check(m, { stream: streamIdOf('evil', 'ship1', 'REQCliCommand'), seq: 1 })).rejects.toMatchObject({ code: 'BOSUN_MISDIRECTED' });
    // Naming another relay after signing breaks the signature.
    await expect(ship1.guard.check({ ...m, relayViaNode: 'evil' }, { stream: streamIdOf('evil', 'ship1', 'REQCliCommand'), seq: 1 })).rejects.toMatchObject({
      code: 'BOSUN_BAD_SIGNATURE',
    });
    await ship1.guard.check(m, { stream: streamIdOf('hub', 'ship1', 'REQCliCommand'), seq: 1 });
  });

  it('lets a local scheduled re-run (sequence 0) through, and refuses a received message that claims to be one', async () => {
    const { ship1 } = await pair();
    const scheduled = { ...request(), scheduled: { firstRunAt: 1, run: 2, of: 'x' } } as Message;
    await ship1.guard.check(scheduled, { stream: streamIdOf('central', 'ship1', 'REQCliCommand'), seq: 0 });
    await expect(ship1.guard.check(scheduled, { stream: streamIdOf('central', 'ship1', 'REQCliCommand'), seq: 3 })).rejects.toMatchObject({
      code: 'BOSUN_BAD_SIGNATURE',
      message: 'the message carries "scheduled", which no signature covers',
    });
  });
});

describe('on arrival, before a frame takes its place in a stream', () => {
  it('screens out a message not signed by its sender\'s known key, or not of the stream it came on', async () => {
    const { central, ship1 } = await pair();
    const stream = streamIdOf('central', 'ship1', 'REQCliCommand');
    const m = central.guard.seal(request());
    expect(ship1.guard.screen(m, stream)).toBeUndefined();
    expect(ship1.guard.screen({ ...m, methodArgs: ['rm', '-rf', '/'] }, stream)).toMatchObject({ code: 'BOSUN_BAD_SIGNATURE' });
    const { signature: _s, ...unsigned } = m;
    expect(ship1.guard.screen(unsigned as Message, stream)).toMatchObject({ code: 'BOSUN_BAD_SIGNATURE', message: 'the message is not signed' });
    expect(ship1.guard.screen(m, streamIdOf('central', 'ship1', 'REQToConsole'))).toMatchObject({ code: 'BOSUN_MISDIRECTED' });
    const relayed = central.guard.seal(request({ relayViaNode: 'hub' }));
    expect(ship1.guard.screen(relayed, streamIdOf('hub', 'ship1', 'REQCliCommand'))).toBeUndefined();
    expect(ship1.guard.screen(relayed, streamIdOf('evil', 'ship1', 'REQCliCommand'))).toMatchObject({ code: 'BOSUN_MISDIRECTED' });
  });

  it('drops on arrival a sender whose key this node does not hold; central takes the hellos that present one', async () => {
    const { central, ship1 } = await pair();
    const centralKey = central.keys.publicKey;
    const ship2 = await createSecurity({ node: 'ship2', central: 'central', keyDir: await tempDir(), store: new MemoryStore(), centralKey });
    const m = ship2.guard.seal(request({ fromNode: 'ship2' }));
    const stream = streamIdOf('ship2', 'ship1', 'REQCliCommand');
    expect(ship1.guard.screen(m, stream)).toMatchObject({ code: 'BOSUN_UNKNOWN_KEY' });
    await expect(ship1.guard.check(m, { stream, seq: 1 })).rejects.toMatchObject({ code: 'BOSUN_UNKNOWN_KEY' });
    // Central takes a hello signed with the key it presents, even a key that is not the
    // node's allowed one: the check files it as pending.
    const hello1 = ship2.guard.seal(testMessage({ id: 'h1', fromNode: 'ship2', toNode: 'central', method: 'REQHello', data: '{}', replyMethod: 'none', acceptedAt: Date.now() }));
    await central.guard.check(hello1);
    await central.authority!.allow(['ship2']);
    const rotated = await createSecurity({ node: 'ship2', central: 'central', keyDir: await tempDir(), store: new MemoryStore(), centralKey });
    const hello = rotated.guard.seal(testMessage({ id: 'h2', fromNode: 'ship2', toNode: 'central', method: 'REQHello', data: '{}', replyMethod: 'none', acceptedAt: Date.now() }));
    expect(central.guard.screen(hello, streamIdOf('ship2', 'central', 'REQHello'))).toBeUndefined();
  });

  it('checks skip, ACK and resume frames against the key of the node that sends them', async () => {
    const { central, ship1 } = await pair();
    const stream = streamIdOf('ship1', 'central', 'REQHello');
    const frames: SignedFrame[] = [
      { v: 2, type: 'ack', inc: INC, stream, upTo: 5 },
      { v: 2, type: 'ack', inc: INC, stream, seqs: [2, 3] },
      { v: 2, type: 'resume', stream },
      { v: 2, type: 'skip', inc: INC, stream: streamIdOf('central', 'ship1', 'REQCliCommand'), seq: 4 },
    ];
    for (const frame of frames) {
      const sealed = central.guard.sealFrame(frame);
      expect(ship1.guard.checkFrame(sealed, 'central'), frame.type).toBeUndefined();
      expect(ship1.guard.checkFrame(frame, 'central')).toMatchObject({ code: 'BOSUN_BAD_SIGNATURE', message: expect.stringMatching(/is not signed$/) });
      expect(ship1.guard.checkFrame({ ...sealed, stream: streamIdOf('ship1', 'central', 'REQErrorLog') }, 'central')).toMatchObject({ code: 'BOSUN_BAD_SIGNATURE' });
      expect(ship1.guard.checkFrame(ship1.guard.sealFrame(frame), 'central')).toMatchObject({ code: 'BOSUN_BAD_SIGNATURE' });
    }
    const ack = central.guard.sealFrame({ v: 2, type: 'ack', inc: INC, stream, upTo: 5 });
    expect(ship1.guard.checkFrame({ ...ack, upTo: 500 }, 'central')).toMatchObject({ code: 'BOSUN_BAD_SIGNATURE' });
    expect(ship1.guard.checkFrame({ ...ack, seqs: [6] }, 'central')).toMatchObject({ code: 'BOSUN_BAD_SIGNATURE' });
    // Central has not allowed ship1's key yet: its frames are taken as they come.
    expect(central.guard.checkFrame({ v: 2, type: 'ack', inc: INC, stream: streamIdOf('central', 'ship1', 'REQKeysUpdate'), upTo: 1 }, 'ship1')).toBeUndefined();
  });
});

describe('keys on central', () => {
  it('files a hello from an unknown node as pending, and a changed key as pending while refusing it', async () => {
    const { central } = await pair();
    const centralKey = central.keys.publicKey;
    const shipKeys = await createSecurity({ node: 'ship9', central: 'central', keyDir: await tempDir(), store: new MemoryStore(), centralKey });
    const hello = shipKeys.guard.seal(testMessage({ id: 'h1', fromNode: 'ship9', toNode: 'central', method: 'REQHello', data: '{"bosun":"0.1.0"}', replyMethod: 'none', acceptedAt: Date.now() }));
    expect(JSON.parse(hello.data!).publicKey).toBe(shipKeys.keys.publicKey);
    await central.guard.check(hello);
    expect(central.authority!.list().pending.map((p) => p.fingerprint)).toEqual([shipKeys.keys.fingerprint]);
    // Anything else from it waits for an operator.
    const other = shipKeys.guard.seal(testMessage({ id: 'e1', fromNode: 'ship9', toNode: 'central', method: 'REQErrorLog', acceptedAt: Date.now() }));
    await expect(central.guard.check(other)).rejects.toMatchObject({ code: 'BOSUN_UNKNOWN_KEY' });

    await central.authority!.allow(['ship9']);
    const impostor = await createSecurity({ node: 'ship9', central: 'central', keyDir: await tempDir(), store: new MemoryStore(), centralKey });
    const newHello = impostor.guard.seal(testMessage({ id: 'h2', fromNode: 'ship9', toNode: 'central', method: 'REQHello', data: '{}', replyMethod: 'none', acceptedAt: Date.now() }));
    await expect(central.guard.check(newHello)).rejects.toMatchObject({ code: 'BOSUN_UNKNOWN_KEY', message: expect.stringMatching(/is pending/) });
    expect(central.authority!.keyFor('ship9')).toBe(shipKeys.keys.publicKey);
    expect(central.authority!.list().pending).toMatchObject([{ node: 'ship9', replacesAllowedKey: true, fingerprint: impostor.keys.fingerprint }]);
  });

  it('pins central\'s key from --trust-central and refuses a key set signed by another central', async () => {
    const { ship1 } = await pair();
    const other = await createSecurity({ node: 'central', central: 'central', keyDir: await tempDir(), store: new MemoryStore() });
    const update = other.guard.seal(
      testMessage({ id: 'k1', fromNode: 'central', toNode: 'ship1', method: 'REQKeysUpdate', data: JSON.stringify(other.authority!.keySetDocument()), replyMethod: 'none', acceptedAt: Date.now() }),
    );
    await expect(ship1.guard.check(update)).rejects.toMatchObject({ code: 'BOSUN_BAD_SIGNATURE' });
    await expect(ship1.trust!.applyKeys(JSON.stringify(other.authority!.keySetDocument()))).rejects.toMatchObject({ code: 'BOSUN_BAD_SIGNATURE' });
    expect(ship1.trust!.keysHash).toBe('');
  });
});

describe('a node\'s trust across restarts', () => {
  it('refuses to start without central\'s key, pins it from a key set with the fingerprint given, keeps it, and re-verifies what it loads', async () => {
    const central = await createSecurity({ node: 'central', central: 'central', keyDir: await tempDir(), store: new MemoryStore() });
    const keyDir = await tempDir();
    const store = new MemoryStore();
    await expect(createSecurity({ node: 'ship1', central: 'central', keyDir, store })).rejects.toMatchObject({
      code: 'BOSUN_BAD_CONFIG',
      message: expect.stringMatching(/--trust-central FILE .* or --trust-central-fingerprint SHA256:/),
    });
    await expect(createSecurity({ node: 'ship1', central: 'central', keyDir, store, centralFingerprint: 'SHA256:nope' })).rejects.toMatchObject({ code: 'BOSUN_BAD_CONFIG' });

    const ship1 = await createSecurity({ node: 'ship1', central: 'central', keyDir, store, centralFingerprint: central.keys.fingerprint });
    expect(ship1.trust!.centralKey).toBeUndefined();
    // A key set from anyone else, however well signed with its own key, pins nothing.
    const other = await createSecurity({ node: 'central', central: 'central', keyDir: await tempDir(), store: new MemoryStore() });
    await expect(ship1.trust!.applyKeys(JSON.stringify(other.authority!.keySetDocument()))).rejects.toMatchObject({ code: 'BOSUN_UNKNOWN_KEY' });
    expect(ship1.trust!.centralKey).toBeUndefined();
    await ship1.trust!.applyKeys(JSON.stringify(central.authority!.keySetDocument()));
    expect(ship1.trust!.centralKey).toBe(central.keys.publicKey);

    // Pinned from what the operator gave: later starts need no flag.
    const again = await createSecurity({ node: 'ship1', central: 'central', keyDir, store });
    expect(again.trust!.centralKey).toBe(central.keys.publicKey);
    expect(again.trust!.keysHash).toBe(ship1.trust!.keysHash);

    // A key set put into the store by hand, signed by someone else, is not taken.
    await new Ledger(store).put('keys', JSON.stringify(other.authority!.keySetDocument()));
    const tampered = await createSecurity({ node: 'ship1', central: 'central', keyDir, store });
    expect(tampered.trust!.keysHash).toBe('');
    expect(tampered.trust!.centralKey).toBe(central.keys.publicKey);
  });

  it('does not take a central key pinned from the wire by an older version', async () => {
    const central = await createSecurity({ node: 'central', central: 'central', keyDir: await tempDir(), store: new MemoryStore() });
    const store = new MemoryStore();
    await store.open();
    await new Ledger(store).put('centralKey', central.keys.publicKey);
    await expect(createSecurity({ node: 'ship1', central: 'central', keyDir: await tempDir(), store })).rejects.toMatchObject({ code: 'BOSUN_BAD_CONFIG' });
  });
});

describe('the ledger', () => {
  it('forgets ids once they expired', async () => {
    const store = new MemoryStore();
    await store.open();
    const ledger = new Ledger(store);
    expect(await ledger.markSeen('central', 'a', 1000)).toBe('first');
    expect(await ledger.markSeen('central', 'a', 1000)).toBe('replay');
    await new Promise((r) => setTimeout(r, 20)); // the mark is written in the background
    expect(await ledger.markSeen('central', 'a', 1000)).toBe('replay');
    expect(await ledger.prune(999)).toBe(0);
    expect(await ledger.prune(2000)).toBe(1);
    expect(await ledger.markSeen('central', 'a', 5000)).toBe('first');
  });

  it('tells two concurrent checks of one id apart', async () => {
    const store = new MemoryStore();
    await store.open();
    const ledger = new Ledger(store);
    const verdicts = await Promise.all([ledger.markSeen('n', 'x', Date.now() + 1000), ledger.markSeen('n', 'x', Date.now() + 1000)]);
    expect(verdicts.sort()).toEqual(['first', 'replay']);
  });
});
