import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nkeys } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTransport, NatsTransport, type NatsTransportOptions } from '../src/transport/index.ts';
import type { Transport, TransportStatus } from '../src/transport/types.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';
import { freePort } from './helpers/ports.ts';
import { transportConformanceSuite } from './transport.conformance.ts';
import { sleep, until } from './helpers/until.ts';

const RECONNECT_MS = 100;
let server: NatsServer;
let scratch: string;
const open: Transport[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  scratch = await mkdtemp(join(tmpdir(), 'bosun-nats-'));
});

afterAll(async () => {
  await Promise.all(open.map((t) => t.close()));
  await server.stop();
  await rm(scratch, { recursive: true, force: true });
});

transportConformanceSuite('nats', () => ({
  createTransport: () => createTransport({ kind: 'nats', servers: server.url, reconnectTimeWaitMs: RECONNECT_MS }),
  disrupt: () => server.stop(),
  restore: () => server.restart(),
  async release() {
    if (!server.running) await server.restart();
  },
}));

function transport(options: Partial<NatsTransportOptions> = {}): NatsTransport {
  const t = new NatsTransport({ servers: server.url, reconnectTimeWaitMs: RECONNECT_MS, ...options });
  open.push(t);
  return t;
}

async function node(name: string, options: Partial<NatsTransportOptions> = {}) {
  const t = transport(options);
  const subjects: string[] = [];
  const payloads: number[] = [];
  const statuses: TransportStatus[] = [];
  t.onStatus((s) => statuses.push(s));
  await t.start(name, (subject, payload) => {
    subjects.push(subject);
    payloads.push(payload[0]!);
  });
  return { t, subjects, payloads, statuses };
}

