/**
 * Retention of the responses log: the oldest records go once they are older than
 * RECEPTOR_CONTROLLER_RESPONSES_MAX_AGE or beyond RECEPTOR_CONTROLLER_RESPONSES_MAX_RECORDS,
 * in batches, at start and every minute; never one that JetStream does not have yet; and
 * a reader whose position lies in the pruned part is told instead of skipping in silence.
 * The log on a MemoryStore or a LevelStore, the gateway on a real listener, a real
 * nats-server for the forwarder, virtual time for age and passes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import pino from 'pino';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runResponses } from '../src/cli/responses.ts';
import type { CliIo } from '../src/cli/io.ts';
import { VirtualClock } from '../src/clock.ts';
import { readGatewayConfig } from '../src/gateway/config.ts';
import { type ResponseRecord, startReceptorGateway } from '../src/gateway/index.ts';
import { ResponseLog } from '../src/gateway/responses.ts';
import { PRUNE_BATCH, PRUNE_INTERVAL_MS } from '../src/gateway/responsesRetention.ts';
import { prefixRange, regKey } from '../src/store/keys.ts';
import { LevelStore } from '../src/store/LevelStore.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import type { Store, StoreOp } from '../src/store/types.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';
import { CAPTURED, eventually, README_IDENTITY, startTestGateway, type TestGateway } from './helpers/receptorClient.ts';

const DAY_MS = 24 * 3600 * 1000;
const running: TestGateway[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((gw) => gw.close()));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

function reply(n: number): ResponseRecord {
  return {
    account: CAPTURED.account,
    sender: CAPTURED.nodeId,
    message_id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    message_type: 'eof',
    payload: `r${n}`,
    code: 0,
    in_response_to: CAPTURED.jobMessageId,
    serial: 1,
  };
}

async function memoryStore(): Promise<MemoryStore> {
  const store = new MemoryStore({ sync: false });
  await store.open();
  return store;
}

/** A log written before the gateway starts: `count` replies, `stepMs` of virtual time apart, the last one now. */
async function preload(store: Store, clock: VirtualClock, count: number, stepMs = 0): Promise<void> {
  const log = new ResponseLog(store, clock);
  await log.open();
  for (let n = 1; n <= count; n++) {
    if (n > 1 && stepMs > 0) await clock.advance(stepMs);
    await log.append(reply(n));
  }
}

async function keptSeqs(store: Store): Promise<number[]> {
  const rows = await store.range({ ...prefixRange(regKey('receptor!resp')) });
  return rows.map(([key]) => Number(key.slice(key.lastIndexOf('!') + 1)));
}

async function gateway(options: { store: Store; clock: VirtualClock; env: Record<string, string> }): Promise<TestGateway> {
  const gw = await startTestGateway(options);
  running.push(gw);
  return gw;
}

/** Runs retention passes (a minute of virtual time each) until `check` holds. */
async function passesUntil(clock: VirtualClock, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  await eventually(async () => {
    if (await check()) return true;
    await clock.advance(PRUNE_INTERVAL_MS);
    return check();
  }, timeoutMs);
}

