import { BosunError } from '../errors.ts';
import type { MethodContext, MethodSpec } from '../methods/types.ts';
import { parseAclEdit, type AclConfig } from './acl.ts';
import { canonicalJson } from './canonical.ts';
import type { AclChange, CentralAuthority } from './CentralAuthority.ts';
import { documentHash } from './documents.ts';
import { presentedKey } from './Guard.ts';
import type { NodeTrust } from './NodeTrust.ts';

/**
 * The security methods. Central serves the operator's key and ACL management (sent by
 * central to itself: `bosun keys …`), answers nodes' update requests, and pushes signed
 * updates after every change. Every other node serves the two update methods.
 * Who may send which is the guard's business (`ADMIN_METHODS`, `UPDATE_METHODS`).
 */
export function centralMethods(authority: CentralAuthority): MethodSpec[] {
  const pushKeys = async (ctx: MethodContext, nodes: string[]) => {
    const data = JSON.stringify(authority.keySetDocument());
    for (const node of nodes) await ctx.send({ toNode: node, method: 'REQKeysUpdate', data, replyMethod: 'none' });
  };
  const pushAcl = async (ctx: MethodContext, nodes: string[]) => {
    for (const node of nodes) {
      await ctx.send({ toNode: node, method: 'REQAclUpdate', data: JSON.stringify(authority.nodeAclDocument(node)), replyMethod: 'none' });
    }
  };
  const admin = (name: string, summary: string, handler: MethodSpec['handler']): MethodSpec => ({ name, summary, idempotent: true, handler });
  return [
    admin('REQKeysList', 'Central: allowed and pending node keys with fingerprints (JSON).', async () => ({
      output: JSON.stringify(authority.list(), null, 2),
    })),
    admin('REQKeysAllow', 'Central: allow the pending keys of methodArgs NODE[=FINGERPRINT]…, and push the key set.', async (ctx) => {
      const done = await authority.allow(ctx.message.methodArgs);
      const allowed = authority.allowedNodes();
      await pushKeys(ctx, allowed);
      // A newly allowed node gets its rules at once, not only at its next request.
      const fresh = ctx.message.methodArgs.map((a) => a.split('=')[0]!).filter((n) => allowed.includes(n));
      await pushAcl(ctx, fresh);
      return { output: done.join('\n') };
    }),
    admin('REQKeysRevoke', 'Central: revoke the keys of methodArgs NODE…, and push the key set.', async (ctx) => {
      const done = await authority.revoke(ctx.message.methodArgs);
      await pushKeys(ctx, authority.allowedNodes());
      return { output: done.join('\n') };
    }),
    {
      name: 'REQKeysRequestUpdate',
      summary: "Central: a node's key-set hash; an allowed node whose hash differs gets the key set.",
      idempotent: true,
      replies: false,
      async handler(ctx) {
        const { fromNode, data } = ctx.message;
        const request = parseRequest(data);
        const key = presentedKey(data);
        if (authority.keyFor(fromNode) === undefined || (key !== undefined && key !== authority.keyFor(fromNode))) return {};
        if (request.hash !== documentHash(authority.keySetDocument())) await pushKeys(ctx, [fromNode]);
        return {};
      },
    },
    admin('REQAclAdd', 'Central: add an ACL rule: methodArgs command|method|nodeGroup|commandGroup …', async (ctx) => {
      const change = await authority.editAcl(parseAclEdit('add', ctx.message.methodArgs));
      await pushAcl(ctx, change.nodes);
      return { output: describeChange('ACL changed', change) };
    }),
    admin('REQAclDelete', 'Central: delete an ACL rule: methodArgs command|method|nodeGroup|commandGroup …', async (ctx) => {
      const change = await authority.editAcl(parseAclEdit('delete', ctx.message.methodArgs));
      await pushAcl(ctx, change.nodes);
      return { output: describeChange('ACL changed', change) };
    }),
    admin('REQAclPush', 'Central: send the current rules now to methodArgs NODE… (every allowed node without).', async (ctx) => {
      const allowed = authority.allowedNodes();
      const nodes = ctx.message.methodArgs.length > 0 ? [...new Set(ctx.message.methodArgs)] : allowed;
      const unknown = nodes.find((n) => !allowed.includes(n));
      if (unknown !== undefined) {
        throw new BosunError('BOSUN_UNKNOWN_KEY', `${unknown} is not an allowed node (central itself needs no push); nothing was sent`);
      }
      await pushAcl(ctx, nodes);
      return { output: nodes.length ? `rules sent to ${nodes.length} node(s): ${nodes.join(', ')}` : 'no allowed node to send rules to' };
    }),
    admin('REQAclList', 'Central: the ACL, one rule a line.', async () => ({ output: formatAcl(authority.aclConfig()) })),
    admin('REQAclExport', 'Central: the ACL with its groups, as JSON for REQAclImport.', async () => ({
      output: JSON.stringify(JSON.parse(canonicalJson(authority.aclConfig())), null, 2),
    })),
    admin('REQAclImport', 'Central: replace the ACL with the JSON in data (as REQAclExport gives it).', async (ctx) => {
      let value: unknown;
      try {
        value = JSON.parse(ctx.message.data ?? '');
      } catch {
        throw new BosunError('BOSUN_BAD_MESSAGE', 'REQAclImport needs the ACL as JSON in data; nothing changed');
      }
      const change = await authority.importAcl(value);
      await pushAcl(ctx, change.nodes);
      return { output: describeChange('ACL imported', change) };
    }),
    {
      name: 'REQAclRequestUpdate',
      summary: "Central: a node's ACL hash; an allowed node whose hash differs gets its rules.",
      idempotent: true,
      replies: false,
      async handler(ctx) {
        const { fromNode, data } = ctx.message;
        if (authority.keyFor(fromNode) === undefined) return {};
        if (parseRequest(data).hash !== documentHash(authority.nodeAclDocument(fromNode))) await pushAcl(ctx, [fromNode]);
        return {};
      },
    },
  ];
}

