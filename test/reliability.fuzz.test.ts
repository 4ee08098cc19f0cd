import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, talk, waitFor } from './helpers/daemon.ts';
import { DELIVERED_DIR, DELIVERED_FILE, httpBody, mutatedInput, randomBytes, SELF, type HttpBody } from './helpers/fuzzInputs.ts';
import { account, checkAnswer, ledger, materialise, probe, segmentsByProbe } from './helpers/fuzzLedger.ts';

/**
 * Fuzzing every message input one real daemon has: the unix socket `bosun.sock`
 * (steward's `nc -U` interface), the TCP input (the same stream contract) and the HTTP
 * input (`POST /api/v1/messages`). Random bytes, random JSON and mutated valid messages go
 * in, in batches over a few connections at a time; the daemon must stay up and answer
 * every message (a line, or an HTTP result, accepted, a duplicate of an id accepted before, or a clear `{error:{code,message}}`,
 * never a stack trace), keep reading a connection after bad input, and deliver every
 * message it answered "accepted" (each is addressed to the daemon itself).
 *
 * `BOSUN_FUZZ_RUNS` sets the number of inputs (default 10,000); `BOSUN_FUZZ_SEED` replays.
 * What is sent is drawn in `helpers/fuzzInputs.ts`; the ledger of what was accepted and
 * the checks of every answer are in `helpers/fuzzLedger.ts`.
 */
