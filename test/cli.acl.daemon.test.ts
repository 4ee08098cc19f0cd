import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/io.ts';
import { runCli } from '../src/cli/main.ts';
import { Daemon, runBosun, tempDir, waitFor, type CommandResult } from './helpers/daemon.ts';
import { startNatsServer, type NatsServer } from './helpers/natsServer.ts';

/**
 * `bosun keys` and `bosun acl` run as processes against a secure fleet of real daemons
 * (central, ship1, ship2) over a real nats-server: keys go from pending to allowed, and
 * ACL changes made on central's command line decide what ship2 may run on ship1.
 */

let nats: NatsServer;
let dir: string;
const fleet: Record<string, Daemon> = {};

beforeAll(async () => {
  nats = await startNatsServer();
  dir = await tempDir('bosun-acl-');
  // --secure given bare: a boolean flag without a value means true.
  const start = (node: string, ...more: string[]) => Daemon.start({ node, dataDir: path.join(dir, node), args: ['--nats', nats.url, '--secure', ...more] });
  const trust = ['--trust-central', path.join(dir, 'central', 'keys', 'public.pem')];
  fleet.central = await start('central');
  [fleet.ship1, fleet.ship2] = await Promise.all([start('ship1', ...trust), start('ship2', ...trust)]);
});

afterAll(async () => {
  await Promise.all(Object.values(fleet).map((d) => d.stop()));
  await nats?.stop();
});

/** The command line run in this process, for errors that never reach a daemon. */
async function cliInProcess(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const sink = (key: 'stdout' | 'stderr') => new PassThrough().setEncoding('utf8').on('data', (t: string) => (out[key] += t));
  const io: CliIo = { stdin: new PassThrough(), stdout: sink('stdout'), stderr: sink('stderr'), env: {}, cwd: dir, help: () => 0 };
  const code = await runCli(argv, io);
  await new Promise((r) => setImmediate(r));
  return { code, ...out };
}

function bosun(node: string, ...args: string[]): Promise<CommandResult> {
  return runBosun([...args, '--data-dir', path.join(dir, node)]);
}

/** `bosun ARGS` on central that must succeed; resolves with its stdout. */
async function onCentral(...args: string[]): Promise<string> {
  const result = await bosun('central', ...args);
  expect(result, `bosun ${args.join(' ')}: ${result.stderr}`).toMatchObject({ code: 0, stderr: '' });
  return result.stdout;
}

const exists = (file: string) => access(file).then(() => true, () => false);
const errorLog = () => readFile(path.join(dir, 'central', 'files', 'errorLog', 'error.log'), 'utf8').catch(() => '');

/** Has ship2 hand ship1 `touch FILE` through ship2's own socket. */
async function ship2Touches(file: string): Promise<void> {
  const sent = await runBosun(['send', '--data-dir', path.join(dir, 'ship2'), '-'], {
    input: JSON.stringify({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['touch', file] }),
  });
  expect(sent, sent.stderr).toMatchObject({ code: 0 });
}

/** Resolves once ship1 has applied a signed ACL update it had not logged before `since`. */
function ship1TakesRules(since: number): Promise<unknown> {
  return waitFor(() => fleet.ship1!.logs.slice(since).some((l) => /^ACL \d+$/.test(l.msg)), 15_000, 'ship1 to apply the new rules');
}

