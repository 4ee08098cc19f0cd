import { spawn } from 'node:child_process';
import { appendFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, tempDir, waitFor } from './helpers/daemon.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';

/**
 * Every message example of steward's two READMEs (the seed documents), as the files in
 * `examples/steward/` hold them: verbatim but for node names (`central`, `ship1`) and the
 * URL, which points at a local server. Each is sent as the README says, with Debian's
 * netcat (`nc -N -U <socket> < file`), to real daemons over a real nats-server, and each
 * one's effect is checked where steward would have put it.
 */
const EXAMPLES = path.resolve(import.meta.dirname, '../examples/steward');
const SEED_URL = 'http://127.0.0.1:8080/';
const PAGE = '<html><body>finn, served locally</body></html>';

let nats: NatsServer;
let http: Server;
let url: string;
let central: Daemon;
let ship1: Daemon;
/** ship1's working directory: where `./test.log` and `tree ./` are. */
let shipCwd: string;

beforeAll(async () => {
  const root = await tempDir('bosun-seeds-');
  shipCwd = path.join(root, 'ship1-cwd');
  const centralCwd = path.join(root, 'central-cwd');
  await mkdir(path.join(shipCwd, 'logs'), { recursive: true });
  await mkdir(centralCwd, { recursive: true });
  await writeFile(path.join(shipCwd, 'test.log'), 'written before the tail began\n');
  await writeFile(path.join(centralCwd, 'on-central.txt'), 'x');
  http = createServer((_, res) => res.end(PAGE));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
  nats = await startNatsServer();
  [central, ship1] = await Promise.all([
    Daemon.start({ node: 'central', dataDir: path.join(root, 'central'), args: ['--nats', nats.url], cwd: centralCwd, startTimeoutMs: 60_000 }),
    Daemon.start({ node: 'ship1', dataDir: path.join(root, 'ship1'), args: ['--nats', nats.url], cwd: shipCwd, startTimeoutMs: 60_000 }),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([central?.kill(), ship1?.kill()]);
  await nats?.stop();
  await new Promise((resolve) => http?.close(resolve));
});

/** Every example file this test has sent. */
const sent = new Set<string>();

/** `nc -N -U <socket> < examples/steward/<file>`, the URL made local; resolves with nc's answer lines. */
async function ncSend(daemon: Daemon, file: string): Promise<Array<Record<string, unknown>>> {
  sent.add(file);
  const text = (await readFile(path.join(EXAMPLES, file), 'utf8')).replaceAll(SEED_URL, url);
  const output = await new Promise<string>((resolve, reject) => {
    const nc = spawn('nc', ['-N', '-U', daemon.socketPath], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      nc.kill('SIGKILL');
      reject(new Error(`nc -N -U did not finish within 20 s (it hangs without -N):\n${out}\n${err}`));
    }, 20_000);
    nc.stdout.setEncoding('utf8').on('data', (t: string) => (out += t));
    nc.stderr.setEncoding('utf8').on('data', (t: string) => (err += t));
    nc.once('error', reject);
    nc.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`nc exited with ${code}: ${err}`));
    });
    nc.stdin.end(text);
  });
  const answers = output.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const answer of answers) expect(answer, `${file}: ${JSON.stringify(answer)}`).toMatchObject({ status: 'accepted' });
  return answers;
}

/** A file in central's files folder. */
const onCentral = (...parts: string[]): string => path.join(central.dataDir, 'files', ...parts);

/** Waits until the file's text matches, and returns the text. */
async function fileMatching(file: string, pattern: RegExp, ms = 30_000): Promise<string> {
  return waitFor(async () => {
    const text = await readFile(file, 'utf8').catch(() => '');
    return pattern.test(text) ? text : undefined;
  }, ms, `${path.relative(central.dataDir, file)} to match ${pattern} (has: ${await readFile(file, 'utf8').catch(() => '(nothing)')})`);
}

/** What `tree ./` prints last. */
const TREE_SUMMARY = /^\d+ director(y|ies), \d+ files?$/m;