const RUNS = Number(process.env.BOSUN_FUZZ_RUNS ?? 10_000);
const SEED = Number(process.env.BOSUN_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Inputs per property run, spread over this many connections at once. */
const BATCH = 200;
const CONNECTIONS = 4;
/** Share of the inputs per kind; stream kinds go to the unix socket and TCP alike. */
const SHARE = { bytes: 0.24, bytesAlone: 0.06, json: 0.2, mutated: 0.3, http: 0.2 };

let daemon: Daemon;
/** The stream inputs (unix socket, TCP) and the HTTP base URL, from the "node started" line. */
/** `prelude`: what a client sends before its messages (the TCP input's token line). */
let streams: Array<{ name: string; connect: net.NetConnectOpts; prelude?: string }> = [];
let httpBase = '';
/** What the data dir held before any input: fuzzing must add nothing beside `files/`. */
let dataDirEntries: string[] = [];

beforeAll(async () => {
  daemon = await Daemon.start({ node: SELF, args: ['--central', SELF, '--tcp-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0'] });
  const started = daemon.logs.find((l) => l.msg === 'node started')!;
  streams = [{ name: 'unix', connect: { path: daemon.socketPath } }];
  if (typeof started.tcp === 'string') streams.push({ name: 'tcp', connect: { host: '127.0.0.1', port: Number(started.tcp.split(':').pop()) }, prelude: `${daemon.inputToken}\n` });
  if (typeof started.http === 'string') httpBase = `http://${started.http}`;
  dataDirEntries = (await readdir(daemon.dataDir)).sort();
  console.log(`fuzz seed ${SEED}, ${RUNS} inputs over ${[...streams.map((s) => s.name), ...(httpBase ? ['http'] : [])].join(', ')} (BOSUN_FUZZ_SEED=${SEED} replays)`);
});

afterAll(async () => {
  await daemon?.kill();
});
// ---- sending and checking ---------------------------------------------------------------
/** One connection: writes everything, half-closes, returns every answer line once the daemon closes. */
function exchange(target: (typeof streams)[number], payload: string | Uint8Array, timeoutMs = 30_000): Promise<string[]> {
  ledger.byInput.set(target.name, (ledger.byInput.get(target.name) ?? 0) + 1);
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ ...target.connect, allowHalfOpen: true });
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the ${target.name} input did not answer and close a connection within ${timeoutMs} ms (${text.split('\n').length - 1} lines so far)`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (t: string) => (text += t));
    socket.once('connect', () => {
      if (target.prelude) socket.write(target.prelude);
      socket.end(payload);
    });
    // Once the daemon has said all it will, the client is done too.
    socket.once('end', () => socket.end());
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(text.split('\n').filter((l) => l !== ''));
    });
  });
}
/** Splits `items` over `CONNECTIONS` connections, spread over the stream inputs, and runs them at once. */
async function overConnections<T>(items: T[], send: (target: (typeof streams)[number], chunk: T[]) => Promise<void>): Promise<void> {
  const size = Math.ceil(items.length / CONNECTIONS);
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  await Promise.all(chunks.map((chunk, i) => send(streams[i % streams.length]!, chunk)));
}

function alive(): boolean {
  try {
    process.kill(daemon.pid, 0);
    return daemon.running;
  } catch {
    return false;
  }
}

function runsFor(kind: keyof typeof SHARE): number {
  return Math.max(1, Math.round((RUNS * SHARE[kind]) / BATCH));
}

const show = (bytes: Uint8Array | string) => (typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('base64')).slice(0, 2000);

/** JSON inputs, one per line, each followed by a probe. */
async function sendJsonBatch(kind: 'json' | 'mutated', values: unknown[]): Promise<void> {
  ledger.inputs[kind] += values.length;
  await overConnections(values, async (target, chunk) => {
    const inputs = chunk.map(materialise);
    const probes = inputs.map(() => probe());
    const payload = inputs.map((input, i) => `${input.line}\n${probes[i]!.line}\n`).join('');
    const lines = await exchange(target, payload);
    const context = (i: number) => `${target.name} input ${i}: ${(inputs[i]?.line ?? '').slice(0, 2000)}`;
    const segments = segmentsByProbe(lines, probes.map((p) => p.id), context);
    segments.forEach((answers, i) => account(inputs[i]!.value, answers, () => context(i)));
  });
  expect(alive(), `the daemon is up after a batch\n${daemon.output()}`).toBe(true);
}

/**
 * Bytes in a batch: after each input a line holding one control byte, which is not JSON
 * anywhere, so whatever the input left open is broken off, then a probe on a line of its
 * own, which the parser must read afresh.
 */
async function sendBytesBatch(inputs: Uint8Array[]): Promise<void> {
  ledger.inputs.bytes += inputs.length;
  await overConnections(inputs, async (target, chunk) => {
    const probes = chunk.map(() => probe());
    const parts: Buffer[] = [];
    chunk.forEach((bytes, i) => parts.push(Buffer.from(bytes), Buffer.from(`\n\u0001\n${probes[i]!.line}\n`)));
    const lines = await exchange(target, Buffer.concat(parts));
    const segments = segmentsByProbe(lines, probes.map((p) => p.id), (i) => `${target.name} input ${i} (base64): ${show(chunk[i] ?? new Uint8Array())}`);
    segments.forEach((answers, i) => expect(answers.length, `an answer for input ${i} (base64) ${show(chunk[i]!)}`).toBeGreaterThanOrEqual(1));
  });
  expect(alive(), `the daemon is up after a batch\n${daemon.output()}`).toBe(true);
}
/**
 * Each body is one POST: 200 with one result per message, or 400/413 with a clear error
 * for a body that is not one JSON message or array. Never a 500, never silence.
 */
async function sendHttpBatch(bodies: HttpBody[]): Promise<void> {
  ledger.inputs.http += bodies.length;
  for (let i = 0; i < bodies.length; i += CONNECTIONS * 2) {
    await Promise.all(
      bodies.slice(i, i + CONNECTIONS * 2).map(async (body) => {
        const input = body.kind === 'json' ? materialise(body.value) : undefined;
        const payload = input ? input.line : body.kind === 'bytes' ? body.bytes : '';
        const describe = () => `HTTP body ${input ? input.line.slice(0, 2000) : `(base64) ${show(payload)}`}`;
        ledger.byInput.set('http', (ledger.byInput.get('http') ?? 0) + 1);
        const res = await fetch(`${httpBase}/api/v1/messages`, { method: 'POST', body: payload, headers: daemon.httpHeaders, signal: AbortSignal.timeout(30_000) });
        const text = await res.text();
        ledger.httpStatus.set(res.status, (ledger.httpStatus.get(res.status) ?? 0) + 1);
        expect([200, 400, 413], `the status for ${describe()}: ${text.slice(0, 300)}`).toContain(res.status);
        expect(res.headers.get('content-type'), describe()).toMatch(/^application\/json/);
        const lines = text.split('\n').filter((l) => l !== '');
        expect(lines.length, `one JSON answer for ${describe()}`).toBe(1);
        if (res.status !== 200) {
          checkAnswer(lines[0]!, describe);
          expect(JSON.parse(lines[0]!).status, describe()).toBeUndefined();
          return;
        }
        const { results } = JSON.parse(lines[0]!) as { results?: unknown };
        if (!Array.isArray(results)) throw new Error(`a 200 without a results array for ${describe()}: ${text.slice(0, 300)}`);
        const answers = results.map((r) => checkAnswer(JSON.stringify(r), describe));
        if (input) account(input.value, answers, describe);
      }),
    );
  }
  expect(alive(), `the daemon is up after a batch\n${daemon.output()}`).toBe(true);
}

// ---- the properties ---------------------------------------------------------------------

describe('fuzzing the message inputs of one daemon', () => {
  it('answers random bytes with error lines and reads the next line afresh', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(randomBytes, { minLength: BATCH, maxLength: BATCH }), sendBytesBatch),
      { numRuns: runsFor('bytes'), seed: SEED, endOnFailure: true },
    );
  });

  it('answers random JSON values: one line per message, one error for anything else', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.jsonValue(), { minLength: BATCH, maxLength: BATCH }), (values) => sendJsonBatch('json', values)),
      { numRuns: runsFor('json'), seed: SEED + 1, endOnFailure: true },
    );
  });

  it('answers mutated valid messages one line each, with the id it was given', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mutatedInput, { minLength: BATCH, maxLength: BATCH }), (values) => sendJsonBatch('mutated', values)),
      { numRuns: runsFor('mutated'), seed: SEED + 2, endOnFailure: true },
    );
  });

  it('answers every HTTP body: one result per message, a clear 400 or 413 for anything else', { timeout: 120_000 }, async () => {
    if (!httpBase) return;
    await fc.assert(fc.asyncProperty(fc.array(httpBody, { minLength: BATCH, maxLength: BATCH }), sendHttpBatch), {
      numRuns: runsFor('http'),
      seed: SEED + 4,
      endOnFailure: true,
    });
  });

  it('answers a lone input on its own connection, then closes it', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(randomBytes, { minLength: BATCH, maxLength: BATCH }), async (inputs) => {
        ledger.inputs.bytesAlone += inputs.length;
        // A handful of connections at a time, each with one input and nothing after it.
        for (let i = 0; i < inputs.length; i += 8) {
          await Promise.all(
            inputs.slice(i, i + 8).map(async (bytes, j) => {
              const lines = await exchange(streams[j % streams.length]!, bytes, 10_000);
              for (const line of lines) checkAnswer(line, () => `lone input (base64): ${show(bytes)}`);
              const blank = Buffer.from(bytes).toString('latin1').trim() === '';
              if (!blank) expect(lines.length, `an answer for a lone input (base64) ${show(bytes)}`).toBeGreaterThanOrEqual(1);
            }),
          );
        }
        expect(alive(), `the daemon is up\n${daemon.output()}`).toBe(true);
      }),
      { numRuns: runsFor('bytesAlone'), seed: SEED + 3, endOnFailure: true },
    );
  });

  it('is still up afterwards, runs a fresh message, and delivered every message it accepted', { timeout: 90_000 }, async () => {
    expect(alive(), daemon.output()).toBe(true);
    const fresh = `fztok_fresh_${SEED}_end`;
    const [answer] = await talk(daemon.socketPath, JSON.stringify({ toNode: SELF, method: 'REQToFileAppend', data: fresh, directory: DELIVERED_DIR, fileName: DELIVERED_FILE }));
    expect(answer).toMatchObject({ status: 'accepted', toNode: SELF });
    const delivered = path.join(daemon.dataDir, 'files', DELIVERED_DIR, SELF, DELIVERED_FILE);
    await waitFor(async () => (await readFile(delivered, 'utf8').catch(() => '')).includes(fresh), 20_000, 'the fresh message to run');

    // Quiescent: nothing to this node waits for an ACK or to run.
    const tree = await waitFor(async () => {
      const t = await debug('tree');
      return busyParts(t).length === 0 ? t : undefined;
    }, 45_000, 'every stream to this node to drain').catch(async (e: Error) => {
      throw new Error(`${e.message}: ${busyParts(await debug('tree')).join(', ')}`);
    });
    const stats = (await debug('stats')) as { counters: Record<string, number> };
    const nodes = nodesOf(tree);
    const info = (id: string) => nodes.find((n) => n.id === id)?.info as Record<string, number> | undefined;

    // Messages for REQNone and REQnNone come only from this test, so their streams must
    // hold exactly what was accepted, and their subscribers must have run exactly that.
    const counts = ['REQNone', 'REQnNone'].map((method) => {
      const accepted = ledger.acceptedByMethod.get(method) ?? 0;
      const sender = info(`${SELF}~${SELF}~${method}`);
      return { method, accepted, sent: (sender?.nextSeq ?? 1) - 1, ran: info(method)?.done ?? 0 };
    });
    const text = await readFile(delivered, 'utf8');
    const missing = [...ledger.tokens].filter((t) => !text.includes(t));

    const methods = [...ledger.acceptedByMethod].sort((a, b) => b[1] - a[1]);
    const byMethod = methods.slice(0, 6).map(([m, n]) => `${m} ${n}`).join(', ') + (methods.length > 6 ? `, and ${methods.length - 6} other names` : '');
    const codes = [...ledger.errors].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ');
    const inputs = Object.values(ledger.inputs).reduce((a, b) => a + b, 0);
    console.log(
      [
        `fuzz seed ${SEED}: ${inputs} inputs (${Object.entries(ledger.inputs).map(([k, n]) => `${k} ${n}`).join(', ')}) plus ${ledger.probes} probes; ` +
          `connections or requests: ${[...ledger.byInput].map(([k, n]) => `${k} ${n}`).join(', ')}; HTTP statuses: ${[...ledger.httpStatus].map(([k, n]) => `${k} ${n}`).join(', ')}`,
        `answers: ${ledger.lines} lines, ${ledger.accepted} accepted (${ledger.accepted - ledger.probes} of fuzz input), errors: ${codes}`,
        `accepted by method (to ${SELF}): ${byMethod}`,
        `delivery: ${counts.map((c) => `${c.method} accepted ${c.accepted}, sent ${c.sent}, ran ${c.ran}`).join('; ')}; ` +
          `REQToFileAppend tokens ${ledger.tokens.size}, missing ${missing.length}`,
        `daemon counters: ${JSON.stringify(stats.counters)}; errors reported: ${JSON.stringify(info('errorKernel'))}; alive pid ${daemon.pid}`,
      ].join('\n'),
    );

    for (const c of counts) {
      expect(c.sent, `${c.method}: every accepted message is in its stream`).toBe(c.accepted);
      expect(c.ran, `${c.method}: every accepted message ran`).toBe(c.accepted);
    }
    expect(missing.slice(0, 10), `${missing.length} accepted REQToFileAppend messages never ran`).toEqual([]);

    // Nothing was written outside the data dir's own folders.
    const root = path.dirname(daemon.dataDir);
    expect(await readdir(root)).toEqual([SELF]);
    expect((await readdir(daemon.dataDir)).sort()).toEqual([...new Set([...dataDirEntries, 'files'])].sort());
    expect(daemon.stderr, 'the daemon wrote nothing to stderr').toBe('');
    const failures = daemon.logs.filter((l) => l.level >= 60 || (l.level >= 50 && l.input === 'socket'));
    expect(failures.map((l) => l.msg), 'input failures in the log').toEqual([]);
  });
});

/**
 * What the fuzzing found, pinned down. Its own daemon, so the counts above stay exact.
 */
describe('accepting from several connections at once', () => {
  let node: Daemon;
  beforeAll(async () => {
    node = await Daemon.start({ node: 'race', args: ['--central', 'race'] });
  });
  afterAll(async () => {
    await node?.kill();
  });

  for (const method of ['REQNone', 'REQnNone'] as const) {
    it(`runs every accepted ${method} message while another batch opens a new stream`, { timeout: 60_000 }, async () => {
      // One connection sends [a message on stream S, a message on a stream not opened yet]:
      // S's sequence number is handed out, then the new stream is opened, and meanwhile
      // three other connections get later numbers on S accepted and committed first.
      let accepted = 0;
      for (let i = 0; i < 20; i++) {
        const opening = talk(node.socketPath, JSON.stringify([{ toNode: 'local', method, replyMethod: 'none' }, { toNode: 'local', method: `New${method}${i}`, replyMethod: 'none' }]));
        const others = [1, 2, 3].map(() => talk(node.socketPath, JSON.stringify({ toNode: 'local', method, replyMethod: 'none' })));
        const answers = (await Promise.all([opening.then((a) => a.slice(0, 1)), ...others])).flat();
        accepted += answers.filter((a) => a.status === 'accepted').length;
      }
      expect(accepted).toBe(80);
      const ran = async () => {
        const [tree] = await talk(node.debugSocketPath, 'tree\n');
        return (nodesOf(tree).find((n) => n.id === method)?.info?.done as number | undefined) ?? 0;
      };
      await waitFor(async () => (await ran()) >= accepted, 15_000, `${accepted} ${method} runs`).catch(() => {});
      expect(await ran(), `${method} messages run of ${accepted} accepted`).toBe(accepted);
    });
  }

  it('reports a file name too long for the file system with a bosun error code', { timeout: 30_000 }, async () => {
    const [answer] = await talk(node.socketPath, JSON.stringify({ toNode: 'local', method: 'REQToFileAppend', data: 'x', directory: 'y'.repeat(300), fileName: 'f' }));
    expect(answer).toMatchObject({ status: 'accepted' });
    const log = path.join(node.dataDir, 'files', 'errorLog', 'error.log');
    const text = await waitFor(async () => {
      const t = await readFile(log, 'utf8').catch(() => '');
      return t.includes(String(answer!.id)) ? t : undefined;
    }, 10_000, 'the failed run in the error log');
    const codes = text.split('\n').filter((l) => l.includes(String(answer!.id))).map((l) => l.split(' ')[2]);
    for (const code of codes) expect(code, 'the error code of the failed run').toMatch(/^BOSUN_[A-Z_]+$/);
  });
});

// ---- the debug socket ---------------------------------------------------------------------

interface TreeNode {
  id: string;
  state: string;
  info?: Record<string, unknown>;
  children: TreeNode[];
}

async function debug(command: string): Promise<unknown> {
  const [answer] = await talk(daemon.debugSocketPath, `${command}\n`);
  return answer;
}

function nodesOf(tree: unknown): TreeNode[] {
  const all: TreeNode[] = [];
  const visit = (n: TreeNode) => {
    all.push(n);
    n.children.forEach(visit);
  };
  visit(tree as TreeNode);
  return all;
}

/** Streams to this node with messages in flight or queued, and subscribers with work. */
function busyParts(tree: unknown): string[] {
  const busy: string[] = [];
  for (const n of nodesOf(tree)) {
    const info = (n.info ?? {}) as Record<string, number>;
    const parts = n.id.split('~');
    if (n.id.startsWith('receiver:')) continue;
    if (parts.length === 3 && parts[1] === SELF && (info.inFlight! > 0 || info.queued! > 0)) busy.push(`${n.id} ${JSON.stringify(info)}`);
    if (parts.length === 1 && typeof info.running === 'number' && (info.running > 0 || info.queued! > 0)) busy.push(`${n.id} ${JSON.stringify(info)}`);
  }
  return busy;
}
