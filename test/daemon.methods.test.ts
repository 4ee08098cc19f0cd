import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { access, appendFile, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess, sendToSocket, waitFor } from './helpers/fleet.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';

/**
 * Every built-in method, run by real daemon processes: `central` and `ship1` over a real
 * nats-server on loopback. Messages go in through central's unix socket; ship1 runs them
 * and its replies land as files in central's files folder
 * (`files/<request method>/ship1/<fileName>`). One fleet serves the whole file; the
 * schedule test, which kills ship1, comes last.
 */
let dir: string;
let nats: NatsServer;
let central: DaemonProcess;
let ship1: DaemonProcess;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-methods-'));
  nats = await startNatsServer();
  central = new DaemonProcess('central', path.join(dir, 'central'), ['--nats', nats.url]);
  // Hellos every second, so central learns ship1's capabilities within the test.
  ship1 = new DaemonProcess('ship1', path.join(dir, 'ship1'), ['--nats', nats.url, '--hello-interval', '1']);
  await Promise.all([central.start(), ship1.start()]);
});

afterAll(async () => {
  await Promise.all([central?.kill(), ship1?.kill()]);
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Accepts messages at central's socket, checks each was accepted, and returns their ids. */
async function send(...messages: object[]): Promise<string[]> {
  const answers = await sendToSocket(central.dataDir, messages.map((m) => ({ ACKTimeout: 1, retryWait: 0.2, ...m })), messages.length);
  for (const answer of answers) expect(answer).toMatchObject({ status: 'accepted' });
  return answers.map((a) => (a as { id: string }).id);
}

/** A file name no other test uses, so each test reads only its own replies. */
const unique = (label: string) => `${label}-${randomUUID().slice(0, 8)}.txt`;

/** Where a reply from ship1 to a request of `method` lands on central. */
const replyPath = (method: string, fileName: string) => path.join(central.dataDir, 'files', method, 'ship1', fileName);

const readOrUndefined = (file: string) => readFile(file, 'utf8').catch(() => undefined);

async function lines(file: string): Promise<string[]> {
  return ((await readOrUndefined(file)) ?? '').split('\n').filter(Boolean);
}

/**
 * Waits for a file to have content and returns it. An appended reply creates its file
 * before it writes to it, so a file that exists may still be empty for a moment.
 */
async function fileText(file: string, ms = 20_000): Promise<string> {
  let text: string | undefined;
  await waitFor(async () => Boolean((text = await readOrUndefined(file))), ms, path.relative(dir, file));
  return text!;
}

/** Waits until a file holds at least `n` lines and returns them. */
async function atLeastLines(file: string, n: number, ms = 20_000): Promise<string[]> {
  let found: string[] = [];
  await waitFor(async () => (found = await lines(file)).length >= n, ms, `${n} lines in ${path.relative(dir, file)}`);
  return found;
}

async function missing(file: string): Promise<boolean> {
  return access(file).then(
    () => false,
    () => true,
  );
}


const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

describe('built-in methods run by daemon processes over nats-server', () => {
  it('REQCliCommand replies with the output; a non-zero exit is an error reply with the exit code and output', async () => {
    const ok = unique('cli');
    const failed = unique('cli-fail');
    await send(
      { toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['sh', '-c', 'echo "ran on $0"; echo to-stderr >&2', 'ship1-shell'], fileName: ok },
      { toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['sh', '-c', 'echo partial; exit 3'], fileName: failed },
    );
    // stdout and stderr are two pipes: their lines arrive in either order.
    expect((await atLeastLines(replyPath('REQCliCommand', ok), 2)).sort()).toEqual(['ran on ship1-shell', 'to-stderr']);
    expect(await missing(replyPath('REQCliCommand', `${ok}.error`))).toBe(true);

    const error = await fileText(replyPath('REQCliCommand', `${failed}.error`));
    expect(error).toBe('error BOSUN_METHOD_FAILED: command sh exited with code 3\noutput:\npartial\n');
    expect(await missing(replyPath('REQCliCommand', failed))).toBe(true);
  });

  it('REQnCliCommand runs commands concurrently: the first waits for a file only the second creates', async () => {
    const marker = path.join(dir, `marker-${randomUUID()}`);
    const waiter = unique('ncli-waiter');
    const creator = unique('ncli-creator');
    const failed = unique('ncli-fail');
    await send(
      {
        toNode: 'ship1',
        method: 'REQnCliCommand',
        methodArgs: ['sh', '-c', `while [ ! -e ${marker} ]; do sleep 0.05; done; echo saw the marker`],
        fileName: waiter,
        methodTimeout: 15,
      },
      { toNode: 'ship1', method: 'REQnCliCommand', methodArgs: ['sh', '-c', `touch ${marker}; echo made the marker`], fileName: creator },
      { toNode: 'ship1', method: 'REQnCliCommand', methodArgs: ['sh', '-c', 'exit 42'], fileName: failed },
    );
    expect(await fileText(replyPath('REQnCliCommand', creator))).toBe('made the marker\n');
    expect(await fileText(replyPath('REQnCliCommand', waiter))).toBe('saw the marker\n');
    expect(await fileText(replyPath('REQnCliCommand', `${failed}.error`))).toBe('error BOSUN_METHOD_FAILED: command sh exited with code 42\n');
  });

  it('REQnCliCommandCont streams each output line back as a reply of its own, in order, then the exit', async () => {
    const ok = unique('cont');
    const failed = unique('cont-fail');
    await send(
      {
        toNode: 'ship1',
        method: 'REQnCliCommandCont',
        methodArgs: ['sh', '-c', 'for i in 1 2 3 4 5 6; do echo "line $i"; sleep 0.05; done'],
        fileName: ok,
        methodTimeout: 15,
      },
      { toNode: 'ship1', method: 'REQnCliCommandCont', methodArgs: ['sh', '-c', 'echo before the failure; exit 5'], fileName: failed },
    );
    expect(await atLeastLines(replyPath('REQnCliCommandCont', ok), 7)).toEqual([
      'line 1',
      'line 2',
      'line 3',
      'line 4',
      'line 5',
      'line 6',
      '[bosun: command sh exited with code 0]',
    ]);
    // Streamed lines are replies that succeeded; the exit code alone is the error.
    expect(await atLeastLines(replyPath('REQnCliCommandCont', failed), 1)).toEqual(['before the failure']);
    expect(await fileText(replyPath('REQnCliCommandCont', `${failed}.error`))).toBe('error BOSUN_METHOD_FAILED: command sh exited with code 5\n');
  });

  it('REQnCliCommandCont ends at methodTimeout: the command\'s whole process group is killed and the last reply says so', async () => {
    const fileName = unique('cont-timeout');
    const pidFile = path.join(dir, `background-${randomUUID()}.pid`);
    await send({
      toNode: 'ship1',
      method: 'REQnCliCommandCont',
      // A background child of the command: killing the command alone would leave it.
      methodArgs: ['sh', '-c', `sleep 60 & echo $! > ${pidFile}; echo started; wait`],
      fileName,
      methodTimeout: 2,
    });
    expect(await atLeastLines(replyPath('REQnCliCommandCont', fileName), 2)).toEqual([
      'started',
      '[bosun: methodTimeout 2s reached; command sh and its process group were killed]',
    ]);
    const backgroundPid = Number(await readFile(pidFile, 'utf8'));
    await waitFor(
      () => {
        try {
          process.kill(backgroundPid, 0);
          return false;
        } catch (e) {
          return (e as NodeJS.ErrnoException).code === 'ESRCH';
        }
      },
      5_000,
      'the background child to be gone',
    );
  });

  it('REQTailFile sends the lines appended to a file on ship1, and keeps following it after rotation', async () => {
    const followed = path.join(dir, 'ship1-app.log');
    await writeFile(followed, 'written before the tail started\n');
    const fileName = unique('tail');
    const replies = replyPath('REQTailFile', fileName);
    await send({ toNode: 'ship1', method: 'REQTailFile', methodArgs: [followed], fileName, methodTimeout: 25 });

    // The tail starts at the file's end, at a moment the test cannot see: probe lines are
    // appended until one comes back, so the lines after them are surely followed.
    let probes = 0;
    await waitFor(
      async () => {
        if ((await lines(replies)).length > 0) return true;
        await appendFile(followed, `probe ${++probes}\n`);
        await new Promise((r) => setTimeout(r, 100));
        return false;
      },
      20_000,
      'the tail to send a probe line',
    );
    await appendFile(followed, 'a1\na2\n');
    await appendFile(followed, 'a3\n');
    await atLeastLines(replies, 1 + 3);

    // Rotation: the file is renamed (its writer still appends one line to it), then a new
    // file takes its name.
    await rename(followed, `${followed}.1`);
    await appendFile(`${followed}.1`, 'a4\n');
    await writeFile(followed, 'b1\n');
    await appendFile(followed, 'b2\n');

    const expected = ['a1', 'a2', 'a3', 'a4', 'b1', 'b2'];
    let got: string[] = [];
    await waitFor(async () => (got = await lines(replies)).filter((l) => !l.startsWith('probe ')).length >= expected.length, 20_000, 'the lines after rotation');
    const firstReal = got.findIndex((l) => !l.startsWith('probe '));
    // Probe lines only before the real ones, each at most once and in order; nothing from before the start.
    expect(got.slice(0, firstReal).every((l, i, all) => l.startsWith('probe ') && (i === 0 || Number(l.slice(6)) > Number(all[i - 1]!.slice(6))))).toBe(true);
    expect(got.slice(firstReal)).toEqual(expected);
    expect(got).not.toContain('written before the tail started');
  });

  describe('REQHttpGet against an HTTP server on 127.0.0.1', () => {
    let server: Server;
    let base: string;
    const body = `health ok ${randomUUID()}\n`;

    beforeAll(async () => {
      server = createServer((req, res) => {
        if (req.url === '/health') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(body);
        } else {
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('no such page');
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('replies with the body; a 404 is an error reply with the status', async () => {
      const ok = unique('http');
      const notFound = unique('http-404');
      await send(
        { toNode: 'ship1', method: 'REQHttpGet', methodArgs: [`${base}/health`], fileName: ok, methodTimeout: 5 },
        { toNode: 'ship1', method: 'REQHttpGet', methodArgs: [`${base}/missing`], fileName: notFound, methodTimeout: 5 },
      );
      expect(await fileText(replyPath('REQHttpGet', ok))).toBe(body);
      expect(await fileText(replyPath('REQHttpGet', `${notFound}.error`))).toBe(
        `error BOSUN_METHOD_FAILED: GET ${base}/missing answered 404 Not Found: no such page\n`,
      );
      expect(await missing(replyPath('REQHttpGet', notFound))).toBe(true);
    });
  });

  it('REQCopyFile copies a file of a few MiB and a folder from ship1 into central\'s files folder, byte for byte', async () => {
    const source = path.join(dir, 'ship1-src');
    await mkdir(path.join(source, 'folder', 'nested'), { recursive: true });
    const blob = path.join(source, 'blob.bin');
    const size = 3 * 1024 * 1024 + 12_345;
    await writeFile(blob, randomBytes(size));
    await writeFile(path.join(source, 'folder', 'top.txt'), randomBytes(5000));
    await writeFile(path.join(source, 'folder', 'nested', 'deep.bin'), randomBytes(300_000));

    const fileReply = unique('copy-file');
    const folderReply = unique('copy-folder');
    await send(
      { toNode: 'ship1', method: 'REQCopyFile', methodArgs: [blob, 'central', 'from-ship1/blob.bin'], fileName: fileReply, methodTimeout: 60 },
      { toNode: 'ship1', method: 'REQCopyFile', methodArgs: [path.join(source, 'folder'), 'central', 'from-ship1/folder'], fileName: folderReply, methodTimeout: 60 },
    );

    const fileLog = replyPath('REQCopyFile', fileReply);
    await waitFor(async () => (await lines(fileLog)).some((l) => l.startsWith('copied ')), 40_000, 'the file copy to finish');
    const progress = await lines(fileLog);
    expect(progress.at(-1)).toBe(`copied ${size} bytes to central:from-ship1/blob.bin`);
    // Progress lines before it, each a larger share than the one before.
    const percents = progress.slice(0, -1).map((l) => Number(/^sent (\d+)% /.exec(l)?.[1]));
    expect(percents.length).toBeGreaterThan(0);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(percents.every((p) => p >= 10 && p <= 90)).toBe(true);
    // In ship1's folder on central, as a result file from ship1 would be.
    const copied = path.join(central.dataDir, 'files', 'from-ship1', 'ship1', 'blob.bin');
    expect(await sha256(copied)).toBe(await sha256(blob));

    const folderLog = replyPath('REQCopyFile', folderReply);
    await waitFor(async () => (await lines(folderLog)).some((l) => l.startsWith('copied ')), 40_000, 'the folder copy to finish');
    expect((await lines(folderLog)).at(-1)).toBe('copied 2 files (305000 bytes) to central:from-ship1/folder');
    for (const relative of ['top.txt', 'nested/deep.bin']) {
      const at = path.join(central.dataDir, 'files', 'from-ship1', 'ship1', 'folder', relative);
      expect(await sha256(at)).toBe(await sha256(path.join(source, 'folder', relative)));
    }
  });

  it('an error reply whose own directory is refused on central too still lands there, in the default directory, saying why', async () => {
    const outside = path.join(dir, 'outside-escape');
    await mkdir(outside, { recursive: true });
    for (const daemon of [central, ship1]) {
      await mkdir(path.join(daemon.dataDir, 'files'), { recursive: true });
      await symlink(outside, path.join(daemon.dataDir, 'files', 'escape'));
    }
    const fileName = unique('escape');
    await send({ toNode: 'ship1', method: 'REQToFileAppend', data: 'x', directory: 'escape', fileName });
    const landed = path.join(central.dataDir, 'files', 'REQToFileAppend', 'ship1', `${fileName}.error`);
    const refused = 'directory "escape" would leave the files folder through a symbolic link';
    expect(await fileText(landed)).toBe(
      `[bosun: ${refused}; this reply was written to "REQToFileAppend/ship1/${fileName}.error" instead]\nerror BOSUN_PATH_OUTSIDE_ROOT: ${refused}\n`,
    );
    expect(await readdir(outside)).toEqual([]);
  });

  it('REQToFile replaces a file on ship1; REQToFileAppend appends to one', async () => {
    const directory = 'notes';
    await send(
      { toNode: 'ship1', method: 'REQToFile', data: 'first version, longer than the second', directory, fileName: 'state.txt' },
      { toNode: 'ship1', method: 'REQToFile', data: 'second version', directory, fileName: 'state.txt' },
      { toNode: 'ship1', method: 'REQToFileAppend', data: 'entry one', directory, fileName: 'journal.txt' },
      { toNode: 'ship1', method: 'REQToFileAppend', data: 'entry two\n', directory, fileName: 'journal.txt' },
    );
    // The files are on ship1, in the folder of the node that sent the data.
    const journal = path.join(ship1.dataDir, 'files', directory, 'central', 'journal.txt');
    const state = path.join(ship1.dataDir, 'files', directory, 'central', 'state.txt');
    await atLeastLines(journal, 2);
    expect(await readFile(journal, 'utf8')).toBe('entry one\nentry two\n');
    // Both writes of one stream ran in order: the second replaced the first.
    await waitFor(async () => (await readOrUndefined(state)) === 'second version', 20_000, 'the second version of state.txt');
  });

  it('REQToConsole prints the data on ship1\'s stdout, or its stderr when asked', async () => {
    const onStdout = `console line ${randomUUID()}`;
    const onStderr = `console error line ${randomUUID()}`;
    await send({ toNode: 'ship1', method: 'REQToConsole', data: onStdout }, { toNode: 'ship1', method: 'REQToConsole', methodArgs: ['stderr'], data: onStderr });
    await waitFor(() => ship1.stdout.includes(`${onStdout}\n`), 20_000, 'the line on ship1\'s stdout');
    await waitFor(() => ship1.stderr.includes(`${onStderr}\n`), 20_000, 'the line on ship1\'s stderr');
    expect(ship1.stderr).not.toContain(onStdout);
    expect(ship1.stdout).not.toContain(onStderr);
    expect(central.stdout).not.toContain(onStdout);
  });

  it('REQPing is answered "pong from ship1": to a file by default, as a REQPong that central runs when asked', async () => {
    const fileName = unique('ping');
    const [, pingId] = await send(
      { toNode: 'ship1', method: 'REQPing', fileName },
      { toNode: 'ship1', method: 'REQPing', replyMethod: 'REQPong' },
    );
    expect(await fileText(replyPath('REQPing', fileName))).toBe('pong from ship1\n');

    type Audit = Array<{ message: { method: string; fromNode: string; data?: string; inReplyTo?: { id: string } }; outcome: { ok: boolean } }>;
    let pong: Audit[number] | undefined;
    await waitFor(
      async () => {
        const records = (await central.debug('audit {"method":"REQPong"}')) as Audit;
        pong = records.find((r) => r.message.inReplyTo?.id === pingId);
        return pong !== undefined;
      },
      20_000,
      'central to run the REQPong',
    );
    expect(pong).toMatchObject({ message: { method: 'REQPong', fromNode: 'ship1', data: 'pong from ship1' }, outcome: { ok: true } });
  });

  it('REQNone and REQnNone run on ship1 and send nothing back', async () => {
    const ids = await send({ toNode: 'ship1', method: 'REQNone' }, { toNode: 'ship1', method: 'REQnNone' });
    type Audit = Array<{ message: { id: string; method: string; fromNode: string }; outcome: { ok: boolean } }>;
    for (const [i, method] of ['REQNone', 'REQnNone'].entries()) {
      let record: Audit[number] | undefined;
      await waitFor(
        async () => (record = ((await ship1.debug(`audit {"method":"${method}"}`)) as Audit).find((r) => r.message.id === ids[i])) !== undefined,
        20_000,
        `ship1 to run ${method}`,
      );
      expect(record).toMatchObject({ message: { method, fromNode: 'central' }, outcome: { ok: true } });
    }
  });

  it('REQHello: central knows ship1, its capabilities, and hears from it again each interval', async () => {
    type Nodes = Array<{ node: string; lastSeen: string; capabilities?: { hostname: string; methods: string[]; cpus: number; platform: string } }>;
    const ship1Entry = async () => ((await central.debug('nodes')) as Nodes).find((n) => n.node === 'ship1');
    await waitFor(async () => (await ship1Entry()) !== undefined, 20_000, 'ship1\'s first hello');
    const first = (await ship1Entry())!;
    expect(first.capabilities).toMatchObject({ hostname: os.hostname(), cpus: os.cpus().length, platform: `${os.platform()}-${os.arch()}` });
    expect(first.capabilities!.methods).toEqual(expect.arrayContaining(['REQCliCommand', 'REQTailFile', 'REQCopyFile', 'REQHttpGet', 'REQPing']));
    expect(await fileText(path.join(central.dataDir, 'files', 'hello-messages', 'ship1', 'hello.log'))).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z\n$/);

    await waitFor(async () => Date.parse((await ship1Entry())!.lastSeen) > Date.parse(first.lastSeen), 20_000, 'a later hello');
    // Central itself does not send hellos to itself.
    expect(((await central.debug('nodes')) as Nodes).map((n) => n.node)).toEqual(['ship1']);
  });

  it('REQErrorLog: a command that fails on ship1 is one line in central\'s error log', async () => {
    const [id] = await send({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['sh', '-c', 'echo broken >&2; exit 7'], fileName: unique('errlog') });
    const errorLog = path.join(central.dataDir, 'files', 'errorLog', 'error.log');
    let line: string | undefined;
    await waitFor(async () => (line = (await lines(errorLog)).find((l) => l.includes(id!))) !== undefined, 20_000, 'the error in central\'s error log');
    expect(line).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z ship1 BOSUN_METHOD_FAILED ship1/inbound/REQCliCommand: REQCliCommand ${id} from central: command sh exited with code 7\\\\noutput:\\\\nbroken$`,
      ),
    );
  });

  it('schedule: a command re-runs on ship1 every interval, and goes on after ship1 is SIGKILLed in the middle of a run', async () => {
    const effects = path.join(dir, 'scheduled-effects.log');
    const starts = async () => (await lines(effects)).filter((l) => l === 'start').length;
    const [id] = await send({
      toNode: 'ship1',
      method: 'REQCliCommand',
      methodArgs: ['sh', '-c', `echo start >> ${effects}; sleep 0.6; echo end >> ${effects}`],
      schedule: [0.2, 60],
      replyMethod: 'none',
    });
    // Kill ship1 while its third run sleeps: two runs have ended and the last line is a start.
    await waitFor(
      async () => {
        const found = await lines(effects);
        return found.filter((l) => l === 'end').length >= 2 && found.at(-1) === 'start';
      },
      20_000,
      'the third run to be under way',
    );
    await ship1.kill();
    const startsBeforeRestart = await starts();
    // ship1 runs the schedule, not central: no run starts while ship1 is down. (The
    // command the kill cut short lives on in its own process group and writes its end.)
    await new Promise((r) => setTimeout(r, 800));
    expect(await starts()).toBe(startsBeforeRestart);

    await ship1.start();
    await waitFor(async () => (await starts()) >= startsBeforeRestart + 2, 20_000, 'two runs after the restart');
    // The run the kill cut short is reported, and not run again: its id has one record in
    // ship1's audit, the interruption.
    type Audit = Array<{ message: { id: string }; outcome: { ok: boolean; code?: string } }>;
    const runs = ((await ship1.debug('audit {"method":"REQCliCommand"}')) as Audit).filter((r) => r.message.id.startsWith(`${id}#`));
    const interrupted = runs.filter((r) => r.outcome.code === 'BOSUN_INTERRUPTED');
    expect(interrupted).toHaveLength(1);
    expect(runs.filter((r) => r.message.id === interrupted[0]!.message.id)).toHaveLength(1);
    // Central hears of it too, though ship1 reported it while it was starting.
    const errorLog = path.join(central.dataDir, 'files', 'errorLog', 'error.log');
    const report = `ship1 BOSUN_INTERRUPTED ship1/inbound/REQCliCommand: REQCliCommand ${interrupted[0]!.message.id} from central:`;
    await waitFor(async () => (await lines(errorLog)).some((l) => l.includes(report)), 20_000, 'the interrupted run in central\'s error log');
  });
});
