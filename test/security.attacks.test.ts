import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../src/message.ts';
import type { MethodSpec } from '../src/methods/types.ts';
import type { MessageGuard } from '../src/runtime/Node.ts';
import { ackSubject, dataSubject, encodeDataFrame, encodeFrame, streamIdOf, newIncarnation, type Frame } from '../src/delivery/frames.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { envelopeBytes, frameBytes } from '../src/security/canonical.ts';
import { KEYS_KIND, signDocument } from '../src/security/documents.ts';
import { errorLogOf, eventually, startSecureFleet, type SecureTestNode } from './support/security.ts';
import { createSecurity, type Security } from '../src/security/createSecurity.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { testMessage } from './support/methods.ts';

const INC = newIncarnation();

/**
 * Each attack against a fleet of central, ship1 and ship2, all keys allowed. An attack is
 * what a node (or someone on the broker) does to a message after its guard signed it:
 * the receiver must refuse it and report it to central's error log. A message whose
 * signature fails against the key the receiver holds for its sender is dropped on
 * arrival, before it takes a place in its stream (there is no reply: nothing says it
 * came from its sender); one refused when it is about to run says why in an error reply.
 */

type Attack = (sealed: Message) => Message;
const attacks: Record<string, Attack | undefined> = {};
const runs: string[] = [];
const started: SecureTestNode[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const k of Object.keys(attacks)) delete attacks[k];
  runs.length = 0;
  await Promise.all(started.splice(0).map((n) => n.stop()));
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

const recordMethod: MethodSpec = {
  name: 'REQTestRecord',
  summary: 'records what ran',
  async handler(ctx) {
    runs.push(`${ctx.node}:${ctx.message.data}`);
    return { output: `ran ${ctx.message.data}` };
  },
};

function attackable(name: string) {
  return {
    wrapGuard: (guard: MessageGuard): MessageGuard => ({
      seal: (m) => {
        const sealed = guard.seal(m);
        return attacks[name]?.(sealed) ?? sealed;
      },
      // Every argument the runtime gives (the delivery, once it gives it) goes through.
      check: (...args: Parameters<MessageGuard['check']>) => guard.check(...args),
      // What judges and signs frames is the real guard's: the attacks are on messages.
      screen: guard.screen?.bind(guard),
      sealFrame: guard.sealFrame?.bind(guard),
      checkFrame: guard.checkFrame?.bind(guard),
      signDelivery: guard.signDelivery?.bind(guard),
      checkDelivery: guard.checkDelivery?.bind(guard),
    }),
  };
}

async function fleet(options: { ship1Clock?: { now(): number } } = {}) {
  const bus = new EmbeddedBus();
  const f = await startSecureFleet(['ship1', 'ship2'], {
    bus,
    methods: [recordMethod, { ...recordMethod, name: 'REQnTestRecord' }],
    perNode: {
      central: attackable('central'),
      ship1: { ...attackable('ship1'), ...(options.ship1Clock ? { security: { clock: options.ship1Clock, unknownKeyGraceSeconds: 2, syncIntervalSeconds: 0 } } : {}) },
      ship2: attackable('ship2'),
    },
  });
  started.push(...f.all);
  return { bus, central: f.central, ship1: f.ships.ship1!, ship2: f.ships.ship2! };
}

async function replyTo(from: SecureTestNode, message: Record<string, unknown>): Promise<string> {
  const d = await from.node.send(message);
  return (await d.reply).data ?? '';
}

async function logged(central: SecureTestNode, pattern: RegExp): Promise<string> {
  return eventually(async () => {
    const text = await errorLogOf(central.node);
    return pattern.test(text) && text;
  }, 10_000, `${pattern} in central's error log`);
}

function resign(m: Message, key: KeyObject | SecureTestNode): Message {
  const bytes = envelopeBytes(m);
  const signature = 'security' in key ? key.security.keys.sign(bytes) : sign(null, bytes, key).toString('base64');
  return { ...m, signature };
}

