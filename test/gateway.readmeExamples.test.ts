/**
 * The receptor-controller README's curl examples, exactly as its users have them in
 * scripts: `{"account": "01"}` with an identity of account "0000001", the PSK account
 * header "0001", and status/ping for account "02". They run with the real `curl` against
 * a real `bosun start --gateway-listen` daemon, with a receptor node `node-b` of account
 * 0000001 connected, and bosun's README shows them verbatim.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess } from './helpers/fleet.ts';
import { freePort } from './helpers/ports.ts';
import { frameBodies, README_IDENTITY, ReceptorTestNode } from './helpers/receptorClient.ts';

const run = promisify(execFile);

/** Copied from the receptor-controller README, character for character (without the `$ ` prompt). */
const SEED = {
  job: `curl -v -X POST -d '{"account": "01", "recipient": "node-b", "payload": "fix_an_issue", "directive": "workername:action"}' -H "x-rh-identity:eyJpZGVudGl0eSI6IHsiYWNjb3VudF9udW1iZXIiOiAiMDAwMDAwMSIsICJpbnRlcm5hbCI6IHsib3JnX2lkIjogIjAwMDAwMSJ9fX0=" http://localhost:9090/job`,
  connections: `curl -H "x-rh-identity:eyJpZGVudGl0eSI6IHsiYWNjb3VudF9udW1iZXIiOiAiMDAwMDAwMSIsICJpbnRlcm5hbCI6IHsib3JnX2lkIjogIjAwMDAwMSJ9fX0=" http://localhost:9090/connection`,
  status: `curl -v -X POST -d '{"account": "02", "node_id": "1234"}' -H "x-rh-identity:eyJpZGVudGl0eSI6IHsiYWNjb3VudF9udW1iZXIiOiAiMDAwMDAwMSIsICJpbnRlcm5hbCI6IHsib3JnX2lkIjogIjAwMDAwMSJ9fX0=" http://localhost:9090/connection/status`,
  ping: `curl -v -X POST -d '{"account": "02", "node_id": "1234"}' -H "x-rh-identity:eyJpZGVudGl0eSI6IHsiYWNjb3VudF9udW1iZXIiOiAiMDAwMDAwMSIsICJpbnRlcm5hbCI6IHsib3JnX2lkIjogIjAwMDAwMSJ9fX0=" http://localhost:9090/connection/ping`,
  credentials: `export RECEPTOR_CONTROLLER_SERVICE_TO_SERVICE_CREDENTIALS='{"test_client_1": "12345", "test_client_2": "6789"}'`,
  pskJob: `curl -v -X POST -d '{"account": "01", "recipient": "node-b", "payload": "fix_an_issue", "directive": "workername:action"}' -H "x-rh-receptor-controller-client-id:test_client_1" -H "x-rh-receptor-controller-account:0001" -H "x-rh-receptor-controller-psk:12345" http://localhost:9090/job`,
};

let dir: string;
let port: number;
let central: DaemonProcess;
let node: ReceptorTestNode;

/** Runs a README command with only the port changed; the status comes from curl's `-v` lines. */
async function curl(command: string): Promise<{ status: number | undefined; body: unknown }> {
  const { stdout, stderr } = await run('sh', ['-c', command.replaceAll('localhost:9090', `localhost:${port}`)], { timeout: 30_000 });
  const status = /^< HTTP\/[\d.]+ (\d{3})/m.exec(stderr)?.[1];
  return { status: status === undefined ? undefined : Number(status), body: JSON.parse(stdout) };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bosun-gw-readme-'));
  port = await freePort();
  const credentials = /^export RECEPTOR_CONTROLLER_SERVICE_TO_SERVICE_CREDENTIALS='(.*)'$/.exec(SEED.credentials)![1]!;
  central = new DaemonProcess('central', path.join(dir, 'central'), ['--gateway-listen', `127.0.0.1:${port}`], {
    RECEPTOR_CONTROLLER_SERVICE_TO_SERVICE_CREDENTIALS: credentials,
  });
  await central.start();
  node = await ReceptorTestNode.connect(`ws://127.0.0.1:${port}/wss/receptor-controller/gateway`, { headers: { 'x-rh-identity': README_IDENTITY } });
  await node.handshake();
}, 60_000);

afterAll(async () => {
  node?.terminate();
  await central?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("the receptor-controller README's examples against a bosun daemon", () => {
  it('are in the README verbatim', async () => {
    const readme = await readFile(path.resolve(import.meta.dirname, '../README.md'), 'utf8');
    for (const command of Object.values(SEED)) expect(readme).toContain(command);
  });

  it('lists node-b under the account its identity gave', async () => {
    await expect.poll(async () => (await curl(SEED.connections)).body, { timeout: 10_000 }).toEqual({
      connections: [{ account: '0000001', connections: ['node-b'] }],
    });
  });

  it('sends the job for account "01" to node-b of account 0000001 (identity)', async () => {
    const answer = await curl(SEED.job);
    expect(answer).toEqual({ status: 201, body: { id: expect.stringMatching(/^[0-9a-f-]{36}$/) } });
    const envelope = frameBodies(await node.next(10_000))[1];
    expect(envelope).toMatchObject({ message_id: (answer.body as { id: string }).id, raw_payload: 'fix_an_issue', directive: 'workername:action', recipient: 'node-b' });
  });

  it('sends the job for account "01" with the PSK account header "0001"', async () => {
    const answer = await curl(SEED.pskJob);
    expect(answer).toEqual({ status: 201, body: { id: expect.stringMatching(/^[0-9a-f-]{36}$/) } });
    expect(frameBodies(await node.next(10_000))[1]).toMatchObject({ message_id: (answer.body as { id: string }).id });
  });

  it('answers status and ping for account "02" as for a node that is not connected', async () => {
    expect(await curl(SEED.status)).toEqual({ status: 200, body: { status: 'disconnected', capabilities: null } });
    expect(await curl(SEED.ping)).toEqual({ status: 200, body: { status: 'disconnected', payload: null } });
    expect(node.unread).toBe(0);
  });
});
