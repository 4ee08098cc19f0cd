import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyAclEdit,
  commandAllowed,
  EMPTY_ACL_CONFIG,
  matchesPattern,
  methodAllowed,
  nodeAclOf,
  parseAclEdit,
  validateAclConfig,
  type AclConfig,
} from '../src/security/acl.ts';

const at = { node: 'ship1', central: 'central' };

function build(...edits: string[][]): AclConfig {
  return edits.reduce((acl, [op, ...args]) => applyAclEdit(acl, parseAclEdit(op as 'add' | 'delete', args)), EMPTY_ACL_CONFIG);
}

describe('command patterns', () => {
  it('match literally, * for one argument, a trailing ** for any rest', () => {
    expect(matchesPattern(['systemctl', 'status', '*'], ['systemctl', 'status', 'nginx'])).toBe(true);
    expect(matchesPattern(['systemctl', 'status', '*'], ['systemctl', 'status'])).toBe(false);
    expect(matchesPattern(['systemctl', 'status', '*'], ['systemctl', 'status', 'a', 'b'])).toBe(false);
    expect(matchesPattern(['systemctl', 'restart', '*'], ['systemctl', 'status', 'nginx'])).toBe(false);
    expect(matchesPattern(['journalctl', '**'], ['journalctl'])).toBe(true);
    expect(matchesPattern(['journalctl', '**'], ['journalctl', '-u', 'x'])).toBe(true);
    expect(matchesPattern(['uptime'], ['uptime', ';', 'rm'])).toBe(false);
  });

  it('a pattern equal to the command matches it; one longer or shorter without wildcards does not', () => {
    const arg = fc.string({ maxLength: 8 }).filter((s) => s !== '*' && s !== '**');
    fc.assert(
      fc.property(fc.array(arg, { minLength: 1, maxLength: 6 }), fc.array(arg, { minLength: 1, maxLength: 3 }), (argv, extra) => {
        expect(matchesPattern(argv, argv)).toBe(true);
        expect(matchesPattern(argv, [...argv, ...extra])).toBe(false);
        expect(matchesPattern([...argv, ...extra], argv)).toBe(false);
        expect(matchesPattern([argv[0]!, '**'], [...argv, ...extra])).toBe(true);
      }),
    );
  });
});

describe('the rules of one node', () => {
  it('by default: central and the node itself send anything and run any command; nobody else', () => {
    const acl = nodeAclOf(EMPTY_ACL_CONFIG, 'ship1');
    for (const sender of ['central', 'ship1']) {
      expect(methodAllowed(acl, at, sender, 'REQCliCommand')).toBe(true);
      expect(commandAllowed(acl, at, sender, ['anything'])).toBe(true);
    }
    expect(methodAllowed(acl, at, 'ship2', 'REQCliCommand')).toBe(false);
    expect(methodAllowed(acl, at, 'ship2', 'REQToFile')).toBe(false);
    expect(commandAllowed(acl, at, 'ship2', ['uptime'])).toBe(false);
  });

  it('expands node and command groups, for the hosts in a group too', () => {
    const config = build(
      ['add', 'nodeGroup', 'grp_web', 'ship1', 'ship3'],
      ['add', 'nodeGroup', 'grp_ops', 'ship2'],
      ['add', 'commandGroup', 'grp_status', 'systemctl', 'status', '*'],
      ['add', 'commandGroup', 'grp_status', 'uptime'],
      ['add', 'command', 'grp_web', 'grp_ops', 'grp_status'],
      ['add', 'command', '*', 'ship4', 'df', '-h'],
      ['add', 'method', 'grp_web', 'REQHttpGet', 'grp_ops'],
    );
    const acl = nodeAclOf(config, 'ship1');
    expect(acl.commands).toEqual({ ship2: [['systemctl', 'status', '*'], ['uptime']], ship4: [['df', '-h']] });
    expect(acl.methods).toEqual({ REQHttpGet: ['ship2'] });
    expect(methodAllowed(acl, at, 'ship2', 'REQHttpGet')).toBe(true);
    expect(methodAllowed(acl, at, 'ship2', 'REQnCliCommandCont')).toBe(true);
    expect(commandAllowed(acl, at, 'ship2', ['systemctl', 'status', 'nginx'])).toBe(true);
    expect(commandAllowed(acl, at, 'ship2', ['systemctl', 'stop', 'nginx'])).toBe(false);
    expect(nodeAclOf(config, 'ship2').commands).toEqual({ ship4: [['df', '-h']] });
  });

  it('never lets a * rule restrict central, and lets a rule naming central do so', () => {
    const wildcard = nodeAclOf(build(['add', 'command', 'ship1', '*', 'uptime']), 'ship1');
    expect(commandAllowed(wildcard, at, 'central', ['reboot'])).toBe(true);
    expect(commandAllowed(wildcard, at, 'ship7', ['uptime'])).toBe(true);
    expect(commandAllowed(wildcard, at, 'ship7', ['reboot'])).toBe(false);
    const named = nodeAclOf(build(['add', 'command', 'ship1', 'central', 'uptime']), 'ship1');
    expect(commandAllowed(named, at, 'central', ['reboot'])).toBe(false);
  });

  it('deletes rules, senders and groups', () => {
    let config = build(['add', 'command', 'ship1', 'ship2', 'uptime'], ['add', 'command', 'ship1', 'ship2', 'df'], ['add', 'nodeGroup', 'grp_x', 'a', 'b']);
    config = applyAclEdit(config, parseAclEdit('delete', ['command', 'ship1', 'ship2', 'uptime']));
    expect(config.commands).toEqual({ ship1: { ship2: [['df']] } });
    config = applyAclEdit(config, parseAclEdit('delete', ['command', 'ship1', 'ship2']));
    expect(config.commands).toEqual({});
    config = applyAclEdit(config, parseAclEdit('delete', ['nodeGroup', 'grp_x', 'a']));
    expect(config.nodeGroups).toEqual({ grp_x: ['b'] });
    config = applyAclEdit(config, parseAclEdit('delete', ['nodeGroup', 'grp_x']));
    expect(config.nodeGroups).toEqual({});
  });
});

describe('ACL input', () => {
  it('refuses malformed edits and imports with a reason', () => {
    expect(() => parseAclEdit('add', ['command', 'ship1'])).toThrow(/needs a SENDER/);
    expect(() => parseAclEdit('add', ['command', 'ship1', 'ship2'])).toThrow(/needs the command/);
    expect(() => parseAclEdit('add', ['nodeGroup', 'ops', 'ship1'])).toThrow(/not a group name/);
    expect(() => parseAclEdit('add', ['commandGroup', 'grp_x', '**', 'a'])).toThrow(/last element/);
    expect(() => parseAclEdit('add', ['bogus'])).toThrow(/command, method, nodeGroup or commandGroup/);
    expect(() => validateAclConfig({ commands: { ship1: { ship2: ['ls'] } } })).toThrow(/neither a command/);
    expect(() => validateAclConfig({ methods: { 'a b': {} } })).toThrow(/not a host/);
    expect(() => validateAclConfig([])).toThrow(/must be an object/);
  });

  it('round-trips an export through an import', () => {
    const config = build(['add', 'nodeGroup', 'grp_ops', 'ship2'], ['add', 'command', 'ship1', 'grp_ops', 'uptime'], ['add', 'method', '*', 'REQPing', '*']);
    expect(validateAclConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
  });
});
