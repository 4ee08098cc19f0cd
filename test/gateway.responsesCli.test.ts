/**
 * `bosun responses` reads a running gateway's responses log over HTTP: every reply once,
 * in order, also while it follows the log across a restart of the daemon. Real daemon
 * processes, the command run as a child process, a receptor node on a websocket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BOSUN_BIN, cleanEnv, Daemon, removeTempDirs, runBosun, tempDir } from './helpers/daemon.ts';
import { freePort } from './helpers/ports.ts';
import { CAPTURED, dialReceptorNode, eventually, numberedReply, type ReceptorTestNode } from './helpers/receptorClient.ts';

const PSK_CLIENTS = JSON.stringify({ 'report-service': 's3cret' });

interface Printed {
  seq: number;
  key: string;
  value: { payload: string; sender: string; message_type: string };
}

const nodes: ReceptorTestNode[] = [];
const daemons: Daemon[] = [];

/** A daemon serving a gateway on a fixed loopback port, so a restart serves the same URL. */
async function gatewayDaemon(port: number, dataDir?: string): Promise<Daemon> {
  const daemon = await Daemon.start({
    node: 'central',
    ...(dataDir ? { dataDir } : {}),
    args: ['--gateway-listen', `127.0.0.1:${port}`],
    env: { RECEPTOR_CONTROLLER_SERVICE_TO_SERVICE_CREDENTIALS: PSK_CLIENTS },
  });
  daemons.push(daemon);
  return daemon;
}

/** The captured node connects and sends replies `r<from>` … `r<to>`. */
async function sendReplies(url: string, from: number, to: number): Promise<void> {
  const node = await dialReceptorNode(url);
  nodes.push(node);
  for (let n = from; n <= to; n++) await node.send(numberedReply(n));
}

function lines(text: string): Printed[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Printed);
}

afterEach(() => {
  for (const node of nodes.splice(0)) node.terminate();
});

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  removeTempDirs();
});

