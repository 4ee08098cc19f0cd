import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sendToSocket, waitFor, type DaemonProcess } from './helpers/fleet.ts';
import { useNatsFleet } from './helpers/natsFleet.ts';

/**
 * REQOpCommand's starts and stops, end to end: daemons as real processes over a real
 * nats-server, the controlled one killed with SIGKILL and started again.
 */
const fleet = useNatsFleet('bosun-opcmd-');
let opCount = 0;

async function startDaemons(...nodes: Array<[string, string[]]>): Promise<DaemonProcess[]> {
  const started = nodes.map(([node, args]) => fleet.daemon(node, args));
  await Promise.all(started.map((d) => d.start()));
  return started;
}

/** Accepts one message at `from`'s socket and checks that it was accepted. */
async function send(from: DaemonProcess, message: object): Promise<void> {
  const [answer] = await sendToSocket(from.dataDir, { ACKTimeout: 1, retryWait: 0.2, retries: -1, ...message }, 1);
  expect(answer).toMatchObject({ status: 'accepted' });
}

/** Reads a reply file once it exists (or its `.error` twin), in `at`'s files folder. */
async function replyFile(at: DaemonProcess, method: string, fromNode: string, fileName: string): Promise<string> {
  const base = path.join(at.dataDir, 'files', method, fromNode, fileName);
  let text: string | undefined;
  await waitFor(
    async () => {
      text = (await readFile(base, 'utf8').catch(() => undefined)) ?? (await readFile(`${base}.error`, 'utf8').catch(() => undefined));
      return text !== undefined;
    },
    30_000,
    `the reply ${fileName}`,
  );
  return text!;
}

/** Sends a REQOpCommand from central to ship1 and returns the reply's text. */
async function op(central: DaemonProcess, operation: object): Promise<string> {
  const fileName = `op-${++opCount}.result`;
  await send(central, { toNode: 'ship1', method: 'REQOpCommand', methodArgs: [JSON.stringify(operation)], fileName });
  return (await replyFile(central, 'REQOpCommand', 'ship1', fileName)).trim();
}

async function psLine(central: DaemonProcess, method: string): Promise<string | undefined> {
  return (await op(central, { opCmd: 'ps' })).split('\n').find((line) => line.startsWith(`${method} `));
}

async function effectLines(file: string): Promise<number[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

const appendTo = (file: string, i: number) => ({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['sh', '-c', `echo ${i} >> ${file}`] });

describe('REQOpCommand across a SIGKILL of the daemon', () => {
  it('keeps a stopped method stopped: its messages wait, and run in order, once, after startProc', async () => {
    const effects = path.join(fleet.dir, 'effects.log');
    const [central, ship1] = await startDaemons(['central', []], ['ship1', []]);

    expect(await op(central, { opCmd: 'stopProc', opArg: { method: 'REQCliCommand' } })).toBe(
      'stopped REQCliCommand on ship1; kept across restarts until resetProc',
    );
    for (let i = 0; i < 5; i++) await send(central, appendTo(effects, i));
    await waitFor(async () => (await psLine(central, 'REQCliCommand'))?.includes('queued=5') ?? false, 30_000, 'five waiting on ship1');

    await ship1!.kill();
    await ship1!.start();
    for (let i = 5; i < 10; i++) await send(central, appendTo(effects, i));
    // Ten queued and none run: every message is held, those from before the kill too.
    await waitFor(async () => (await psLine(central, 'REQCliCommand')) === 'REQCliCommand stopped queued=10 active=0 from=operator', 30_000, 'ten waiting');
    expect(await effectLines(effects)).toEqual([]);

    expect(await op(central, { opCmd: 'startProc', opArg: { method: 'REQCliCommand' } })).toBe(
      'started REQCliCommand on ship1; kept across restarts until resetProc',
    );
    await waitFor(async () => (await effectLines(effects)).length >= 10, 30_000, 'ten effects');
    await waitFor(async () => (await psLine(central, 'REQCliCommand')) === 'REQCliCommand idle queued=0 active=0 from=operator', 30_000, 'an idle subscriber');
    expect(await effectLines(effects)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('keeps a startProc with allowedNodes of a switched-off method: central runs commands, ship2 is refused', async () => {
    const marker = path.join(fleet.dir, 'ship2-ran');
    const [central, ship1, ship2] = await startDaemons(['central', []], ['ship1', ['--start-sub-req-cli-command', 'false']], ['ship2', []]);
    expect(await psLine(central, 'REQCliCommand')).toBe('REQCliCommand off from=config');

    expect(await op(central, { opCmd: 'startProc', opArg: { method: 'REQCliCommand', allowedNodes: ['central'] } })).toBe(
      'started REQCliCommand for central on ship1; kept across restarts until resetProc',
    );
    await ship1!.kill();
    await ship1!.start();
    expect(await psLine(central, 'REQCliCommand')).toBe('REQCliCommand idle queued=0 active=0 allowed=central from=operator');

    await send(ship2!, { toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['touch', marker] });
    const refused = await replyFile(ship2!, 'REQCliCommand', 'ship1', 'REQCliCommand.result');
    expect(refused).toContain('error BOSUN_NOT_ALLOWED: REQCliCommand here takes messages from central only, not from ship2');
    await expect(access(marker)).rejects.toThrow(/ENOENT/);

    await send(central, { toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['echo', 'hello from central'] });
    expect(await replyFile(central, 'REQCliCommand', 'ship1', 'REQCliCommand.result')).toBe('hello from central\n');
  });
});