export function nodeMethods(trust: NodeTrust): MethodSpec[] {
  return [
    {
      name: 'REQKeysUpdate',
      summary: 'The key set, signed by central; applied only if valid and not older than the one held.',
      idempotent: true,
      replies: false,
      async handler(ctx) {
        const applied = await trust.applyKeys(ctx.message.data);
        ctx.log.info(applied);
        return {};
      },
    },
    {
      name: 'REQAclUpdate',
      summary: "This node's ACL, signed by central; applied only if valid and not older than the one held.",
      idempotent: true,
      replies: false,
      async handler(ctx) {
        const applied = await trust.applyAcl(ctx.message.data);
        ctx.log.info(applied);
        return {};
      },
    },
  ];
}

function describeChange(what: string, change: AclChange): string {
  if (!change.changed) return 'the ACL already was so; nothing changed';
  const { nodes } = change;
  return `${what}; rules updated on ${nodes.length} node(s)${nodes.length ? `: ${nodes.join(', ')}` : ''}`;
}

function parseRequest(data: string | undefined): { hash: string } {
  try {
    const value = JSON.parse(data ?? '') as { hash?: unknown };
    return { hash: typeof value?.hash === 'string' ? value.hash : '' };
  } catch {
    return { hash: '' };
  }
}

/** The ACL for people: one rule a line. */
export function formatAcl(acl: AclConfig): string {
  const lines: string[] = [];
  for (const [group, nodes] of Object.entries(acl.nodeGroups)) lines.push(`nodeGroup ${group}: ${nodes.join(' ')}`);
  for (const [group, patterns] of Object.entries(acl.commandGroups)) {
    for (const p of patterns) lines.push(`commandGroup ${group}: ${JSON.stringify(p)}`);
  }
  for (const [host, methods] of Object.entries(acl.methods)) {
    for (const [method, senders] of Object.entries(methods)) lines.push(`method on ${host}: ${method} from ${senders.join(' ')}`);
  }
  for (const [host, senders] of Object.entries(acl.commands)) {
    for (const [sender, items] of Object.entries(senders)) {
      for (const item of items) lines.push(`command on ${host} from ${sender}: ${typeof item === 'string' ? item : JSON.stringify(item)}`);
    }
  }
  return lines.length ? lines.join('\n') : '(no rules: central and each node itself may send every method and run every command)';
}
