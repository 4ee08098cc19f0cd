import { afterEach, describe, expect, it } from 'vitest';
import { BosunError } from '../src/errors.ts';
import type { Message } from '../src/message.ts';
import { builtinMethods } from '../src/methods/index.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { isProcessOverride, overrideHolds, planFor, type ProcessOverride } from '../src/runtime/ProcessControl.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { MemoryStore } from '../src/store/MemoryStore.ts';
import { PROC_PREFIX, prefixRange, procKey } from '../src/store/keys.ts';
import type { StoreOp, WriteOptions } from '../src/store/types.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { recorder, replyCollector } from './helpers/recorder.ts';
import { until } from './helpers/until.ts';

/**
 * An operator's startProc and stopProc are kept in the node's store: they hold across
 * crashes (power loss included) until resetProc, and win over the method switches they
 * were made against.
 */
const running: BosunNode[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((n) => n.crash()));
});

const ALL_BUT_PING = builtinMethods()
  .map((m) => m.name)
  .filter((m) => m !== 'REQPing');

/** central and ship2 on one bus; ship1 on a store that survives its crashes. */
async function fleet(ship1Options: { enabledMethods?: string[]; store?: MemoryStore } = {}) {
  const bus = new EmbeddedBus();
  const rec = recorder();
  const collector = replyCollector('REQTestInbox');
  const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: [collector.method] });
  const ship2 = await startNode({ node: 'ship2', bus, helloIntervalSeconds: 0, methods: [replyCollector('REQTestInbox').method] });
  running.push(central, ship2);
  let store = ship1Options.store ?? new MemoryStore();
  const startShip1 = async (enabledMethods = ship1Options.enabledMethods) => {
    const node = await startNode({
      node: 'ship1',
      bus,
      helloIntervalSeconds: 0,
      methods: rec.methods,
      store,
      ...(enabledMethods ? { enabledMethods } : {}),
    });
    running.push(node);
    return node;
  };
  let ship1 = await startShip1();
  return {
    central,
    ship2,
    rec,
    get ship1() {
      return ship1;
    },
    /** Crashes ship1 as a power cut would (only synced writes survive) and starts it again. */
    async restartShip1(enabledMethods?: string[]) {
      await ship1.crash();
      running.splice(running.indexOf(ship1), 1);
      store = store.crash({ powerLoss: true });
      ship1 = await startShip1(enabledMethods);
      return ship1;
    },
    /** Sends a REQOpCommand to ship1 from central and waits for its answer. */
    async op(operation: object): Promise<Message> {
      const sent = await central.send({ toNode: 'ship1', method: 'REQOpCommand', methodArgs: [JSON.stringify(operation)], replyMethod: 'REQTestInbox' });
      return sent.reply;
    },
    /** ship1's `ps` line for one method. */
    async ps(method: string): Promise<string | undefined> {
      const reply = await this.op({ opCmd: 'ps' });
      return reply.data?.split('\n').find((line) => line.startsWith(`${method} `));
    },
    store: () => store,
  };
}

