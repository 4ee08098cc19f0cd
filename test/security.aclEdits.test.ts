import { describe, expect, it } from 'vitest';
import { applyAclEdit, EMPTY_ACL_CONFIG, parseAclEdit, type AclConfig } from '../src/security/acl.ts';

/** ACL edits that would do nothing, or leave a rule naming a missing group, are refused. */

function edit(config: AclConfig, op: 'add' | 'delete', ...args: string[]): AclConfig {
  return applyAclEdit(config, parseAclEdit(op, args));
}

const withGroups = [
  ['nodeGroup', 'grp_ops', 'ship2'],
  ['commandGroup', 'grp_status', 'uptime'],
  ['command', 'ship1', 'grp_ops', 'grp_status'],
].reduce((acl, args) => edit(acl, 'add', ...args), EMPTY_ACL_CONFIG);

describe('ACL edits', () => {
  it.each([
    [['command', 'ship1', 'grp_nope', 'uptime'], /grp_nope is no node group: make it first/],
    [['command', 'grp_nope', 'ship2', 'uptime'], /grp_nope is no node group/],
    [['command', 'ship1', 'ship2', 'grp_nostatus'], /grp_nostatus is no command group: make it first/],
    [['method', 'ship1', 'REQHttpGet', 'grp_nope'], /grp_nope is no node group/],
  ])('refuses to add %j, which names a group that does not exist', (args, reason) => {
    expect(() => edit(withGroups, 'add', ...args)).toThrow(expect.objectContaining({ code: 'BOSUN_NOT_FOUND', message: expect.stringMatching(reason) }));
  });

  it.each([
    [['nodeGroup', 'grp_ops']],
    [['nodeGroup', 'grp_ops', 'ship2']],
    [['commandGroup', 'grp_status']],
  ])('refuses to delete %j while a rule names the group', (args) => {
    expect(() => edit(withGroups, 'delete', ...args)).toThrow(/is still used \(command ship1 grp_ops( grp_status)?\): delete those rules first; nothing changed$/);
  });

  it.each([
    [['nodeGroup', 'grp_nope']],
    [['nodeGroup', 'grp_ops', 'ship9']],
    [['command', 'ship1', 'ship2']],
    [['command', 'ship1', 'grp_ops', 'df']],
    [['method', 'ship1', 'REQHttpGet']],
  ])('refuses to delete %j, which is not there', (args) => {
    expect(() => edit(withGroups, 'delete', ...args)).toThrow(/^nothing to delete: .* is not in the ACL$/);
  });

  it('deletes a group once no rule names it', () => {
    let acl = edit(withGroups, 'delete', 'command', 'ship1', 'grp_ops');
    acl = edit(acl, 'delete', 'nodeGroup', 'grp_ops');
    acl = edit(acl, 'delete', 'commandGroup', 'grp_status', 'uptime');
    expect(acl).toEqual(EMPTY_ACL_CONFIG);
  });
});
