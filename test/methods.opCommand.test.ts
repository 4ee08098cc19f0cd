import { afterEach, describe, expect, it } from 'vitest';
import { BosunError } from '../src/errors.ts';
import type { Message } from '../src/message.ts';
import { REQOpCommand, parseOpCommand } from '../src/methods/opCommand.ts';
import { testContext, testMessage } from './support/methods.ts';
import type { MethodOperator, MethodSpec, OperatorProcess } from '../src/methods/types.ts';
import type { BosunNode } from '../src/runtime/Node.ts';
import { startNode } from '../src/runtime/startNode.ts';
import { EmbeddedBus } from '../src/transport/EmbeddedBus.ts';
import { replyCollector } from './helpers/recorder.ts';
import { failure } from './helpers/failure.ts';

/** An operator over a plain table, recording what it was asked to do. */
function fakeOperator(): MethodOperator & { calls: string[]; table: Map<string, OperatorProcess> } {
  const table = new Map<string, OperatorProcess>([
    ['REQCliCommand', { method: 'REQCliCommand', state: 'running', queued: 2, active: 1, source: 'config' }],
    ['REQHttpGet', { method: 'REQHttpGet', state: 'stopped', source: 'operator' }],
  ]);
  const calls: string[] = [];
  return {
    calls,
    table,
    async list() {
      return [...table.values()];
    },
    async start(method, allowedNodes) {
      calls.push(`start ${method} ${allowedNodes?.join(',') ?? '*'}`);
      if (method === 'REQNoSuchMethod') throw new BosunError('BOSUN_UNKNOWN_METHOD', `node1 does not know method ${method}`);
      table.set(method, { method, state: 'running', source: 'operator', ...(allowedNodes ? { allowedNodes } : {}) });
    },
    async stop(method) {
      calls.push(`stop ${method}`);
      const p = table.get(method);
      if (p) Object.assign(p, { state: 'stopped', source: 'operator' });
    },
    async reset(method) {
      calls.push(`reset ${method}`);
      const p: OperatorProcess = { method, state: 'off', source: 'config' };
      table.set(method, p);
      return p;
    },
  };
}

function run(arg: string | undefined, operator?: MethodOperator) {
  const message = testMessage({ method: 'REQOpCommand', methodArgs: arg === undefined ? [] : [arg] });
  return REQOpCommand.handler(testContext({ filesDir: '/nonexistent', message, ...(operator ? { operator } : {}) }));
}