describe('bosun responses, reading once', () => {
  let url: string;

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    await gatewayDaemon(port);
    await sendReplies(url, 1, 3);
    await eventually(async () => lines((await runBosun(['responses', '--url', url, '--account', CAPTURED.account])).stdout).length === 3, 15_000);
  });

  it('prints every record of the account as one JSON line, in order, and exits 0', async () => {
    const result = await runBosun(['responses', '--url', url, '--account', CAPTURED.account]);
    expect(result.code).toBe(0);
    const printed = lines(result.stdout);
    expect(printed.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(printed.map((r) => r.value.payload)).toEqual(['r1', 'r2', 'r3']);
    expect(printed[0]).toMatchObject({ key: CAPTURED.jobMessageId, value: { sender: CAPTURED.nodeId, message_type: 'eof' } });
  });

  it('starts after --after and prints readable lines with --text, for the account spelled without zeros', async () => {
    const result = await runBosun(['responses', '--url', url, '--account', '1', '--after', '2', '--text']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`3 ${CAPTURED.jobMessageId} ${CAPTURED.nodeId} eof code=1 "r3"\n`);
  });

  it('takes the gateway URL and a pre-shared key from the environment', async () => {
    const result = await runBosun(['responses'], {
      env: { BOSUN_GATEWAY_URL: url, BOSUN_RECEPTOR_CLIENT_ID: 'report-service', BOSUN_RECEPTOR_PSK: 's3cret', BOSUN_RECEPTOR_ACCOUNT: '0001' },
    });
    expect(result.code).toBe(0);
    expect(lines(result.stdout).map((r) => r.seq)).toEqual([1, 2, 3]);
  });

  it('shows nothing of another account', async () => {
    const result = await runBosun(['responses', '--url', url, '--account', '0000002']);
    expect(result).toMatchObject({ code: 0, stdout: '' });
  });

  it("reports a refused key with the gateway's detail, exit 1", async () => {
    const result = await runBosun(['responses', '--url', url, '--client-id', 'report-service', '--psk', 'wrong', '--account', '1']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('refused the request (401): Authentication failed');
    expect(result.stdout).toBe('');
  });

  it('reports an identity the gateway cannot read, exit 1', async () => {
    const result = await runBosun(['responses', '--url', url, '--identity', 'not base64!']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('x-rh-identity is not base64');
  });
});

describe('bosun responses, called wrongly or with no gateway', () => {
  it('says the gateway is not reachable, exit 2', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const result = await runBosun(['responses', '--url', url, '--account', '1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`the gateway at ${url} is not reachable (ECONNREFUSED)`);
  });

  it.each([
    [['--account', '1', '--after=-1'], '--after takes a seq'],
    [['--account', '1', '--url', 'ftp://host'], '--url must be an http or https URL'],
    [['--account', '1', '--json', '--text'], 'give --json or --text, not both'],
    [['--client-id', 'report-service', '--account', '1'], '--psk missing'],
    [['--identity', 'abc', '--account', '1'], '--identity names the caller alone'],
    [[], 'say who is asking'],
    [['--account', '1', '--tail'], 'unknown option "--tail" for bosun responses'],
  ])('refuses %j with usage, exit 2', async (args, message) => {
    const result = await runBosun(['responses', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain('Usage: bosun responses');
  });

  it('prints its help with --help and from bosun help', async () => {
    const own = await runBosun(['responses', '--help']);
    const viaHelp = await runBosun(['help', 'responses']);
    expect(own.code).toBe(0);
    expect(own.stdout).toContain('Usage: bosun responses');
    expect(own.stdout).toContain('--follow');
    expect(viaHelp.stdout).toBe(own.stdout);
    expect((await runBosun(['help'])).stdout).toContain('bosun responses');
  });
});

/** `bosun responses --follow …` running as a child process, its output collected. */
class Follower {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  readonly #child: ChildProcess;

  constructor(args: string[]) {
    this.#child = spawn(process.execPath, [BOSUN_BIN, 'responses', '--follow', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
    this.#child.stdout!.setEncoding('utf8').on('data', (text: string) => (this.stdout += text));
    this.#child.stderr!.setEncoding('utf8').on('data', (text: string) => (this.stderr += text));
    this.exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
  }

  printed(): Printed[] {
    return lines(this.stdout.slice(0, this.stdout.lastIndexOf('\n') + 1));
  }

  /** Ctrl-C. */
  interrupt(): Promise<number | null> {
    if (this.#child.exitCode === null) process.kill(this.#child.pid!, 'SIGINT');
    return this.exited;
  }
}

describe('bosun responses --follow', () => {
  let follower: Follower | undefined;
  afterEach(async () => {
    await follower?.interrupt();
  });

  it('prints every reply once, in order, across a restart of the daemon, and ends cleanly on Ctrl-C', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const first = await gatewayDaemon(port, `${await tempDir()}/central`);
    await sendReplies(url, 1, 2);

    follower = new Follower(['--url', url, '--account', CAPTURED.account]);
    await eventually(() => follower!.printed().length === 2, 15_000);
    await sendReplies(url, 3, 3);
    await eventually(() => follower!.printed().length === 3, 10_000);

    await first.stop();
    // While it stops, the gateway answers 503 (shutting down); then nothing listens.
    await eventually(() => /the gateway at \S+ (answered 503|is not reachable).*; trying again/.test(follower!.stderr), 10_000);
    await gatewayDaemon(port, first.dataDir);
    await sendReplies(url, 4, 6);
    await eventually(() => follower!.printed().length >= 6, 20_000);
    expect(follower.stderr).toContain('answers again; going on after seq 3');

    expect(await follower.interrupt()).toBe(0);
    const printed = lines(follower.stdout);
    expect(printed.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(printed.map((r) => r.value.payload)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
  });
});