describe('bosun keys', { timeout: 180_000 }, () => {
  it('lists the ships as pending, allows them by fingerprint, and refuses a wrong one', async () => {
    const pending = await waitFor(async () => {
      const listing = JSON.parse(await onCentral('keys', 'ls', '--json')) as { pending: Array<{ node: string; fingerprint: string }> };
      return listing.pending.length === 2 && listing.pending;
    }, 20_000, 'both ships to be pending');

    const shown = await bosun('ship1', 'keys', 'show');
    expect(shown.code).toBe(0);
    const [fp1, key] = shown.stdout.split('\n', 2);
    expect(key).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(pending.find((p) => p.node === 'ship1')?.fingerprint).toBe(fp1);
    const fp2 = pending.find((p) => p.node === 'ship2')!.fingerprint;

    const table = await onCentral('keys', 'ls');
    expect(table).toMatch(/^STATE\s+NODE\s+FINGERPRINT\s+SEEN\n/);
    expect(table).toContain(`pending  ship1    ${fp1}`);

    const wrong = await bosun('central', 'keys', 'allow', 'ship1=SHA256:not-its-key');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^bosun: BOSUN_UNKNOWN_KEY: the pending key of ship1 is SHA256:\S+, not SHA256:not-its-key; nothing was allowed\n$/);

    expect(await onCentral('keys', 'allow', `ship1=${fp1}`, `ship2=${fp2}`)).toBe(`allowed ship1 (${fp1})\nallowed ship2 (${fp2})\n`);
    const listing = JSON.parse(await onCentral('keys', 'ls', '--json')) as { allowed: Array<{ node: string }>; pending: unknown[] };
    expect(listing.allowed.map((k) => k.node)).toEqual(['central', 'ship1', 'ship2']);
    expect(listing.pending).toEqual([]);
  });
});