describe('a stopProc kept across restarts', () => {
  it('keeps the method stopped through a power cut: its messages wait, durable, and run in order, once, when started', async () => {
    const f = await fleet();
    expect((await f.op({ opCmd: 'stopProc', opArg: { method: 'REQTestRecord' } })).data).toBe(
      'stopped REQTestRecord on ship1; kept across restarts until resetProc',
    );
    for (const data of ['a', 'b']) await (await f.central.send({ toNode: 'ship1', method: 'REQTestRecord', data, replyMethod: 'none' })).acked;

    await f.restartShip1();
    await (await f.central.send({ toNode: 'ship1', method: 'REQTestRecord', data: 'c', replyMethod: 'none' })).acked;
    await until(async () => (await f.ps('REQTestRecord')) === 'REQTestRecord stopped queued=3 active=0 from=operator', 10_000, 'three waiting');
    expect(f.rec.runs.get('ship1')).toBeUndefined();

    await f.op({ opCmd: 'startProc', opArg: { method: 'REQTestRecord' } });
    await until(() => f.rec.runs.get('ship1')?.length === 3, 10_000, 'three runs');
    expect(f.rec.runs.get('ship1')).toEqual(['a', 'b', 'c']);

    // Started is kept too, and nothing that ran runs again.
    await f.restartShip1();
    expect(await f.ps('REQTestRecord')).toBe('REQTestRecord idle queued=0 active=0 from=operator');
    expect(f.rec.runs.get('ship1')).toEqual(['a', 'b', 'c']);
  });

  it('keeps a stop through a power cut right after the reply', async () => {
    const f = await fleet();
    await f.op({ opCmd: 'stopProc', opArg: { method: 'REQnTestRecord' } });
    await f.restartShip1();
    expect(await f.store().get(procKey('REQnTestRecord'))).toMatchObject({ state: 'stopped', switchedOn: true });
    expect(await f.ps('REQnTestRecord')).toBe('REQnTestRecord stopped queued=0 active=0 from=operator');
  });

  it('syncs the stop even on a store that does not sync by default', async () => {
    const f = await fleet({ store: new MemoryStore({ sync: false }) });
    await f.op({ opCmd: 'stopProc', opArg: { method: 'REQnTestRecord' } });
    await f.restartShip1();
    expect(await f.store().get(procKey('REQnTestRecord'))).toMatchObject({ state: 'stopped' });
    expect(await f.ps('REQnTestRecord')).toBe('REQnTestRecord stopped queued=0 active=0 from=operator');
  });

  it('answers with the error, and changes nothing, when the stop cannot be written', async () => {
    const store = new RefusingProcessRecords();
    const f = await fleet({ store });
    const reply = await f.op({ opCmd: 'stopProc', opArg: { method: 'REQTestRecord' } });
    expect(reply.error).toEqual({ code: 'BOSUN_STORE_WRITE_FAILED', message: 'the disk is full' });
    await (await f.central.send({ toNode: 'ship1', method: 'REQTestRecord', data: 'runs', replyMethod: 'none' })).acked;
    await until(() => f.rec.runs.get('ship1')?.length === 1, 10_000, 'the run');
    expect(await f.ps('REQTestRecord')).toMatch(/ from=config$/);
  });

  it('refuses a method the node does not have, and keeps nothing', async () => {
    const f = await fleet();
    const reply = await f.op({ opCmd: 'stopProc', opArg: { method: 'REQNoSuchThing' } });
    expect(reply.error).toEqual({ code: 'BOSUN_UNKNOWN_METHOD', message: 'this node has no method REQNoSuchThing' });
    expect(await f.store().range(prefixRange(PROC_PREFIX))).toEqual([]);
  });
});

describe('a startProc kept across restarts', () => {
  it('serves a method switched off in the config, from the allowed senders only, after a restart', async () => {
    const f = await fleet({ enabledMethods: ALL_BUT_PING });
    const before = await (await f.central.send({ toNode: 'ship1', method: 'REQPing', replyMethod: 'REQTestInbox' })).reply;
    expect(before.error?.code).toBe('BOSUN_UNKNOWN_METHOD');
    // Having answered, the node keeps nothing for a method it does not serve.
    expect(await f.ps('REQPing')).toBe('REQPing off from=config');

    await f.op({ opCmd: 'startProc', opArg: { method: 'REQPing', allowedNodes: ['central'] } });
    const ship1 = await f.restartShip1();

    expect(await f.ps('REQPing')).toBe('REQPing idle queued=0 active=0 allowed=central from=operator');
    expect(ship1.capabilities().methods).toContain('REQPing');
    const fromCentral = await (await f.central.send({ toNode: 'ship1', method: 'REQPing', replyMethod: 'REQTestInbox' })).reply;
    expect(fromCentral.data).toBe('pong from ship1');
    const fromShip2 = await (await f.ship2.send({ toNode: 'ship1', method: 'REQPing', replyMethod: 'REQTestInbox' })).reply;
    expect(fromShip2.error).toEqual({ code: 'BOSUN_NOT_ALLOWED', message: 'REQPing here takes messages from central only, not from ship2' });
  });
});

describe('resetProc', () => {
  it('starts a switched-off method at once, returns it to its switch (off), and that holds after a restart', async () => {
    const f = await fleet({ enabledMethods: ALL_BUT_PING });
    const ping = async () => (await f.central.send({ toNode: 'ship1', method: 'REQPing', replyMethod: 'REQTestInbox' })).reply;
    expect((await ping()).error?.code).toBe('BOSUN_UNKNOWN_METHOD');
    await f.op({ opCmd: 'startProc', opArg: { method: 'REQPing' } });
    expect((await (await f.central.send({ toNode: 'ship1', method: 'REQPing', replyMethod: 'REQTestInbox' })).reply).data).toBe('pong from ship1');

    expect((await f.op({ opCmd: 'resetProc', opArg: { method: 'REQPing' } })).data).toBe(
      'REQPing on ship1 is as configured: off queued=0 active=0 from=config',
    );
    expect(f.ship1.capabilities().methods).not.toContain('REQPing');
    const refused = await (await f.central.send({ toNode: 'ship1', method: 'REQPing', replyMethod: 'REQTestInbox' })).reply;
    expect(refused.error?.code).toBe('BOSUN_UNKNOWN_METHOD');

    await f.restartShip1();
    expect(await f.ps('REQPing')).toBe('REQPing off from=config');
  });

  it('runs what a stop held back when the method is switched on', async () => {
    const f = await fleet();
    await f.op({ opCmd: 'stopProc', opArg: { method: 'REQTestRecord' } });
    await (await f.central.send({ toNode: 'ship1', method: 'REQTestRecord', data: 'held', replyMethod: 'none' })).acked;
    await f.restartShip1();
    await f.op({ opCmd: 'resetProc', opArg: { method: 'REQTestRecord' } });
    await until(() => f.rec.runs.get('ship1')?.length === 1, 10_000, 'the held run');
    expect(f.rec.runs.get('ship1')).toEqual(['held']);
    expect(await f.ps('REQTestRecord')).toBe('REQTestRecord idle queued=0 active=0 from=config');
    expect(await f.store().get(procKey('REQTestRecord'))).toBeUndefined();
  });
});