function metric(gw: TestGateway, name: string): number {
  const line = gw.gateway.metrics.render().split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

describe('retention settings', () => {
  it('default to seven days and a million records', () => {
    const config = readGatewayConfig({});
    expect(config.responsesMaxAgeMs).toBe(7 * DAY_MS);
    expect(config.responsesMaxRecords).toBe(1_000_000);
  });

  it('take 0 as no limit', () => {
    const config = readGatewayConfig({ RECEPTOR_CONTROLLER_RESPONSES_MAX_AGE: '0', RECEPTOR_CONTROLLER_RESPONSES_MAX_RECORDS: '0' });
    expect([config.responsesMaxAgeMs, config.responsesMaxRecords]).toEqual([0, 0]);
  });

  it.each([
    ['RECEPTOR_CONTROLLER_RESPONSES_MAX_AGE', '-1'],
    ['RECEPTOR_CONTROLLER_RESPONSES_MAX_AGE', '7d'],
    ['RECEPTOR_CONTROLLER_RESPONSES_MAX_RECORDS', '1.5'],
    ['RECEPTOR_CONTROLLER_RESPONSES_MAX_RECORDS', 'lots'],
  ])('refuse %s=%s at start, naming the setting', async (name, value) => {
    const start = startTestGateway({ env: { [name]: value } });
    await expect(start).rejects.toMatchObject({ code: 'BOSUN_BAD_CONFIG', message: expect.stringContaining(name) });
    await expect(start).rejects.toThrow(`got "${value}"`);
  });
});

describe('pruning by count', () => {
  it('keeps the newest MAX_RECORDS at start, and again as records arrive', async () => {
    const clock = new VirtualClock();
    const store = await memoryStore();
    await preload(store, clock, 5);
    const gw = await gateway({ store, clock, env: { RECEPTOR_CONTROLLER_RESPONSES_MAX_RECORDS: '3', RECEPTOR_CONTROLLER_RESPONSES_MAX_AGE: '0' } });
    await eventually(async () => (await keptSeqs(store)).length === 3);
    expect(await keptSeqs(store)).toEqual([3, 4, 5]);
    expect(metric(gw, 'receptor_controller_responses_log_pruned_count')).toBe(2);
    expect(metric(gw, 'receptor_controller_responses_log_records')).toBe(3);

    for (let n = 6; n <= 7; n++) await gw.gateway.responses.append(reply(n));
    await passesUntil(clock, async () => (await keptSeqs(store))[0] === 5);
    expect(await keptSeqs(store)).toEqual([5, 6, 7]);
    expect(metric(gw, 'receptor_controller_responses_log_pruned_count')).toBe(4);
  });

  it('deletes a large backlog in batches, never in one write', async () => {
    const clock = new VirtualClock();
    const store = await memoryStore();
    await preload(store, clock, 2 * PRUNE_BATCH + 500);
    const deletesPerWrite: number[] = [];
    const write = store.write.bind(store);
    store.write = (ops: StoreOp[], options) => {
      const deletes = ops.filter((op) => op.type === 'del').length;
      if (deletes > 0) deletesPerWrite.push(deletes);
      return write(ops, options);
    };
    await gateway({ store, clock, env: { RECEPTOR_CONTROLLER_RESPONSES_MAX_RECORDS: '100' } });
    await eventually(async () => (await keptSeqs(store)).length === 100, 10_000);
    expect(deletesPerWrite).toEqual([PRUNE_BATCH, PRUNE_BATCH, 400]);
  });

  it('goes on numbering after a restart that finds every record pruned', async () => {
    const clock = new VirtualClock();
    const dir = await mkdtemp(join(tmpdir(), 'bosun-gw-retention-'));
    dirs.push(dir);
    const store = new LevelStore(join(dir, 'db'), { sync: false });
    await store.open();
    await preload(store, clock, 4, DAY_MS);
    await clock.advance(2 * 3600_000);
    const first = await gateway({ store, clock, env: { RECEPTOR_CONTROLLER_RESPONSES_MAX_AGE: '3600' } });
    await eventually(async () => (await keptSeqs(store)).length === 0);
    await first.close();
    const second = await gateway({ store, clock, env: {} });
    expect(await second.gateway.responses.append(reply(5))).toBe(5);
    const page = await second.http('GET', '/responses?after=0&timeout=0');
    expect(page.json).toMatchObject({ responses: [{ seq: 5 }], last: 5, pruned: true, first: 5 });
    await second.close();
    await store.close();
  });
});

describe('pruning by age', () => {
  it('deletes records older than MAX_AGE, at start and as they age', async () => {
    const clock = new VirtualClock();
    const store = await memoryStore();
    // Records 1-3 written a day apart, the last one now.
    await preload(store, clock, 3, DAY_MS);
    const gw = await gateway({ store, clock, env: { RECEPTOR_CONTROLLER_RESPONSES_MAX_AGE: String(36 * 3600), RECEPTOR_CONTROLLER_RESPONSES_MAX_RECORDS: '0' } });
    await eventually(async () => (await keptSeqs(store)).length === 2);
    expect(await keptSeqs(store)).toEqual([2, 3]);

    await gw.gateway.responses.append(reply(4));
    // Half a day on, record 2 is a day and a half old; 3 and 4 are not.
    await clock.advance(12 * 3600_000 - PRUNE_INTERVAL_MS);
    await passesUntil(clock, async () => (await keptSeqs(store))[0] === 3);
    expect(await keptSeqs(store)).toEqual([3, 4]);
    expect(clock.now() - (await gw.gateway.responses.writtenAt(3))!.at).toBeLessThanOrEqual(36 * 3600 * 1000);
  });

  it('dates records from before retention at the first start that sees them', async () => {
    const clock = new VirtualClock();
    const store = await memoryStore();
    // As the log was written before records carried their time.
    await store.write([1, 2].map((n) => ({ type: 'put', key: regKey(`receptor!resp!${String(n).padStart(16, '0')}`), value: { key: CAPTURED.jobMessageId, value: reply(n) } })));
    const env = { RECEPTOR_CONTROLLER_RESPONSES_MAX_AGE: String(3600) };
    const gw = await gateway({ store, clock, env });
    await clock.advance(30 * 60_000);
    expect(await keptSeqs(store)).toEqual([1, 2]);
    await passesUntil(clock, async () => (await keptSeqs(store)).length === 0);
    expect(metric(gw, 'receptor_controller_responses_log_pruned_count')).toBe(2);
  });
});

describe('readers of pruned positions', () => {
  async function prunedGateway(): Promise<TestGateway> {
    const clock = new VirtualClock();
    const store = await memoryStore();
    await preload(store, clock, 5);
    const gw = await gateway({ store, clock, env: { RECEPTOR_CONTROLLER_RESPONSES_MAX_RECORDS: '2' } });
    await eventually(() => gw.gateway.responses.prunedThrough === 3);
    return gw;
  }

  it('a long-poll from before the oldest kept record says pruned and the first seq kept', async () => {
    const gw = await prunedGateway();
    const page = await gw.http('GET', '/responses?after=1');
    expect(page.status).toBe(200);
    expect(page.json).toMatchObject({ pruned: true, first: 4, last: 5 });
    expect(page.json.responses.map((r: { seq: number }) => r.seq)).toEqual([4, 5]);
    const current = await gw.http('GET', '/responses?after=3');
    expect(current.json.pruned).toBeUndefined();
    expect(current.json.responses.map((r: { seq: number }) => r.seq)).toEqual([4, 5]);
  });

  it('answers a long-poll at once when all it missed was pruned', async () => {
    const clock = new VirtualClock();
    const store = await memoryStore();
    await preload(store, clock, 3, DAY_MS);
    await clock.advance(2 * 3600_000);
    const gw = await gateway({ store, clock, env: { RECEPTOR_CONTROLLER_RESPONSES_MAX_AGE: '60' } });
    await eventually(() => gw.gateway.responses.prunedThrough === 3);
    const page = await gw.http('GET', '/responses?after=0&timeout=60');
    expect(page.json).toEqual({ responses: [], last: 3, pruned: true, first: 4 });
  });

  it('a stream from before the oldest kept record starts with a pruned event', async () => {
    const gw = await prunedGateway();
    const controller = new AbortController();
    const response = await fetch(`${gw.baseUrl}/responses?after=0`, {
      headers: { 'x-rh-identity': README_IDENTITY, accept: 'text/event-stream' },
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('id: 5')) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    const events = text.split('\n\n').filter((block) => block.startsWith('event:') || block.startsWith('id:'));
    expect(events[0]).toBe('event: pruned\ndata: {"first":4}');
    expect(events.slice(1).map((block) => block.split('\n')[0])).toEqual(['id: 4', 'id: 5']);
  });

  it('bosun responses warns on stderr and prints what is kept', async () => {
    const gw = await prunedGateway();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (chunk) => (out += chunk));
    stderr.on('data', (chunk) => (err += chunk));
    const io: CliIo = { stdin: new PassThrough(), stdout, stderr, env: {}, cwd: process.cwd(), help: () => 0 };
    expect(await runResponses(['--url', gw.baseUrl, '--account', CAPTURED.account, '--after', '1'], io)).toBe(0);
    expect(err).toContain('the gateway pruned records after seq 1');
    expect(err).toContain('from seq 4');
    expect(out.trim().split('\n').map((line) => JSON.parse(line).seq)).toEqual([4, 5]);
  });
});

describe('records JetStream does not have yet', () => {
  let server: NatsServer;
  let natsDir: string;

  beforeAll(async () => {
    natsDir = await mkdtemp(join(tmpdir(), 'bosun-gw-retention-js-'));
    server = await startNatsServer({ jetStream: { storeDir: join(natsDir, 'jetstream') } });
  });

  afterAll(async () => {
    await server.stop();
    await rm(natsDir, { recursive: true, force: true });
  });

  it('are kept past the limits while NATS is down, counted, and pruned once published', async () => {
    const clock = new VirtualClock();
    const store = await memoryStore();
    const gw = await gateway({ store, clock, env: { RECEPTOR_CONTROLLER_NATS_URL: server.url, RECEPTOR_CONTROLLER_RESPONSES_MAX_RECORDS: '2' } });
    await server.stop();
    for (let n = 1; n <= 5; n++) await gw.gateway.responses.append(reply(n));
    await passesUntil(clock, () => metric(gw, 'receptor_controller_responses_log_retention_held_count') === 3);
    expect(await keptSeqs(store)).toEqual([1, 2, 3, 4, 5]);
    expect(metric(gw, 'receptor_controller_responses_log_pruned_count')).toBe(0);

    await server.restart();
    await passesUntil(clock, async () => (await keptSeqs(store)).length === 2, 30_000);
    expect(await keptSeqs(store)).toEqual([4, 5]);
    expect(metric(gw, 'receptor_controller_responses_log_retention_held_count')).toBe(0);
    // Pruning waits only for 1–3 to be published; 4 and 5 may still be on their way. A
    // publish whose acknowledgement the outage cut is sent again and counted as a duplicate.
    const published = () => ['success', 'duplicate'].reduce((sum, kind) => sum + metric(gw, `receptor_controller_responses_stream_publish_${kind}_count`), 0);
    await passesUntil(clock, () => published() >= 5, 30_000);
    expect(published()).toBe(5);
  });

  it('are kept when the node NATS cannot be reached at start: the stored cursor bounds pruning', async () => {
    const clock = new VirtualClock();
    const store = await memoryStore();
    await preload(store, clock, 5);
    await store.write([{ type: 'put', key: regKey('receptor!resp-forwarded!RECEPTOR_CONTROLLER_RESPONSES'), value: 2 }]);
    const gw = await startReceptorGateway({
      listen: '127.0.0.1:0',
      store,
      clock,
      logger: pino({ level: 'silent' }),
      errors: { report: () => {} },
      env: { RECEPTOR_CONTROLLER_RESPONSES_MAX_RECORDS: '1' },
      nodeNats: { servers: ['nats://127.0.0.1:1'] },
    });
    try {
      await eventually(() => gw.gateway.responses.prunedThrough === 2);
      await clock.advance(PRUNE_INTERVAL_MS);
      expect(await keptSeqs(store)).toEqual([3, 4, 5]);
      expect(gw.gateway.metrics.responsesRetentionHeld.value()).toBe(2);
    } finally {
      await gw.close();
    }
  });
});