describe('nats transport against a real nats-server', () => {
  it('reconnects after the server is killed with SIGKILL and restarted on the same port', async () => {
    const a = await node('kill-a');
    const b = await node('kill-b');
    await until(() => a.t.status === 'connected' && b.t.status === 'connected', 5000, 'connected');
    const pidBefore = server.pid;
    await server.kill();
    await until(() => a.t.status === 'disconnected' && b.t.status === 'disconnected', 5000, 'disconnected');
    await server.restart();
    expect(server.pid).not.toBe(pidBefore);
    await until(() => a.t.status === 'connected' && b.t.status === 'connected', 5000, 'reconnected');
    a.t.publish('kill-b.m.k', Uint8Array.of(7));
    await until(() => b.payloads.length === 1, 5000, 'a frame after the restart');
    expect(b.statuses).toEqual(['connected', 'disconnected', 'connected']);
  });

  it('resolves start against a port where no server ever ran, keeps trying, connects when one appears', async () => {
    const port = await freePort();
    const a = await node('late-a', { servers: `nats://127.0.0.1:${port}` });
    expect(a.t.status).toBe('connecting');
    await sleep(3 * RECONNECT_MS);
    expect(a.t.status).toBe('connecting');
    const late = await startNatsServer({ port });
    try {
      await until(() => a.t.status === 'connected', 5000, 'connected to the late server');
      a.t.publish('late-a.self.k', Uint8Array.of(1));
      await until(() => a.payloads.length === 1, 5000, 'its own frame back');
    } finally {
      await a.t.close();
      await late.stop();
    }
  });

  it('stops trying to connect once closed while the server was down', async () => {
    const port = await freePort();
    const monitorPort = await freePort();
    const t = transport({ servers: `nats://127.0.0.1:${port}` });
    await t.start('gone-a', () => {});
    await sleep(RECONNECT_MS);
    await t.close();
    const late = await startNatsServer({ port, args: ['-m', String(monitorPort)] });
    // the transport names its connection after the node; the server remembers closed ones too
    const connectionNames = async () => {
      const connz = (await (await fetch(`http://127.0.0.1:${monitorPort}/connz?state=all`)).json()) as {
        connections: { name?: string }[] | null;
      };
      return (connz.connections ?? []).map((c) => c.name);
    };
    try {
      await sleep(4 * RECONNECT_MS);
      expect(await connectionNames()).not.toContain('gone-a');
      expect(t.status).toBe('closed');
    } finally {
      await late.stop();
    }
  });

  it('loses frames published while disconnected, and never throws', async () => {
    const a = await node('gap-a');
    const b = await node('gap-b');
    await until(() => a.t.status === 'connected' && b.t.status === 'connected', 5000, 'connected');
    await server.kill();
    await until(() => a.t.status === 'disconnected', 5000, 'disconnected');
    for (let i = 0; i < 1000; i++) a.t.publish('gap-b.m.k', Uint8Array.of(1));
    await server.restart();
    await until(() => a.t.status === 'connected' && b.t.status === 'connected', 5000, 'reconnected');
    a.t.publish('gap-b.m.k', Uint8Array.of(2));
    await until(() => b.payloads.length > 0, 5000, 'the frame after reconnecting');
    await sleep(20);
    // nats.js resets its outbound buffer at every connection attempt
    expect(b.payloads).toEqual([2]);
  });

  it('flushes frames published just before close', async () => {
    const a = await node('flush-a');
    const b = await node('flush-b');
    await until(() => a.t.status === 'connected' && b.t.status === 'connected', 5000, 'connected');
    for (let i = 0; i < 1000; i++) a.t.publish('flush-b.m.k', Uint8Array.of(i % 256));
    await a.t.close();
    await until(() => b.payloads.length === 1000, 5000, 'all 1000 frames');
  });

  it('keeps the connection when the handler throws, and reports the error', async () => {
    const errors: string[] = [];
    const a = await node('throw-a');
    const t = transport({ onHandlerError: (error, subject) => errors.push(`${subject}: ${(error as Error).message}`) });
    const got: number[] = [];
    await t.start('throw-b', (_s, p) => {
      if (p[0] === 1) throw new Error('boom');
      got.push(p[0]!);
    });
    await until(() => a.t.status === 'connected' && t.status === 'connected', 5000, 'connected');
    for (const i of [0, 1, 2]) a.t.publish('throw-b.m.k', Uint8Array.of(i));
    await until(() => got.length === 2, 5000, 'the frames around the failing one');
    expect(got).toEqual([0, 2]);
    expect(errors).toEqual(['throw-b.m.k: boom']);
    expect(t.status).toBe('connected');
  });

  it('authenticates with an nkey seed file; without it the node keeps trying and never connects', async () => {
    const user = nkeys.createUser();
    const seedFile = join(scratch, 'node.nk');
    const confFile = join(scratch, 'nkey.conf');
    await writeFile(seedFile, new TextDecoder().decode(user.getSeed()) + '\n');
    await writeFile(confFile, `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }\n`);
    const secured = await startNatsServer({ args: ['-c', confFile] });
    try {
      const withKey = await node('nk-a', { servers: secured.url, nkeySeedFile: seedFile });
      const without = await node('nk-b', { servers: secured.url });
      await until(() => withKey.t.status === 'connected', 5000, 'the node with its key connected');
      withKey.t.publish('nk-a.self.k', Uint8Array.of(5));
      await until(() => withKey.payloads.length === 1, 5000, 'its own frame back');
      await sleep(3 * RECONNECT_MS);
      expect(without.t.status).toBe('connecting');
      await withKey.t.close();
      await without.t.close();
    } finally {
      await secured.stop();
    }
  });

  it('rejects start when the server list is malformed', async () => {
    for (const servers of ['nats://bad host:4222', 'nats://127.0.0.1:99999', []]) {
      await expect(transport({ servers }).start('url-a', () => {})).rejects.toMatchObject({ code: 'BOSUN_BAD_CONFIG' });
    }
  });

  it('rejects start when a credential file cannot be read', async () => {
    const t = transport({ nkeySeedFile: join(scratch, 'missing.nk') });
    await expect(t.start('bad-a', () => {})).rejects.toMatchObject({ code: 'BOSUN_BAD_CONFIG' });
    const tls = transport({ tlsCaFile: join(scratch, 'missing-ca.pem') });
    await expect(tls.start('bad-b', () => {})).rejects.toMatchObject({ code: 'BOSUN_BAD_CONFIG' });
  });

  it('is what createTransport builds for kind nats', () => {
    const t = createTransport({ kind: 'nats', servers: server.url });
    expect(t).toBeInstanceOf(NatsTransport);
    expect(t.kind).toBe('nats');
    expect(t.status).toBe('connecting');
  });
});