describe('precedence between the config switch and a kept change', () => {
  it('forgets a kept change when the switch was changed since: the config is then the newer decision', async () => {
    const f = await fleet();
    await f.op({ opCmd: 'stopProc', opArg: { method: 'REQPing' } });
    await f.restartShip1(ALL_BUT_PING);
    expect(await f.ps('REQPing')).toBe('REQPing off from=config');
    expect(await f.store().get(procKey('REQPing'))).toBeUndefined();
  });

  it('keeps a change while the switch is as it was', async () => {
    const f = await fleet({ enabledMethods: ALL_BUT_PING });
    await f.op({ opCmd: 'stopProc', opArg: { method: 'REQPing' } });
    await f.restartShip1();
    await (await f.central.send({ toNode: 'ship1', method: 'REQPing', replyMethod: 'none' })).acked;
    // Stopped, not off: the message waits instead of being refused.
    await until(async () => (await f.ps('REQPing')) === 'REQPing stopped queued=1 active=0 from=operator', 10_000, 'the ping to wait');
  });
});

describe('the precedence rule', () => {
  const override = (o: Partial<ProcessOverride>): ProcessOverride => ({ state: 'stopped', switchedOn: true, at: 1, ...o });

  it('lets an operator change win over the switch, and the switch decide without one', () => {
    expect(planFor(true, undefined)).toEqual({ state: 'running', source: 'config' });
    expect(planFor(false, undefined)).toEqual({ state: 'off', source: 'config' });
    expect(planFor(true, override({}))).toEqual({ state: 'stopped', source: 'operator' });
    expect(planFor(false, override({ state: 'running', allowedNodes: ['central'], switchedOn: false }))).toEqual({
      state: 'running',
      allowedNodes: ['central'],
      source: 'operator',
    });
  });

  it('holds a change only against the switch it was made against', () => {
    expect(overrideHolds(override({ switchedOn: true }), true)).toBe(true);
    expect(overrideHolds(override({ switchedOn: true }), false)).toBe(false);
    expect(overrideHolds(override({ switchedOn: false }), true)).toBe(false);
  });

  it('reads back only well-formed records', () => {
    expect(isProcessOverride(override({}))).toBe(true);
    expect(isProcessOverride(override({ state: 'running', allowedNodes: ['central'] }))).toBe(true);
    expect(isProcessOverride(override({ allowedNodes: ['central'] }))).toBe(false);
    expect(isProcessOverride(override({ state: 'running', allowedNodes: [] }))).toBe(false);
    expect(isProcessOverride({ state: 'paused', switchedOn: true, at: 1 })).toBe(false);
    expect(isProcessOverride({ state: 'stopped', at: 1 })).toBe(false);
    expect(isProcessOverride('stopped')).toBe(false);
  });

  it('forgets a record it cannot read at start-up, and runs the method as configured', async () => {
    const store = new MemoryStore();
    await store.open();
    await store.write([{ type: 'put', key: procKey('REQTestRecord'), value: { state: 'frozen' } }]);
    const f = await fleet({ store });
    expect(await f.ps('REQTestRecord')).toBe('REQTestRecord idle queued=0 active=0 from=config');
    expect(await store.get(procKey('REQTestRecord'))).toBeUndefined();
  });
});

/** A store whose writes of process records fail, as a full disk would make them. */
class RefusingProcessRecords extends MemoryStore {
  override write(ops: StoreOp[], options?: WriteOptions): Promise<void> {
    if (ops.some((op) => op.key.startsWith(PROC_PREFIX))) return Promise.reject(new BosunError('BOSUN_STORE_WRITE_FAILED', 'the disk is full'));
    return super.write(ops, options);
  }
}
