import { access } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, runBosun, tempDir, waitFor, type CommandResult } from './helpers/daemon.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';

/**
 * The operator's commands (`bosun queue`, `dead`, `audit`, `nodes`) run as processes
 * against real daemons over a real nats-server. Central runs throughout; each test starts
 * the ship it sends to only when it needs it to be up, so that messages wait in central's
 * queue or run out of retries first.
 */

let nats: NatsServer;
let central: Daemon;
let dir: string;
const ships: Daemon[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  dir = await tempDir('bosun-ops-');
  // Short ACK waits: a ship that comes up gets what waited for it within a second or two.
  central = await Daemon.start({ node: 'central', dataDir: path.join(dir, 'central'), args: ['--nats', nats.url, '--ack-timeout', '1', '--retry-wait', '0.5'] });
});

afterAll(async () => {
  await Promise.all([...ships, central].filter(Boolean).map((d) => d.stop()));
  await nats?.stop();
});

async function startShip(node: string, args: string[] = []): Promise<Daemon> {
  const ship = await Daemon.start({ node, dataDir: path.join(dir, node), args: ['--nats', nats.url, ...args] });
  ships.push(ship);
  return ship;
}

/** `bosun ARGS --data-dir <node's data dir>`, as an operator types it. */
function bosun(node: string, ...args: string[]): Promise<CommandResult> {
  return runBosun([...args, '--data-dir', path.join(dir, node)]);
}

/** Hands `messages` to the node's daemon with `bosun send`; resolves with their ids. */
async function send(node: string, ...messages: object[]): Promise<string[]> {
  const result = await runBosun(['send', '--data-dir', path.join(dir, node), '-'], { input: JSON.stringify(messages) });
  expect(result, result.stderr).toMatchObject({ code: 0 });
  return result.stdout
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { id: string }).id);
}

const touch = (toNode: string, file: string, extra: object = {}) => ({ toNode, method: 'REQCliCommand', methodArgs: ['touch', file], ...extra });

const exists = (file: string) => access(file).then(() => true, () => false);

/** Waiting goes through the debug socket directly: it is not what is under test here. */
async function queueEmptied(): Promise<void> {
  await waitFor(async () => ((await central.debug('queue')) as unknown[]).length === 0, 20_000, "central's queue to empty");
}

