import { afterEach, describe, expect, it } from 'vitest';
import { builtinMethods } from '../src/methods/registry.ts';
import type { MethodSpec } from '../src/methods/types.ts';
import { RELAY_METHOD, relayedMessage } from '../src/runtime/relay.ts';
import { errorLogOf, eventually, startSecureFleet, type SecureTestNode } from './support/security.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';

/**
 * Relaying on a secure fleet: the relay carries the sender's signed message untouched,
 * the target checks it as if it came directly (the sender's key, the sender's ACL), and
 * a relay that changes what it carries is caught.
 */

const runs: string[] = [];
const started: SecureTestNode[] = [];
afterEach(async () => {
  runs.length = 0;
  await Promise.all(started.splice(0).map((n) => n.stop()));
});

const recordMethod: MethodSpec = {
  name: 'REQTestRecord',
  summary: 'records what ran',
  async handler(ctx) {
    runs.push(`${ctx.node}:${ctx.message.data}`);
    return { output: `ran ${ctx.message.data}` };
  },
};

/** A relay that changes the data of what it carries. */
const tamperingRelay: MethodSpec = {
  name: RELAY_METHOD,
  summary: 'relays, changing payments',
  idempotent: true,
  inline: true,
  replies: false,
  async handler(ctx) {
    const m = relayedMessage(ctx.message, ctx.node);
    return { forward: [m.data === 'pay 10' ? { ...m, data: 'pay 1000' } : m] };
  },
};

async function reply(from: SecureTestNode, message: Record<string, unknown>): Promise<string> {
  const d = await from.node.send(message);
  return (await d.reply).data ?? '';
}

async function logged(central: SecureTestNode, pattern: RegExp): Promise<void> {
  await eventually(async () => pattern.test(await errorLogOf(central.node)), 10_000, `${pattern} in central's error log`);
}

describe('relayed messages on a secure fleet', () => {
  it('run on the target under the sender\'s ACL, not the relay\'s, and their replies come back', async () => {
    const bus = new EmbeddedBus();
    const f = await startSecureFleet(['ship1', 'ship2'], { bus, methods: [recordMethod] });
    started.push(...f.all);
    bus.partition('ship1', 'ship2');
    const ship1 = f.ships.ship1!;
    // Central may send REQTestRecord to ship2; relaying through central lends ship1 none of that.
    expect(await reply(ship1, { toNode: 'ship2', relayViaNode: 'central', method: 'REQTestRecord', data: 'hi' })).toBe(
      'error BOSUN_NOT_ALLOWED: ship1 may not send REQTestRecord to ship2 (ACL)',
    );
    await logged(f.central, /ship2 BOSUN_NOT_ALLOWED .*ship1 may not send REQTestRecord to ship2/);
    expect(runs).toEqual([]);

    await reply(f.central, { toNode: 'central', method: 'REQAclAdd', methodArgs: ['method', 'ship2', 'REQTestRecord', 'ship1'] });
    await eventually(() => f.ships.ship2!.security.trust!.acl().methods.REQTestRecord?.includes('ship1'), 5000, 'the ACL on ship2');
    expect(await reply(ship1, { toNode: 'ship2', relayViaNode: 'central', method: 'REQTestRecord', data: 'hi' })).toBe('ran hi');
    expect(runs).toEqual(['ship2:hi']);
  });

  it('drops what a relay changed on the way, and takes what it leaves alone', async () => {
    const bus = new EmbeddedBus();
    const allButRelay = builtinMethods().map((m) => m.name).filter((n) => n !== RELAY_METHOD);
    bus.partition('central', 'ship2');
    const f = await startSecureFleet(['ship1', 'ship2'], {
      bus,
      methods: [recordMethod],
      // Central and ship2 reach each other only through ship1, keys and error reports included.
      perNode: {
        central: { routes: { ship2: 'ship1' } },
        ship1: { enabledMethods: allButRelay, methods: [recordMethod, tamperingRelay] },
        ship2: { routes: { central: 'ship1' } },
      },
    });
    started.push(...f.all);
    // ship2 holds central's key: the changed message is dropped on arrival, neither stored
    // nor ACKed, so it holds up the relay's stream until the relay gives it up.
    await f.central.node.send({ toNode: 'ship2', relayViaNode: 'ship1', method: 'REQTestRecord', data: 'pay 10', retries: 1 });
    await logged(
      f.central,
      /ship2 BOSUN_BAD_SIGNATURE ship2\/inbound\/ship1~ship2~REQTestRecord: dropped data frame 1 .*: the signature does not match central's key/,
    );
    await logged(f.central, /ship1 BOSUN_DEAD_LETTER .*REQTestRecord to ship2/);
    expect(runs).toEqual([]);
    // What the relay leaves alone goes through.
    expect(await reply(f.central, { toNode: 'ship2', relayViaNode: 'ship1', method: 'REQTestRecord', data: 'pay 5' })).toBe('ran pay 5');
    expect(runs).toEqual(['ship2:pay 5']);
  });
});