describe('bosun acl', { timeout: 180_000 }, () => {
  it('decides what ship2 may run on ship1: refused by default, allowed by a rule with groups, refused again once removed', async () => {
    const files = Object.fromEntries(['before', 'allowed', 'afterRm', 'imported'].map((n) => [n, path.join(dir, `acl-${n}`)]));
    expect(await onCentral('acl', 'ls')).toBe('no rules: central and each node itself may send every method and run every command; no other node may\n');

    await ship2Touches(files.before!);
    await waitFor(async () => /ship1 BOSUN_NOT_ALLOWED .*from ship2: ship2 may not send REQCliCommand to ship1 \(ACL\)/.test(await errorLog()), 15_000, 'the refusal in the error log');
    expect(await exists(files.before!)).toBe(false);

    expect(await onCentral('acl', 'add', 'node-group', 'grp_ops', 'ship2')).toBe('ACL changed; rules updated on 0 node(s)\n');
    expect(await onCentral('acl', 'add', 'command-group', 'grp_touch', 'touch', '*')).toBe('ACL changed; rules updated on 0 node(s)\n');
    let logged = fleet.ship1!.logs.length;
    expect(await onCentral('acl', 'add', 'command', 'ship1', 'grp_ops', 'grp_touch')).toBe('ACL changed; rules updated on 1 node(s): ship1\n');
    expect(await onCentral('acl', 'add', 'command', 'ship1', 'grp_ops', 'grp_touch')).toBe('the ACL already was so; nothing changed\n');
    await ship1TakesRules(logged);

    await ship2Touches(files.allowed!);
    await waitFor(() => exists(files.allowed!), 15_000, "ship2's allowed touch to run on ship1");
    await ship2Touches(`${files.allowed!}-2`);

    const listing = await onCentral('acl', 'ls');
    expect(listing).toMatch(/^node groups\n {2}GROUP {4}NODES\n {2}grp_ops {2}ship2\n/);
    expect(listing).toMatch(/\ncommand groups\n {2}GROUP {6}COMMANDS\n {2}grp_touch {2}touch \*\n/);
    expect(listing).toMatch(/\ncommands \(REQCliCommand, REQnCliCommand, REQnCliCommandCont\): what each sender may run\n {2}ON {5}FROM {5}MAY RUN\n {2}ship1 {2}grp_ops {2}grp_touch\n$/);
    expect(JSON.parse(await onCentral('acl', 'ls', '--json'))).toEqual({
      nodeGroups: { grp_ops: ['ship2'] },
      commandGroups: { grp_touch: [['touch', '*']] },
      methods: {},
      commands: { ship1: { grp_ops: ['grp_touch'] } },
    });
    expect(await onCentral('acl', 'ls', '--on', 'ship1')).toContain('\n  FROM   MAY RUN\n  ship2  touch *\n');
    expect(JSON.parse(await onCentral('acl', 'ls', '--on', 'ship1', '--json'))).toEqual({ methods: {}, commands: { ship2: [['touch', '*']] } });

    // Only the commands of the group: anything else is refused, with the reason logged.
    const sent = await runBosun(['send', '--data-dir', path.join(dir, 'ship2'), '-'], {
      input: JSON.stringify({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['rm', `${files.allowed!}-2`] }),
    });
    expect(sent.code).toBe(0);
    await waitFor(async () => /ship1 BOSUN_COMMAND_NOT_ALLOWED .*ship2 may not run \["rm",/.test(await errorLog()), 15_000, 'the command refusal in the error log');
    expect(await exists(`${files.allowed!}-2`)).toBe(true);

    const exported = await onCentral('acl', 'export');
    const inUse = await bosun('central', 'acl', 'rm', 'node-group', 'grp_ops');
    expect(inUse).toMatchObject({ code: 1, stderr: 'bosun: BOSUN_NOT_FOUND: grp_ops is still used (command ship1 grp_ops): delete those rules first; nothing changed\n' });

    logged = fleet.ship1!.logs.length;
    expect(await onCentral('acl', 'rm', 'command', 'ship1', 'grp_ops')).toBe('ACL changed; rules updated on 1 node(s): ship1\n');
    await ship1TakesRules(logged);
    await ship2Touches(files.afterRm!);
    await waitFor(async () => (await errorLog()).match(/ship2 may not send REQCliCommand to ship1/g)?.length === 2, 15_000, 'the second refusal');
    expect(await exists(files.afterRm!)).toBe(false);

    // The export brings the rule back, and a push sends every ship its rules at once.
    const file = path.join(dir, 'acl.json');
    await writeFile(file, exported);
    logged = fleet.ship1!.logs.length;
    expect(await onCentral('acl', 'import', file)).toBe('ACL imported; rules updated on 1 node(s): ship1\n');
    await ship1TakesRules(logged);
    await ship2Touches(files.imported!);
    await waitFor(() => exists(files.imported!), 15_000, "ship2's touch to run again after the import");

    logged = fleet.ship1!.logs.length;
    expect(await onCentral('acl', 'push')).toBe('rules sent to 2 node(s): ship1, ship2\n');
    await ship1TakesRules(logged);
  });

  it('adds and removes the rules a copy to a node needs in one command', async () => {
    expect(await onCentral('acl', 'add', 'copy', 'ship1', 'ship2')).toBe(
      'ACL changed; rules updated on 1 node(s): ship1\nACL changed; rules updated on 1 node(s): ship1\n',
    );
    const rules = JSON.parse(await onCentral('acl', 'ls', '--on', 'ship1', '--json')) as { methods: Record<string, string[]> };
    expect(rules.methods).toMatchObject({ REQCopyChunk: expect.arrayContaining(['ship2']), REQCopyDone: expect.arrayContaining(['ship2']) });
    await onCentral('acl', 'rm', 'copy', 'ship1', 'ship2');
    const after = JSON.parse(await onCentral('acl', 'ls', '--on', 'ship1', '--json')) as { methods: Record<string, string[]> };
    expect(after.methods.REQCopyChunk ?? []).not.toContain('ship2');
    expect(after.methods.REQCopyDone ?? []).not.toContain('ship2');
  });

  it('refuses bad input with a reason: unknown groups, nothing to delete, malformed rules, a node that is not central', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['acl', 'add', 'command', 'ship1', 'grp_nope', 'uptime'], 1, /^bosun: BOSUN_NOT_FOUND: grp_nope is no node group: make it first/],
      [['acl', 'add', 'command', 'ship1', 'ship2', 'grp_nocommands'], 1, /^bosun: BOSUN_NOT_FOUND: grp_nocommands is no command group/],
      [['acl', 'rm', 'method', 'ship1', 'REQHttpGet'], 1, /^bosun: BOSUN_NOT_FOUND: nothing to delete: method ship1 REQHttpGet is not in the ACL\n$/],
      [['acl', 'push', 'ship9'], 1, /^bosun: BOSUN_UNKNOWN_KEY: ship9 is not an allowed node/],
      [['acl', 'import', 'no-such-file.json'], 1, /^bosun: cannot read no-such-file.json: ENOENT\n$/],
    ];
    for (const [args, code, stderr] of cases) {
      const result = await bosun('central', ...args);
      expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code, stderr: expect.stringMatching(stderr) });
    }
    // Mistakes in the call itself are found before any daemon is asked: run in-process.
    const usageErrors: Array<[string[], RegExp]> = [
      [['acl', 'add', 'command', 'ship1', 'ship2'], /^bosun: acl add command: command add needs the command: ARG… or a command group\n\nUsage: bosun acl /],
      [['acl', 'add', 'rule', 'x'], /^bosun: cannot add "rule": say method, command, node-group, command-group or copy\n/],
      [['acl', 'add', 'copy', 'ship1'], /^bosun: acl add copy: say DESTINATION SENDER…\n/],
      [['acl', 'add', 'command', 'ship1', 'ship2', 'df', '-h'], /^bosun: -h or --help in a rule is taken for help; a command argument that starts with "-" goes after "--"\n/],
      [['acl', 'add', 'command', 'ship1', 'ship2', 'df', '-x'], /^bosun: unknown option "-x" for bosun acl; a command argument that starts with "-" goes after "--"\n/],
      [['acl', 'frobnicate'], /^bosun: unknown acl command "frobnicate"\n/],
      [['acl'], /^bosun: say what to do: ls, add, rm, export, import or push\n/],
    ];
    for (const [args, stderr] of usageErrors) {
      const result = await cliInProcess([...args, '--data-dir', path.join(dir, 'central')]);
      expect({ args, ...result }).toEqual({ args, code: 2, stdout: '', stderr: expect.stringMatching(stderr) });
    }

    const flagged = await runBosun(['acl', 'add', 'command', '--data-dir', path.join(dir, 'central'), 'ship1', 'ship2', '--', 'df', '-h']);
    expect(flagged).toMatchObject({ code: 0, stdout: 'ACL changed; rules updated on 1 node(s): ship1\n' });

    const notCentral = await bosun('ship1', 'acl', 'ls');
    expect(notCentral.code).toBe(1);
    expect(notCentral.stderr).toBe(
      "bosun: BOSUN_UNKNOWN_METHOD: node ship1 does not serve method REQAclExport\nbosun: ACL management runs on central, started with --secure true: give central's --node or --data-dir\n",
    );
    const noDaemon = await bosun('nobody', 'acl', 'ls');
    expect(noDaemon.code).toBe(2);
    expect(noDaemon.stderr).toMatch(/^bosun: no bosun daemon at .*nobody\/bosun\.sock: is it running\?/);
    const help = await runBosun(['acl', 'rm', '--help']);
    expect(help).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Usage: bosun acl rm method HOST METHOD \[SENDER…\]\n/) });
  });

  it('revoking a key sends ship1 a key set without it', async () => {
    const logged = fleet.ship1!.logs.length;
    expect(await onCentral('keys', 'revoke', 'ship2')).toMatch(/^revoked ship2 \(SHA256:\S+\)\n$/);
    await waitFor(() => fleet.ship1!.logs.slice(logged).some((l) => /^key set \d+ with 2 keys$/.test(l.msg)), 15_000, 'the new key set on ship1');
    const listing = JSON.parse(await onCentral('keys', 'ls', '--json')) as { allowed: Array<{ node: string }> };
    expect(listing.allowed.map((k) => k.node)).toEqual(['central', 'ship1']);
  });
});