describe('attacks on a secure fleet', () => {
  it('drops on arrival a message signed with a key that is not its sender\'s', async () => {
    const { central, ship1, ship2 } = await fleet();
    const rogue = generateKeyPairSync('ed25519').privateKey;
    attacks.ship2 = (m) => (m.data === 'forged' ? resign(m, rogue) : m);
    await ship2.node.send({ toNode: 'ship1', method: 'REQTestRecord', data: 'forged' });
    await logged(
      central,
      /ship1 BOSUN_BAD_SIGNATURE ship1\/inbound\/ship2~ship1~REQTestRecord: dropped data frame 1 of stream ship2~ship1~REQTestRecord, said to be from ship2, neither stored nor ACKed: the signature does not match ship2's key SHA256:/,
    );
    expect(runs).toEqual([]);
    expect(ship1.node.counters.refusedFrames).toBeGreaterThan(0);
    expect(ship2.node.senders().get(streamIdOf('ship2', 'ship1', 'REQTestRecord'))!.drained).toBe(false);
  });

  it('drops on arrival a message whose data was changed after signing', async () => {
    const { central } = await fleet();
    attacks.central = (m) => (m.data === 'pay 10' ? { ...m, data: 'pay 1000' } : m);
    await central.node.send({ toNode: 'ship1', method: 'REQTestRecord', data: 'pay 10' });
    await logged(central, /ship1 BOSUN_BAD_SIGNATURE .*REQTestRecord/);
    expect(runs).toEqual([]);
  });

  it('drops on arrival a message whose method or command was swapped after signing', async () => {
    const { central } = await fleet();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-attack-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const marker = path.join(dir, 'pwned');
    attacks.central = (m) => {
      if (m.method === 'REQToConsole' && m.data === 'swap') return { ...m, method: 'REQTestRecord' };
      if (m.methodArgs[1] === 'harmless') return { ...m, methodArgs: ['touch', marker] };
      return m;
    };
    await central.node.send({ toNode: 'ship1', method: 'REQToConsole', data: 'swap' });
    await central.node.send({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['echo', 'harmless'] });
    await logged(central, /ship1 BOSUN_BAD_SIGNATURE .*REQTestRecord/);
    await logged(central, /ship1 BOSUN_BAD_SIGNATURE .*REQCliCommand/);
    expect(runs).toEqual([]);
    await expect(stat(marker)).rejects.toThrow();
  });

  it('runs a message once: a replay of it is refused', async () => {
    const { central } = await fleet();
    let captured: Message | undefined;
    attacks.central = (m) => {
      if (m.data === 'transfer') captured = m;
      return m.data === 'again' && captured ? captured : m;
    };
    expect(await replyTo(central, { toNode: 'ship1', method: 'REQTestRecord', data: 'transfer' })).toBe('ran transfer');
    await central.node.send({ toNode: 'ship1', method: 'REQTestRecord', data: 'again' });
    await logged(central, /ship1 BOSUN_REPLAYED .*message \S+ from central was already received/);
    expect(runs).toEqual(['ship1:transfer']);
  });

  it('drops on arrival a message re-targeted to another node', async () => {
    const { central } = await fleet();
    attacks.central = (m) => (m.data === 'for ship1' ? { ...m, toNode: 'ship2' } : m);
    await central.node.send({ toNode: 'ship1', method: 'REQTestRecord', data: 'for ship1' });
    await logged(central, /ship2 BOSUN_BAD_SIGNATURE ship2\/inbound\/central~ship2~REQTestRecord: dropped data frame 1/);
    expect(runs).toEqual([]);
  });

  it('refuses a signed message that someone on the broker re-publishes to another node', async () => {
    const { bus, central } = await fleet();
    let captured: Message | undefined;
    attacks.central = (m) => {
      if (m.data === 'only ship1') captured = m;
      return m;
    };
    expect(await replyTo(central, { toNode: 'ship1', method: 'REQTestRecord', data: 'only ship1' })).toBe('ran only ship1');
    const mallory = bus.transport();
    await mallory.start('mallory', () => {});
    cleanups.push(() => mallory.close());
    const stream = streamIdOf('central', 'ship2', 'REQTestRecord');
    mallory.publish(dataSubject({ fromNode: 'central', toNode: 'ship2', method: 'REQTestRecord' }), encodeFrame({ v: 2, type: 'data', inc: INC, stream, seq: 1, message: captured! }));
    await logged(central, /ship2 BOSUN_MISDIRECTED .*the message is for ship1, not ship2/);
    expect(runs).toEqual(['ship1:only ship1']);
  });

  it('refuses an expired message, and one issued in the future', async () => {
    const offset = { ms: 0 };
    const { central } = await fleet({ ship1Clock: { now: () => Date.now() + offset.ms } });
    offset.ms = 8 * 24 * 3600 * 1000; // the message waited 8 days for ship1; it lives 7
    expect(await replyTo(central, { toNode: 'ship1', method: 'REQTestRecord', data: 'late' })).toMatch(/^error BOSUN_EXPIRED: the message expired at/);
    offset.ms = -3600 * 1000;
    expect(await replyTo(central, { toNode: 'ship1', method: 'REQTestRecord', data: 'early' })).toMatch(/^error BOSUN_EXPIRED: the message was issued in the future/);
    await logged(central, /ship1 BOSUN_EXPIRED/);
    expect(runs).toEqual([]);
  });

  it('refuses a method from a sender the ACL does not name, until it does', async () => {
    const { central, ship1, ship2 } = await fleet();
    expect(await replyTo(ship2, { toNode: 'ship1', method: 'REQTestRecord', data: 'hi' })).toBe('error BOSUN_NOT_ALLOWED: ship2 may not send REQTestRecord to ship1 (ACL)');
    await logged(central, /ship1 BOSUN_NOT_ALLOWED .*ship2 may not send REQTestRecord to ship1/);
    // Central's management is central's own: no other node may use it.
    expect(await replyTo(ship2, { toNode: 'central', method: 'REQKeysAllow', methodArgs: ['ship3'] })).toMatch(/^error BOSUN_NOT_ALLOWED: REQKeysAllow is taken only by central from itself/);

    await replyTo(central, { toNode: 'central', method: 'REQAclAdd', methodArgs: ['method', 'ship1', 'REQTestRecord', 'ship2'] });
    await eventually(() => ship1.security.trust!.acl().methods.REQTestRecord?.includes('ship2'), 5000, 'the ACL on ship1');
    expect(await replyTo(ship2, { toNode: 'ship1', method: 'REQTestRecord', data: 'hi' })).toBe('ran hi');
  });

  it('runs only the commands the ACL gives a sender', async () => {
    const { central, ship1, ship2 } = await fleet();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-acl-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    for (const args of [
      ['nodeGroup', 'grp_operators', 'ship2'],
      ['commandGroup', 'grp_greetings', 'echo', '*'],
      ['command', 'ship1', 'grp_operators', 'grp_greetings'],
    ]) {
      await replyTo(central, { toNode: 'central', method: 'REQAclAdd', methodArgs: args });
    }
    await eventually(() => ship1.security.trust!.acl().commands.ship2?.length === 1, 5000, 'the ACL on ship1');
    expect(await replyTo(ship2, { toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['echo', 'ok'] })).toBe('ok\n');
    const marker = path.join(dir, 'pwned');
    expect(await replyTo(ship2, { toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['touch', marker] })).toBe(
      `error BOSUN_COMMAND_NOT_ALLOWED: ship2 may not run ${JSON.stringify(['touch', marker])} on ship1 (ACL)`,
    );
    expect(await replyTo(ship2, { toNode: 'ship1', method: 'REQnCliCommand', methodArgs: ['echo', 'two', 'args'] })).toMatch(/^error BOSUN_COMMAND_NOT_ALLOWED/);
    await logged(central, /ship1 BOSUN_COMMAND_NOT_ALLOWED .*ship2 may not run/);
    await expect(stat(marker)).rejects.toThrow();
    // Central's commands are not restricted by rules that name other senders.
    expect(await replyTo(central, { toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['echo', 'central'] })).toBe('central\n');
  });

  it('refuses a reply to a request the node never sent', async () => {
    const { central, ship2 } = await fleet();
    attacks.ship2 = (m) =>
      m.data === 'fake result'
        ? resign({ ...m, isReply: true, inReplyTo: { id: 'never-sent', method: 'REQCliCommand', fromNode: 'central', toNode: 'ship2' } }, ship2)
        : m;
    await ship2.node.send({ toNode: 'central', method: 'REQToFile', data: 'fake result', fileName: 'evil.txt' });
    await logged(central, /central BOSUN_NOT_ALLOWED .*REQToFile \S+ from ship2: the reply answers no request central sent to ship2/);
  });

  it('ignores a key update that central did not sign', async () => {
    const { central, ship1, ship2 } = await fleet();
    const realSet = JSON.stringify(central.security.authority!.keySetDocument());
    const hashBefore = ship1.security.trust!.keysHash;
    // From another node, even with central's genuine key set in it.
    expect(await replyTo(ship2, { toNode: 'ship1', method: 'REQKeysUpdate', data: realSet })).toBe(
      'error BOSUN_NOT_ALLOWED: REQKeysUpdate is taken only from central, not from ship2',
    );
    // In central's envelope, but the set itself signed by another key.
    const mallory = generateKeyPairSync('ed25519');
    const malloryKey = Buffer.from((mallory.publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url').toString('base64');
    const body = central.security.authority!.keySetDocument().body;
    const forged = signDocument(KEYS_KIND, { ...body, keys: { ...body.keys, mallory: malloryKey }, serial: body.serial + 1 }, {
      publicKey: malloryKey,
      fingerprint: '',
      sign: (bytes) => sign(null, bytes, mallory.privateKey).toString('base64'),
    });
    await central.node.send({ toNode: 'ship1', method: 'REQKeysUpdate', data: JSON.stringify(forged), replyMethod: 'none' });
    await logged(central, /ship1 BOSUN_BAD_SIGNATURE .*REQKeysUpdate .*the key set is not signed by central; ignored/);
    expect(ship1.security.trust!.keyFor('mallory')).toBeUndefined();
    expect(ship1.security.trust!.keysHash).toBe(hashBefore);
  });

  it('changes nothing on a malformed or stale key update', async () => {
    const { central, ship1 } = await fleet();
    const trust = ship1.security.trust!;
    const before = { hash: trust.keysHash, ship2: trust.keyFor('ship2') };
    const oldSet = JSON.stringify(central.security.authority!.keySetDocument());
    for (const data of ['not json', '{"kind":"bosun-keys-v1","body":{"keys":{"ship2":"nope"}},"signature":"x"}', '{"kind":"bosun-keys-v1"}']) {
      await central.node.send({ toNode: 'ship1', method: 'REQKeysUpdate', data, replyMethod: 'none' });
    }
    await logged(central, /(ship1 BOSUN_BAD_MESSAGE .*malformed update, nothing changed[^\n]*\n[^]*){3}/);
    expect({ hash: trust.keysHash, ship2: trust.keyFor('ship2') }).toEqual(before);
    expect(trust.keyFor('ship2')).toBeDefined();

    // A newer set (central revoked and re-allowed nothing, just moved on), then the old one again.
    await replyTo(central, { toNode: 'central', method: 'REQKeysRevoke', methodArgs: ['ship2'] });
    await eventually(() => trust.keyFor('ship2') === undefined, 5000, 'the newer set');
    await central.node.send({ toNode: 'ship1', method: 'REQKeysUpdate', data: oldSet, replyMethod: 'none' });
    await logged(central, /ship1 BOSUN_REPLAYED .*key set \d+ is older than the one this node has/);
    expect(trust.keyFor('ship2')).toBeUndefined();
  });

  /*
   * Two attacks that need to know where a message arrived, not only what it says: the
   * runtime hands the guard the stream and sequence number it came as.
   */
  it('refuses a message with a `scheduled` field that came over the wire', async () => {
    const { bus, central } = await fleet();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-attack-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const marker = path.join(dir, 'pwned');
    const mallory = bus.transport();
    await mallory.start('mallory', () => {});
    cleanups.push(() => mallory.close());
    const unsigned = {
      id: 'x#1', fromNode: 'central', toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['touch', marker], replyMethod: 'none', replyMethodArgs: [],
      ACKTimeout: 5, retries: 0, retryWait: 1, methodTimeout: 10, acceptedAt: Date.now(), scheduled: { firstRunAt: Date.now(), run: 1, of: 'x' },
    };
    const stream = streamIdOf('central', 'ship1', 'REQCliCommand');
    mallory.publish(dataSubject({ fromNode: 'central', toNode: 'ship1', method: 'REQCliCommand' }), encodeFrame({ v: 2, type: 'data', inc: INC, stream, seq: 1, message: unsigned }));
    await new Promise((r) => setTimeout(r, 1000));
    await expect(stat(marker)).rejects.toThrow();
    void central;
  });

  it('refuses a message sent on the stream of another method', async () => {
    const { bus, central, ship1, ship2 } = await fleet();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-attack-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const marker = path.join(dir, 'pwned');
    // ship2 may print on ship1's console, nothing more.
    await replyTo(central, { toNode: 'central', method: 'REQAclAdd', methodArgs: ['method', 'ship1', 'REQToConsole', 'ship2'] });
    await eventually(() => ship1.security.trust!.acl().methods.REQToConsole, 5000, 'the ACL on ship1');
    // A compromised ship2 signs a console message, then publishes it on the command stream.
    let captured: Message | undefined;
    attacks.ship2 = (m) => {
      if (m.method === 'REQToConsole') captured = m;
      return { ...m, toNode: 'nowhere' };
    };
    await ship2.node.send({ toNode: 'ship1', method: 'REQToConsole', methodArgs: ['touch', marker], data: 'hello', replyMethod: 'none' });
    const mallory = bus.transport();
    await mallory.start('mallory', () => {});
    cleanups.push(() => mallory.close());
    const stream = streamIdOf('ship2', 'ship1', 'REQCliCommand');
    mallory.publish(dataSubject({ fromNode: 'ship2', toNode: 'ship1', method: 'REQCliCommand' }), encodeFrame({ v: 2, type: 'data', inc: INC, stream, seq: 1, message: captured! }));
    await new Promise((r) => setTimeout(r, 1000));
    await expect(stat(marker)).rejects.toThrow();
  });
});

/*
 * Someone on a broker that does not confine its clients (`bosun nats-config` does) can
 * publish any frame on any subject. The frames that change what a stream delivers are
 * judged before they change it; a forged one is dropped and reported, and the genuine
 * traffic goes on as if it had not been there.
 */
describe('forged frames from someone on the broker', () => {
  async function mallory(bus: EmbeddedBus) {
    const transport = bus.transport();
    await transport.start('mallory', () => {});
    cleanups.push(() => transport.close());
    return transport;
  }

  const rogue = generateKeyPairSync('ed25519').privateKey;
  const claim = (fields: Partial<Message>): Message => ({
    id: `forged-${Math.random()}`, fromNode: 'central', toNode: 'ship1', method: 'REQTestRecord', methodArgs: [], data: 'forged', replyMethod: 'none',
    replyMethodArgs: [], ACKTimeout: 5, retries: 0, retryWait: 1, methodTimeout: 10, acceptedAt: Date.now(), expiresAt: Date.now() + 60_000, ...fields,
  });
  const forgeries: Array<[string, string, (f: { stream: string; seq: number; ship2: SecureTestNode }) => Frame]> = [
    ['a data frame signed with another key', 'BOSUN_BAD_SIGNATURE', ({ stream, seq }) => ({ v: 2, type: 'data', inc: INC, stream, seq, message: resign(claim({}), rogue) })],
    ['an unsigned data frame', 'BOSUN_BAD_SIGNATURE', ({ stream, seq }) => ({ v: 2, type: 'data', inc: INC, stream, seq, message: claim({}) })],
    // Genuine, but another stream's: ship2's own signed message to ship1.
    ['a data frame of another stream', 'BOSUN_MISDIRECTED', ({ stream, seq, ship2 }) => ({
      v: 2, type: 'data', inc: INC, stream, seq, message: ship2.security.guard.seal(claim({ fromNode: 'ship2' })),
    })],
    ['an unsigned skip frame', 'BOSUN_BAD_SIGNATURE', ({ stream, seq }) => ({ v: 2, type: 'skip', inc: INC, stream, seq })],
  ];

  it.each(forgeries)('%s with the next sequence number does not take the genuine message\'s place', async (_, code, forge) => {
    const { bus, central, ship1, ship2 } = await fleet();
    const ids = { fromNode: 'central', toNode: 'ship1', method: 'REQTestRecord' };
    const stream = streamIdOf(ids.fromNode, ids.toNode, ids.method);
    expect(await replyTo(central, { ...ids, data: 'first' })).toBe('ran first');
    const seq = central.node.senders().get(stream)!.info.nextSeq as number;
    const frame = forge({ stream, seq, ship2 });
    (await mallory(bus)).publish(dataSubject(ids), encodeFrame(frame));
    // Judged (dropped, or taken in the genuine message's place) before the genuine one goes.
    const receiver = ship1.node.receivers().get(stream)!;
    await eventually(() => ship1.node.counters.refusedFrames! > 0 || (receiver.info.receivedUpTo as number) >= seq, 5000, 'the forged frame to arrive');

    const genuine = await central.node.send({ ...ids, data: 'genuine' });
    await eventually(() => runs.includes('ship1:genuine'), 5000, 'the genuine message to run');
    expect((await genuine.reply).data).toBe('ran genuine');
    expect(runs).toEqual(['ship1:first', 'ship1:genuine']);
    await logged(central, new RegExp(`ship1 ${code} ship1/inbound/${stream}: dropped ${frame.type} frame ${seq} of stream ${stream}, said to be from central, neither stored nor ACKed: `));
  });

  it.each([
    ['ordered', 'REQTestRecord', (stream: string): Frame => ({ v: 2, type: 'ack', inc: INC, stream, upTo: 3 })],
    ['unordered', 'REQnTestRecord', (stream: string): Frame => {
      const ack = { v: 2 as const, type: 'ack' as const, inc: INC, stream, seqs: [1, 2, 3] };
      return { ...ack, signature: sign(null, frameBytes(ack), rogue).toString('base64') };
    }],
  ])('a forged ACK does not make central drop %s messages that were not delivered', async (_, method, forge) => {
    const { bus, central, ship1 } = await fleet();
    const ids = { fromNode: 'central', toNode: 'ship1', method };
    const stream = streamIdOf(ids.fromNode, ids.toNode, ids.method);
    bus.partition('central', 'ship1');
    for (const data of ['a', 'b', 'c']) await central.node.send({ ...ids, data, replyMethod: 'none' });
    const sender = central.node.senders().get(stream)!;
    (await mallory(bus)).publish(ackSubject(ids), encodeFrame(forge(stream)));
    await eventually(() => central.node.counters.refusedFrames! > 0 || sender.drained, 5000, 'the forged ACK to arrive');
    expect(sender.drained).toBe(false);

    bus.heal();
    await eventually(() => runs.length === 3, 10_000, 'every message to run');
    expect([...runs].sort()).toEqual(['ship1:a', 'ship1:b', 'ship1:c']);
    await eventually(() => sender.drained, 5000, 'the genuine ACKs');
    await logged(central, new RegExp(`central BOSUN_BAD_SIGNATURE central/outbound/${stream}: dropped ack frame of stream ${stream}, said to be from ship1, ignored: `));
    void ship1;
  });
});

/**
 * Names nobody allowed cost nothing lasting: their frames are dropped before a receiver
 * exists for them. The only streams such a name opens are how keys are learnt: its hello
 * and key request to central.
 */
describe('frames from names with no allowed key', () => {
  async function madeUp(node: string, centralKey: string) {
    const keyDir = await mkdtemp(path.join(os.tmpdir(), 'bosun-ghost-'));
    cleanups.push(() => rm(keyDir, { recursive: true, force: true }));
    return createSecurity({ node, central: 'central', keyDir, store: new MemoryStore(), centralKey });
  }

  /** `message` sealed by `ghost`, as a data frame with its delivery signature, published on its subject. */
  function publishAs(transport: { publish(s: string, p: Uint8Array): void }, ghost: Security, fields: Partial<Message>): void {
    const m = ghost.guard.seal(testMessage({ id: `g-${Math.random()}`, acceptedAt: Date.now(), ...fields }));
    const ids = { fromNode: m.fromNode, toNode: m.toNode, method: m.method };
    const stream = streamIdOf(ids.fromNode, ids.toNode, ids.method);
    const json = JSON.stringify(m);
    const inc = newIncarnation();
    transport.publish(dataSubject(ids), encodeDataFrame(stream, inc, 1, json, ghost.guard.signDelivery(stream, inc, 1, json)));
  }

  it('open no stream and leave no row on a node; on central only the hello of a name presenting its key', async () => {
    const { bus, central, ship1 } = await fleet();
    const transport = bus.transport();
    await transport.start('mallory', () => {});
    cleanups.push(() => transport.close());
    const centralKey = central.security.keys.publicKey;
    const ghosts = await Promise.all(['ghost1', 'ghost2', 'ghost3'].map((g) => madeUp(g, centralKey)));
    const rows = async (node: SecureTestNode, from: string) => (await node.store.range({ gte: `meta!recv!${from}~`, lt: `meta!recv!${from}~\uffff` })).map(([k]) => k);
    const refusedBefore = { ship1: ship1.node.counters.refusedFrames!, central: central.node.counters.refusedFrames! };

    publishAs(transport, ghosts[0]!, { fromNode: 'ghost1', toNode: 'ship1', method: 'REQTestRecord', replyRetries: -1 });
    publishAs(transport, ghosts[0]!, { fromNode: 'ghost1', toNode: 'central', method: 'REQTestRecord', replyRetries: -1 });
    publishAs(transport, ghosts[1]!, { fromNode: 'ghost2', toNode: 'central', method: 'REQHello', data: '{}', replyMethod: 'none' });
    await eventually(() => ship1.node.counters.refusedFrames! > refusedBefore.ship1 && central.node.counters.refusedFrames! > refusedBefore.central, 5000, 'the frames judged');
    await eventually(() => central.security.authority!.list().pending.some((p) => p.node === 'ghost2'), 5000, 'ghost2 pending');

    expect(await rows(ship1, 'ghost1')).toEqual([]);
    expect(await rows(central, 'ghost1')).toEqual([]);
    expect(await rows(central, 'ghost2')).toEqual(['meta!recv!ghost2~central~REQHello']);
    expect([...ship1.node.receivers().keys()].filter((s) => s.startsWith('ghost'))).toEqual([]);
    // Nothing queued to answer them.
    expect((await ship1.node.queue()).filter((q) => q.toNode.startsWith('ghost'))).toEqual([]);
    expect((await central.node.queue()).filter((q) => q.toNode.startsWith('ghost'))).toEqual([]);
    expect(runs).toEqual([]);
  });
});