describe('REQOpCommand with an operator', () => {
  it('lists the subscribers, one line each, sorted by method', async () => {
    const operator = fakeOperator();
    operator.table.set('REQCopyFile', { method: 'REQCopyFile', state: 'running', allowedNodes: ['central', 'ops'], source: 'operator' });
    operator.table.set('REQAnother', { method: 'REQAnother', state: 'running' });
    await expect(run('{"opCmd":"ps"}', operator)).resolves.toEqual({
      output: [
        'REQAnother running',
        'REQCliCommand running queued=2 active=1 from=config',
        'REQCopyFile running allowed=central,ops from=operator',
        'REQHttpGet stopped from=operator',
      ].join('\n'),
    });
  });

  it('starts a subscriber for the nodes given', async () => {
    const operator = fakeOperator();
    await expect(run('{"opCmd":"startProc","opArg":{"method":"REQHttpGet","allowedNodes":["central","node1"]}}', operator)).resolves.toEqual({
      output: 'started REQHttpGet for central, node1 on node1; kept across restarts until resetProc',
    });
    expect(operator.calls).toEqual(['start REQHttpGet central,node1']);
    expect(operator.table.get('REQHttpGet')).toEqual({ method: 'REQHttpGet', state: 'running', allowedNodes: ['central', 'node1'], source: 'operator' });
  });

  it('starts a subscriber for every node when allowedNodes is left out', async () => {
    const operator = fakeOperator();
    await expect(run('{"opCmd":"startProc","opArg":{"method":"REQHttpGet"}}', operator)).resolves.toEqual({
      output: 'started REQHttpGet on node1; kept across restarts until resetProc',
    });
    expect(operator.calls).toEqual(['start REQHttpGet *']);
  });

  it('stops a subscriber', async () => {
    const operator = fakeOperator();
    await expect(run('{"opCmd":"stopProc","opArg":{"method":"REQCliCommand"}}', operator)).resolves.toEqual({
      output: 'stopped REQCliCommand on node1; kept across restarts until resetProc',
    });
    expect(operator.table.get('REQCliCommand')?.state).toBe('stopped');
  });

  it('resets a subscriber to its configuration and says what that is', async () => {
    const operator = fakeOperator();
    await expect(run('{"opCmd":"resetProc","opArg":{"method":"REQHttpGet"}}', operator)).resolves.toEqual({
      output: 'REQHttpGet on node1 is as configured: off from=config',
    });
    expect(operator.calls).toEqual(['reset REQHttpGet']);
  });

  it("takes steward's kind and receivingNode when they name a subscriber on this node", async () => {
    const operator = fakeOperator();
    const arg = { opCmd: 'stopProc', opArg: { method: 'REQCliCommand', kind: 'subscriber', receivingNode: 'node1' } };
    await run(JSON.stringify(arg), operator);
    expect(operator.calls).toEqual(['stop REQCliCommand']);
  });

  it('refuses a command meant for another node, and changes nothing', async () => {
    const operator = fakeOperator();
    const err = await failure(run('{"opCmd":"stopProc","opArg":{"method":"REQCliCommand","receivingNode":"ship2"}}', operator));
    expect(err.code).toBe('BOSUN_BAD_MESSAGE');
    expect(err.message).toBe('REQOpCommand: opArg.receivingNode is ship2, but this is node1');
    expect(operator.calls).toEqual([]);
  });

  it('will not stop itself', async () => {
    const operator = fakeOperator();
    const err = await failure(run('{"opCmd":"stopProc","opArg":{"method":"REQOpCommand"}}', operator));
    expect(err.code).toBe('BOSUN_BAD_MESSAGE');
    expect(err.message).toBe('REQOpCommand cannot stop itself: the node could no longer be controlled');
    expect(operator.calls).toEqual([]);
  });

  it("passes the operator's refusal on", async () => {
    const err = await failure(run('{"opCmd":"startProc","opArg":{"method":"REQNoSuchMethod"}}', fakeOperator()));
    expect(err.toJSON()).toEqual({ code: 'BOSUN_UNKNOWN_METHOD', message: 'node1 does not know method REQNoSuchMethod' });
  });

  it('says so when there is nothing to list', async () => {
    const operator = fakeOperator();
    operator.table.clear();
    await expect(run('{"opCmd":"ps"}', operator)).resolves.toEqual({ output: 'no method subscribers' });
  });
});