describe('bosun queue', { timeout: 180_000 }, () => {
  it('lists what waits for a node that is down, withdraws by id, node and age, and the rest runs when it comes up', async () => {
    const files = Object.fromEntries(['old', 'byId', 'kept', 'elsewhere'].map((n) => [n, path.join(dir, `queue-${n}`)]));
    const [oldId] = await send('central', touch('ship1', files.old!));
    // Old enough for --older-than 6s, while what follows is not: the margins leave room for
    // a CLI that takes seconds to start on a loaded machine.
    await new Promise((r) => setTimeout(r, 9000));
    const [byId, keptId, elsewhereId] = await send('central', touch('ship1', files.byId!), touch('ship1', files.kept!), touch('ship9', files.elsewhere!));

    const olderThan = await bosun('central', 'queue', 'rm', '--older-than', '6s');
    expect(olderThan.stdout).toBe(`removed 1 message: ${oldId}\n`);

    const table = await bosun('central', 'queue', 'ls');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+TO\s+METHOD\s+SEQ\s+ATTEMPTS\s+NEXT RETRY\s+ACCEPTED\n/);
    for (const id of [byId, keptId]) expect(table.stdout).toMatch(new RegExp(`^${id}\\s+ship1\\s+REQCliCommand\\s`, 'm'));
    expect(table.stdout).toMatch(new RegExp(`^${elsewhereId}\\s+ship9\\s+REQCliCommand\\s`, 'm'));
    expect(table.stdout).not.toContain(oldId);

    const onlyShip9 = await bosun('central', 'queue', 'ls', '--to', 'ship9', '--json');
    expect((JSON.parse(onlyShip9.stdout) as Array<{ id: string }>).map((q) => q.id)).toEqual([elsewhereId]);

    expect((await bosun('central', 'queue', 'rm', byId!)).stdout).toBe(`removed 1 message: ${byId}\n`);
    expect((await bosun('central', 'queue', 'rm', '--to', 'ship9')).stdout).toBe(`removed 1 message: ${elsewhereId}\n`);
    const left = await bosun('central', 'queue', 'ls', '--json');
    expect((JSON.parse(left.stdout) as Array<{ id: string }>).map((q) => q.id)).toEqual([keptId]);

    await startShip('ship1');
    await waitFor(() => exists(files.kept!), 20_000, 'the kept message to run on ship1');
    // Settled: nothing is left to deliver, so a withdrawn message would have run by now.
    await queueEmptied();
    expect(await exists(files.old!)).toBe(false);
    expect(await exists(files.byId!)).toBe(false);
    expect(await bosun('central', 'queue', 'ls')).toMatchObject({ code: 0, stdout: 'the queue is empty\n' });
  });

  it('counts the sends to a node that is down as the sender makes them, and says when the next is due', async () => {
    // Unlimited retries (the default): the outbox row never counts them.
    const [id] = await send('central', touch('ship6', path.join(dir, 'queue-never')));
    const attempts = async () => {
      const result = await bosun('central', 'queue', 'ls', '--to', 'ship6', '--json');
      expect(result, result.stderr).toMatchObject({ code: 0 });
      const [queued] = JSON.parse(result.stdout) as Array<{ id: string; attempts: number; nextAttemptAt?: number }>;
      expect(queued?.id).toBe(id);
      return queued!;
    };
    const first = await waitFor(async () => {
      const now = await attempts();
      return now.attempts >= 2 ? now : undefined;
    }, 30_000, 'two sends to ship6');
    const later = await waitFor(async () => {
      const now = await attempts();
      return now.attempts > first.attempts ? now : undefined;
    }, 30_000, 'another send to ship6');
    expect(later.attempts).toBeGreaterThan(first.attempts);
    expect(later.nextAttemptAt).toEqual(expect.any(Number));

    const table = await bosun('central', 'queue', 'ls', '--to', 'ship6');
    const row = new RegExp(`^${id}\\s+ship6\\s+REQCliCommand\\s+\\d+\\s+(\\d+)\\s+(\\S+)\\s+\\S+\\n`, 'm').exec(table.stdout);
    expect(row, table.stdout).not.toBeNull();
    expect(Number(row![1])).toBeGreaterThanOrEqual(later.attempts);
    expect(row![2]).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect((await bosun('central', 'queue', 'rm', '--to', 'ship6')).stdout).toBe(`removed 1 message: ${id}\n`);
  });

  it('refuses to withdraw nothing in particular, and says so when an id is not queued', async () => {
    const bare = await bosun('central', 'queue', 'rm');
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/^bosun: say which messages to remove: an ID, --to NODE or --older-than D\n/);
    const unknown = await bosun('central', 'queue', 'rm', 'no-such-id');
    expect(unknown).toMatchObject({ code: 1, stdout: '', stderr: 'bosun: no queued message has the id no-such-id\n' });
    const badAge = await bosun('central', 'queue', 'rm', '--older-than', 'yesterday');
    expect(badAge.code).toBe(2);
    expect(badAge.stderr).toMatch(/"yesterday" is not a duration/);
    const badLimit = await bosun('central', 'queue', 'ls', '--limit', 'many');
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toMatch(/^bosun: --limit needs a whole number, 1 or more, not "many"\n/);
  });
});

describe('bosun send', { timeout: 180_000 }, () => {
  it('is refused a message whose frame the broker cannot carry, and nothing is queued', async () => {
    // 300 KiB of quotes: 600 KiB in a frame, twice that in the envelope to the relay.
    const message = { id: 'too-big', toNode: 'ship7', relayViaNode: 'hub', method: 'REQToFileAppend', data: '"'.repeat(300 * 1024) };
    const result = await runBosun(['send', '--data-dir', path.join(dir, 'central'), '-'], { input: JSON.stringify(message) });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({
      error: {
        code: 'BOSUN_MESSAGE_TOO_LARGE',
        message: expect.stringMatching(/^message too-big to ship7 is \d+ bytes as a frame in its envelope to relay hub; the nats transport carries at most 1048576 /),
      },
    });
    expect((await central.debug('queue')) as Array<{ id: string }>).not.toContainEqual(expect.objectContaining({ id: 'too-big' }));
  });
});

describe('bosun dead', { timeout: 180_000 }, () => {
  it('lists messages that ran out of retries; a purged one never runs, a resent one runs once its node is up', async () => {
    const resent = path.join(dir, 'dead-resent');
    const purged = path.join(dir, 'dead-purged');
    // A few quick tries: they die soon while ship2 is down, and a resent one, which gets
    // the same tries afresh, has more than one chance at an ACK on a loaded machine.
    const fewTries = { ACKTimeout: 1, retries: 2, retryWait: 0.2 };
    const [resentId, purgedId] = await send('central', touch('ship2', resent, fewTries), touch('ship2', purged, fewTries));
    await waitFor(async () => ((await central.debug('dead')) as unknown[]).length === 2, 20_000, 'two dead letters');

    const table = await bosun('central', 'dead', 'ls');
    expect(table.stdout).toMatch(/^ID\s+TO\s+METHOD\s+ATTEMPTS\s+DIED\n/);
    for (const id of [resentId, purgedId]) expect(table.stdout).toMatch(new RegExp(`^${id}\\s+ship2\\s+REQCliCommand\\s+\\d+\\s`, 'm'));

    expect(await bosun('central', 'dead', 'purge', purgedId!)).toMatchObject({ code: 0, stdout: 'deleted 1 dead letter\n' });
    const unknown = await bosun('central', 'dead', 'resend', 'no-such-id');
    expect(unknown).toMatchObject({ code: 1, stderr: 'bosun: no dead letter has the id no-such-id\n' });

    await startShip('ship2');
    expect(await bosun('central', 'dead', 'resend')).toMatchObject({ code: 0, stdout: 'sent again: 1\n' });
    await waitFor(() => exists(resent), 20_000, 'the resent message to run on ship2');
    await queueEmptied();
    expect(await exists(purged)).toBe(false);
    expect(await bosun('central', 'dead', 'ls')).toMatchObject({ code: 0, stdout: 'no dead letters\n' });
  });
});

