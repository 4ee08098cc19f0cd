import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { errorLogOf, eventually, startSecureFleet, startSecureTestNode, type SecureTestNode } from './support/security.ts';

const started: SecureTestNode[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.stop()));
});

async function ask(from: SecureTestNode, message: Record<string, unknown>): Promise<string> {
  const d = await from.node.send(message);
  return (await d.reply).data ?? '';
}

describe('secure fleet: keys from hello to allowed', () => {
  it('files a new node key as pending; once allowed, central commands run on the node', async () => {
    const bus = new EmbeddedBus();
    const central = await startSecureTestNode('central', { bus });
    started.push(central);
    // The operator gave ship1 central's fingerprint: the first key set with that key pins it.
    const centralFingerprint = central.security.keys.fingerprint;
    const ship1 = await startSecureTestNode('ship1', { bus, helloIntervalSeconds: 3600, security: { centralFingerprint, unknownKeyGraceSeconds: 0.3 } });
    started.push(ship1);

    // The hello (and the key request at attach) carry ship1's key: central files it as pending.
    const listing = await eventually(async () => {
      const l = JSON.parse(await ask(central, { toNode: 'central', method: 'REQKeysList' })) as { pending: Array<{ node: string; fingerprint: string }> };
      return l.pending.some((p) => p.node === 'ship1') && l;
    });
    expect(listing.pending.find((p) => p.node === 'ship1')!.fingerprint).toBe(ship1.security.keys.fingerprint);
    await eventually(() => central.node.nodes().some((n) => n.node === 'ship1'), 5000, 'the hello');

    // Not allowed yet: ship1 has no key for central, and drops its command on arrival.
    const refused = await central.node.send({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['echo', 'too early'] });
    await eventually(async () => (await errorLogOf(central.node)).includes('BOSUN_UNKNOWN_KEY'), 10_000, 'UNKNOWN_KEY in the error log');
    void refused;

    // A wrong fingerprint allows nothing.
    const wrong = await ask(central, { toNode: 'central', method: 'REQKeysAllow', methodArgs: ['ship1=SHA256:not-it'] });
    expect(wrong).toMatch(/^error BOSUN_UNKNOWN_KEY: the pending key of ship1 is SHA256:/);
    expect(central.security.authority!.keyFor('ship1')).toBeUndefined();

    const allowed = await ask(central, { toNode: 'central', method: 'REQKeysAllow', methodArgs: [`ship1=${ship1.security.keys.fingerprint}`] });
    expect(allowed).toBe(`allowed ship1 (${ship1.security.keys.fingerprint})`);
    await eventually(() => ship1.security.trust!.centralKey === central.security.keys.publicKey, 5000, 'ship1 to pin central');

    expect(await ask(central, { toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['echo', 'hi'] })).toBe('hi\n');
    // ship1's error reports reach central's log now that its key is allowed.
    await ship1.node.accept({ toNode: 'central', method: 'REQErrorLog', data: 'ship1 reporting in', replyMethod: 'none' });
    await eventually(async () => (await errorLogOf(central.node)).includes('ship1 ship1 reporting in'), 5000, 'ship1 in the error log');
  });

  it('refuses a revoked node everywhere', async () => {
    const bus = new EmbeddedBus();
    const fleet = await startSecureFleet(['ship1', 'ship2'], { bus });
    started.push(...fleet.all);
    const { central, ships } = fleet;
    await ask(central, { toNode: 'central', method: 'REQAclAdd', methodArgs: ['command', 'ship1', 'ship2', 'echo', '*'] });
    await eventually(() => ships.ship1!.security.trust!.acl().commands.ship2 !== undefined, 5000, 'the ACL on ship1');
    expect(await ask(ships.ship2!, { toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['echo', 'before'] })).toBe('before\n');

    expect(await ask(central, { toNode: 'central', method: 'REQKeysRevoke', methodArgs: ['ship2'] })).toMatch(/^revoked ship2 /);
    await eventually(() => ships.ship1!.security.trust!.keyFor('ship2') === undefined, 5000, 'the revocation on ship1');
    await ships.ship2!.node.send({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['echo', 'after'] });
    await ships.ship2!.node.send({ toNode: 'central', method: 'REQCliCommand', methodArgs: ['echo', 'from a revoked node'] });
    const log = await eventually(async () => {
      const text = await errorLogOf(central.node);
      // Dropped on arrival: neither stored nor run, and no error reply to ship2.
      const dropped = (node: string) => new RegExp(`${node} BOSUN_UNKNOWN_KEY .*dropped data frame \\d+ of stream ship2~${node}~REQCliCommand, said to be from ship2`);
      return dropped('ship1').test(text) && dropped('central').test(text) && text;
    }, 10_000, 'both refusals in the error log');
    expect(log).not.toContain('from a revoked node');
  });

  it('keeps keys, the ACL and its groups across a restart of central', async () => {
    const bus = new EmbeddedBus();
    const fleet = await startSecureFleet(['ship1'], { bus });
    started.push(fleet.ships.ship1!);
    const { central } = fleet;
    await ask(central, { toNode: 'central', method: 'REQAclAdd', methodArgs: ['nodeGroup', 'grp_ships', 'ship1'] });
    await ask(central, { toNode: 'central', method: 'REQAclAdd', methodArgs: ['commandGroup', 'grp_status', 'systemctl', 'status', '*'] });
    await ask(central, { toNode: 'central', method: 'REQAclAdd', methodArgs: ['command', 'grp_ships', 'central', 'grp_status'] });
    const exported = await ask(central, { toNode: 'central', method: 'REQAclExport' });

    // The same store and key folder, a new process.
    const { store, keyDir } = central;
    await central.node.stop(200);
    const { createSecurity } = await import('../src/security/createSecurity.ts');
    const again = await createSecurity({ node: 'central', central: 'central', keyDir, store });
    expect(again.keys.publicKey).toBe(central.security.keys.publicKey);
    expect(again.authority!.keyFor('ship1')).toBe(fleet.ships.ship1!.security.keys.publicKey);
    expect(again.authority!.aclConfig().nodeGroups).toEqual({ grp_ships: ['ship1'] });
    expect(again.authority!.aclConfig().commandGroups).toEqual({ grp_status: [['systemctl', 'status', '*']] });
    expect(JSON.parse(exported)).toEqual(JSON.parse(JSON.stringify(again.authority!.aclConfig())));
    await store.close();
    await rm(keyDir, { recursive: true, force: true });
  });

  it('keeps scheduled re-runs running: the first run is checked, the node\'s own re-runs are not refused', async () => {
    const bus = new EmbeddedBus();
    const ran: string[] = [];
    const fleet = await startSecureFleet(['ship1'], {
      bus,
      methods: [{ name: 'REQTestTick', summary: 'counts', async handler(ctx) { ran.push(ctx.message.id); return {}; } }],
    });
    started.push(...fleet.all);
    await fleet.central.node.send({ toNode: 'ship1', method: 'REQTestTick', schedule: [0.1, 0.35], replyMethod: 'none' });
    await eventually(() => ran.length >= 3, 5000, 'three runs');
    expect(ran[1]).toMatch(/#1$/);
    expect(await errorLogOf(fleet.central.node)).toBe('');
  });
});