describe('REQOpCommand arguments', () => {
  it.each([
    [undefined, 'methodArgs[0] is missing'],
    ['ps', 'methodArgs[0] is not valid JSON'],
    ['["ps"]', 'methodArgs[0] must be a JSON object'],
    ['{"opCmd":"kill"}', 'opCmd must be "ps", "startProc", "stopProc" or "resetProc", not "kill"'],
    ['{}', 'opCmd must be "ps", "startProc", "stopProc" or "resetProc", not null'],
    ['{"opCmd":"startProc"}', 'startProc needs opArg, an object with "method"'],
    ['{"opCmd":"resetProc","opArg":"REQHttpGet"}', 'resetProc needs opArg, an object with "method"'],
    ['{"opCmd":"startProc","opArg":{"method":"REQHttpGet","allowedNode":["central"]}}', 'startProc takes no opArg.allowedNode; it takes method, allowedNodes, kind, receivingNode, id'],
    ['{"opCmd":"startProc","opArg":{"method":"REQHttpGet","allowedNodes":["central"],"AllowedNodes":["ship1"]}}', 'opArg has "allowedNodes" and "AllowedNodes": they are the same field; give it once'],
    ['{"opCmd":"stopProc","opArg":{"method":"REQHttpGet","allowedNodes":["central"]}}', 'stopProc takes no opArg.allowedNodes; it takes method, kind, receivingNode, id'],
    ['{"opCmd":"resetProc","opArg":{"method":"REQHttpGet","allowedNodes":["central"]}}', 'resetProc takes no opArg.allowedNodes; it takes method, kind, receivingNode, id'],
    ['{"opCmd":"stopProc","opArg":{"method":"REQHttpGet","id":"127"}}', 'opArg.id must be a whole number, not "127"'],
    ['{"opCmd":"stopProc","opArg":{"method":"REQHttpGet","kind":"publisher"}}', 'opArg.kind must be "subscriber" (the only kind bosun controls), not "publisher"'],
    ['{"opCmd":"stopProc","opArg":{"method":"REQHttpGet","receivingNode":"a b"}}', 'opArg.receivingNode must be a node name, not "a b"'],
    ['{"opCmd":"resetProc","opArg":{}}', 'opArg.method must be a method name, not null'],
    ['{"opCmd":"stopProc","opArg":{"method":"no such"}}', 'opArg.method must be a method name, not "no such"'],
    ['{"opCmd":"startProc","opArg":{"method":"REQHttpGet","allowedNodes":[]}}', 'opArg.allowedNodes must be a non-empty array of node names'],
    ['{"opCmd":"startProc","opArg":{"method":"REQHttpGet","allowedNodes":"central"}}', 'opArg.allowedNodes must be a non-empty array of node names'],
  ])('refuses %j', async (arg, expected) => {
    const err = await failure(run(arg, fakeOperator()));
    expect(err.code).toBe('BOSUN_BAD_MESSAGE');
    expect(err.message.startsWith(`REQOpCommand: ${expected}`)).toBe(true);
  });

  it('checks the arguments before asking whether the node offers process control', async () => {
    const err = await failure(run('{"opCmd":"kill"}'));
    expect(err.code).toBe('BOSUN_BAD_MESSAGE');
  });

  it('matches keys without regard to case, as steward\'s Go decoding did, and takes steward\'s process id', () => {
    expect(parseOpCommand('{"OpCmd":"startProc","OPARG":{"Method":"REQHttpGet","allowednodes":["central","node1"]}}')).toEqual({
      opCmd: 'startProc',
      method: 'REQHttpGet',
      allowedNodes: ['central', 'node1'],
    });
    expect(parseOpCommand('{"opCmd":"stopProc","opArg":{"method":"REQHttpGet","kind":"subscriber","receivingNode":"ship2","id":127}}')).toEqual({
      opCmd: 'stopProc',
      method: 'REQHttpGet',
      receivingNode: 'ship2',
    });
  });

  it('parses the four commands', () => {
    expect(parseOpCommand('{"opCmd":"ps"}')).toEqual({ opCmd: 'ps' });
    expect(parseOpCommand('{"opCmd":"stopProc","opArg":{"method":"REQHttpGet","kind":"subscriber"}}')).toEqual({ opCmd: 'stopProc', method: 'REQHttpGet' });
    expect(parseOpCommand('{"opCmd":"startProc","opArg":{"method":"REQHttpGet","allowedNodes":["central"],"receivingNode":"ship1"}}')).toEqual({
      opCmd: 'startProc',
      method: 'REQHttpGet',
      allowedNodes: ['central'],
      receivingNode: 'ship1',
    });
    expect(parseOpCommand('{"opCmd":"resetProc","opArg":{"method":"REQHttpGet"}}')).toEqual({ opCmd: 'resetProc', method: 'REQHttpGet' });
  });
});

describe('REQOpCommand on a node without process control', () => {
  const nodes: BosunNode[] = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop(100)));
  });

  it('lists the subscribers of a running node', async () => {
    const bus = new EmbeddedBus();
    const { method: collect, replies } = replyCollector();
    const central = await startNode({ node: 'central', bus, helloIntervalSeconds: 0, methods: [collect] });
    const ship1 = await startNode({ node: 'ship1', bus, helloIntervalSeconds: 0 });
    nodes.push(central, ship1);
    await central.send({ toNode: 'ship1', method: 'REQOpCommand', methodArgs: ['{"opCmd":"ps"}'], replyMethod: 'REQTestCollect' });
    const end = Date.now() + 10_000;
    while (replies.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    expect(replies[0]?.data).toMatch(/^REQCliCommand idle queued=0 active=0 from=config$/m);
    expect(replies[0]?.fileName).toBe('REQOpCommand.result');
  });
});