describe('bosun audit', { timeout: 180_000 }, () => {
  it('shows what a node ran with its outcome, filtered by method, sender, age and count', async () => {
    const ship = await startShip('ship3');
    const [failedId] = await send('central', { toNode: 'ship3', method: 'REQCliCommand', methodArgs: ['sh', '-c', 'exit 3'] });
    const audited = async (id: string) => JSON.stringify(await ship.debug('audit')).includes(id);
    await waitFor(() => audited(failedId!), 20_000, 'the failed run in the audit');
    // Old enough for --since 4s to leave it out.
    await new Promise((r) => setTimeout(r, 5000));
    const [okId] = await send('central', { toNode: 'ship3', method: 'REQnCliCommand', methodArgs: ['echo', 'audited'] });
    const ids = async (...filter: string[]) => {
      const result = await bosun('ship3', 'audit', '--json', ...filter);
      expect(result, result.stderr).toMatchObject({ code: 0 });
      return (JSON.parse(result.stdout) as Array<{ message: { id: string } }>).map((r) => r.message.id);
    };
    await waitFor(() => audited(okId!), 20_000, 'the second run in the audit');
    expect(await ids('--since', '4s')).toEqual([okId]);

    const all = await bosun('ship3', 'audit');
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^WHEN\s+FROM\s+METHOD\s+ID\s+OUTCOME\s+ARGS\n/);
    expect(all.stdout).toMatch(new RegExp(`\\scentral\\s+REQCliCommand\\s+${failedId}\\s+BOSUN_METHOD_FAILED\\s+sh -c exit 3\\n`));
    expect(all.stdout).toMatch(new RegExp(`\\scentral\\s+REQnCliCommand\\s+${okId}\\s+ok\\s+echo audited\\n`));

    expect(await ids('--method', 'REQnCliCommand')).toEqual([okId]);
    expect(await ids('--from', 'central', '--method', 'REQCliCommand')).toEqual([failedId]);
    expect(await ids('--limit', '1')).toEqual([failedId]);
    expect(await bosun('ship3', 'audit', '--from', 'ship7')).toMatchObject({ code: 0, stdout: 'nothing ran in that window\n' });

    const badSince = await bosun('ship3', 'audit', '--since', 'a while');
    expect(badSince.code).toBe(2);
    expect(badSince.stderr).toMatch(/"a while" is not a duration/);
  });
});

describe('bosun nodes', { timeout: 180_000 }, () => {
  it("lists on central the nodes that said hello, with their capabilities; a ship knows of none", async () => {
    const ship = await startShip('ship4', ['--hello-interval', '1']);
    const seen = await waitFor(async () => {
      const result = await bosun('central', 'nodes', '--json');
      const nodes = JSON.parse(result.stdout) as Array<{ node: string; capabilities?: { cpus: number; methods: string[] } }>;
      return nodes.find((n) => n.node === 'ship4');
    }, 20_000, 'the hello of ship4');
    expect(seen.capabilities?.methods).toContain('REQCliCommand');
    expect(seen.capabilities?.cpus).toBeGreaterThan(0);

    const table = await bosun('central', 'nodes');
    expect(table.stdout).toMatch(/^NODE\s+LAST SEEN\s+SERVER\s+BOSUN\s+CPUS\s+LOAD\s+METHODS\n/);
    expect(table.stdout).toMatch(new RegExp(`^ship4\\s+\\S+\\s+\\S+\\s+\\d+\\.\\d+\\.\\d+\\s+${seen.capabilities!.cpus}\\s`, 'm'));
    expect(await bosun(ship.node, 'nodes')).toMatchObject({ code: 0, stdout: 'no node has said hello yet\n' });
  });

  it('says how to start a daemon when none answers', async () => {
    const result = await bosun('nobody-here', 'nodes');
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`bosun: no bosun daemon at ${path.join(dir, 'nobody-here', 'debug.sock')}: is it running? (bosun start --node NAME --data-dir ${path.join(dir, 'nobody-here')})\n`);
  });
});