describe("steward's README examples, sent with nc to real daemons", () => {
  it('REQCliCommand with replyMethod and reply settings (the "What is it" example): tree of ship1\'s working directory in central\'s file', async () => {
    await ncSend(central, '01-what-is-it-cli-command.json');
    const text = await fileMatching(onCentral('cli_command__result', 'ship1', 'some-file-name.result'), TREE_SUMMARY);
    expect(text).toContain('test.log');
    expect(text).not.toMatch(/BOSUN_/);
  }, 60_000);

  it('REQHttpGet to toNodes with toNode "": the page, written by REQToFile, from each node', async () => {
    const answers = await ncSend(central, '08-http-get-toNodes.json');
    expect(answers.map((a) => a.toNode)).toEqual(['central', 'ship1']);
    expect(await fileMatching(onCentral('httpget', 'ship1', 'finn.no.html'), /finn/)).toBe(PAGE);
    expect(await fileMatching(onCentral('httpget', 'central', 'finn.no.html'), /finn/)).toBe(PAGE);
  }, 60_000);

  it('REQOpCommand "ps" (fragment and full message): the process list', async () => {
    await ncSend(central, '03-op-ps-fragment.json');
    const list = await fileMatching(onCentral('REQOpCommand', 'ship1', 'REQOpCommand.result'), /^REQHttpGet /m);
    expect(list).toMatch(/^REQCliCommand (idle|busy) /m);
    await ncSend(central, '09-op-ps.json');
    await fileMatching(onCentral('opcommand_logs', 'ship1', 'some.log'), /^REQTailFile (idle|busy) /m);
  }, 60_000);

  it('REQOpCommand stopProc and startProc (fragments and full messages), with steward\'s kind, receivingNode and id', async () => {
    await ncSend(central, '10-op-stopProc.json');
    await fileMatching(onCentral('opcommand_logs', 'ship1', 'some.log'), /^stopped REQHttpGet on ship1/m);
    await ncSend(central, '02-op-stopProc-fragment.json');
    await fileMatching(onCentral('REQOpCommand', 'ship1', 'REQOpCommand.result'), /^stopped REQHttpGet on ship1/m);
    await ncSend(central, '11-op-startProc.json');
    await fileMatching(onCentral('opcommand_logs', 'ship1', 'some.log'), /^started REQHttpGet for central, node1 on ship1/m);
    await ncSend(central, '04-op-startProc-fragment.json');
    await fileMatching(onCentral('REQOpCommand', 'ship1', 'REQOpCommand.result'), /^started REQHttpGet for central, node1 on ship1/m);
    // "MethodTimeout" in another casing, as that README wrote it.
    await ncSend(central, '05-op-startProc-cliCommandCont.json');
    await fileMatching(onCentral('opcommand_logs', 'ship1', 'some.log'), /^started REQnCliCommandCont for central on ship1/m);
    const ps = await ncSend(central, '09-op-ps.json');
    expect(ps).toHaveLength(1);
    await fileMatching(onCentral('opcommand_logs', 'ship1', 'some.log'), /^REQHttpGet (idle|busy) .*allowed=central,node1 from=operator/m);
  }, 90_000);

  it('REQCliCommand with an absolute directory: joined under central\'s files folder', async () => {
    await ncSend(central, '06-cli-command-absolute-directory.json');
    const text = await fileMatching(onCentral('var', 'steward', 'cli-command', 'executed-result', 'ship1', 'some.log'), TREE_SUMMARY);
    expect(text).toContain('test.log');
  }, 60_000);

  it('two REQCliCommand messages at once, one per node', async () => {
    await ncSend(central, '07-cli-command-two-nodes.json');
    expect(await fileMatching(onCentral('cli-command-executed-result', 'ship1', 'some.log'), TREE_SUMMARY)).toContain('test.log');
    expect(await fileMatching(onCentral('cli-command-executed-result', 'central', 'some.log'), TREE_SUMMARY)).toContain('on-central.txt');
  }, 60_000);

  it('REQTailFile of "./test.log", relative to ship1\'s working directory: each new line in central\'s file', async () => {
    await ncSend(central, '12-tail-file.json');
    const tailed = onCentral('my', 'log', 'files', 'ship1', 'some.log');
    // The tail begins at the file's end: probe until ship1 follows it, then write the lines.
    let probe = 0;
    await waitFor(async () => {
      await appendFile(path.join(shipCwd, 'test.log'), `probe ${++probe}\n`);
      await new Promise((r) => setTimeout(r, 250));
      return (await readFile(tailed, 'utf8').catch(() => '')).includes('probe');
    }, 30_000, 'the tail to start');
    await appendFile(path.join(shipCwd, 'test.log'), 'first line\nsecond line\n');
    const text = await fileMatching(tailed, /^second line$/m);
    const lines = text.split('\n').filter(Boolean);
    expect(lines.slice(-2)).toEqual(['first line', 'second line']);
    expect(lines.every((l) => l === 'first line' || l === 'second line' || /^probe \d+$/.test(l))).toBe(true);
    expect(text).not.toContain('written before the tail began');
  }, 60_000);

  it('the first README\'s shellCommand, to one node and to two', async () => {
    await ncSend(central, '13-first-readme-shellCommand.json');
    await fileMatching(onCentral('REQCliCommand', 'ship1', 'REQCliCommand.result'), /^total \d+/m);
    await ncSend(central, '14-first-readme-shellCommand-two-nodes.json');
    await fileMatching(onCentral('REQCliCommand', 'central', 'REQCliCommand.result'), /^total \d+/m);
    await fileMatching(onCentral('REQCliCommand', 'ship1', 'REQCliCommand.result'), /^total \d+[\s\S]*^total \d+/m);
  }, 60_000);

  it('REQToFileAppend with a data array: one appended line per element', async () => {
    await ncSend(central, '16-file-append-lines.json');
    const appended = path.join(ship1.dataDir, 'files', 'notes', 'central', 'lines.log');
    expect(await fileMatching(appended, /second line/)).toBe('first line\nsecond line\n');
  }, 60_000);

  it('the first README\'s textLogging event, sent from a ship: the line appended on central', async () => {
    await ncSend(ship1, '15-first-readme-textLogging.json');
    const text = await fileMatching(onCentral('default', 'ship1', 'REQToFileAppend.result'), /testing/);
    expect(text).toBe('some message sent from a ship for testing\n');
  }, 60_000);

  it('has sent every file of examples/steward', async () => {
    expect([...sent].sort()).toEqual((await readdir(EXAMPLES)).filter((f) => f.endsWith('.json')).sort());
  });
});
