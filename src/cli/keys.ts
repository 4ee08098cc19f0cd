import path from 'node:path';
import { BosunError } from '../errors.ts';
import { fingerprintOf, PUBLIC_KEY_FILE, readPublicKeyFile } from '../security/keys.ts';
import type { KeyListing } from '../security/CentralAuthority.ts';
import { answerTimeoutMs, parseCommandArgs, UsageError } from './args.ts';
import { askDaemon, daemonAddress, printRefusal } from './daemonClient.ts';
import type { CliIo } from './io.ts';
import { formatTable } from './table.ts';

export const KEYS_USAGE = `Usage: bosun keys COMMAND [options]

Node keys. Every node signs what it sends with its own ed25519 key (made at its first
secure start in <data-dir>/keys); central learns a node's key from its hello and keeps
it pending until an operator allows it. Run ls, allow and revoke on central.

Commands:
  ls                          allowed and pending keys, with fingerprints
  allow NODE[=FINGERPRINT]…   allow the pending keys of these nodes; with a fingerprint,
                              only if the pending key has it (compare with "keys show"
                              on the node: that is what makes the key the node's)
  revoke NODE…                remove these nodes' keys: their messages are refused
  show                        this node's own key and fingerprint (no daemon needed)

Options:
  --node NAME       the daemon started with --node NAME (data dir ./.bosun/NAME)
  --data-dir DIR    the daemon's data dir
  --key-dir DIR     show: the key folder (default <data-dir>/keys)
  --json            ls: the listing as JSON
  --timeout SECS    how long to wait for central's answer (default 10)
  -h, --help        this help
`;

/** `bosun keys …`: exit 0 done, 1 refused or failed, 2 called wrongly or no daemon. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  try {
    return await keys(argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`bosun: ${err.message}\n\n${KEYS_USAGE}`);
      return 2;
    }
    if (err instanceof BosunError) {
      io.stderr.write(`bosun: ${err.message}\n`);
      return err.code === 'BOSUN_DAEMON_UNREACHABLE' || err.code === 'BOSUN_BAD_CONFIG' ? 2 : 1;
    }
    throw err;
  }
}

async function keys(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'keys',
    argv,
    {
      'data-dir': { type: 'string' },
      node: { type: 'string' },
      'key-dir': { type: 'string' },
      json: { type: 'boolean' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) {
    io.stdout.write(KEYS_USAGE);
    return 0;
  }
  const [command, ...nodes] = positionals;
  const timeoutMs = answerTimeoutMs(values.timeout, 'keys');
  switch (command) {
    case 'show': {
      const keyDir =
        values['key-dir'] !== undefined ? path.resolve(io.cwd, values['key-dir']) : path.join(daemonAddress('keys', values, io.env, io.cwd).dataDir, 'keys');
      const key = await readPublicKeyFile(path.join(keyDir, PUBLIC_KEY_FILE));
      io.stdout.write(`${fingerprintOf(key)}\n${key}\n`);
      return 0;
    }
    case 'ls': {
      if (nodes.length > 0) throw new UsageError('keys ls takes no arguments', 'keys');
      const answer = await askDaemon(daemonAddress('keys', values, io.env, io.cwd), { method: 'REQKeysList' }, timeoutMs);
      if (!answer.ok) return printRefusal(io, answer.text, 'key management');
      io.stdout.write(values.json ? answer.text.trimEnd() + '\n' : formatListing(JSON.parse(answer.text) as KeyListing));
      return 0;
    }
    case 'allow':
    case 'revoke': {
      if (nodes.length === 0) throw new UsageError(`say which nodes to ${command}`, 'keys');
      const method = command === 'allow' ? 'REQKeysAllow' : 'REQKeysRevoke';
      const answer = await askDaemon(daemonAddress('keys', values, io.env, io.cwd), { method, methodArgs: nodes }, timeoutMs);
      if (!answer.ok) return printRefusal(io, answer.text, 'key management');
      io.stdout.write(answer.text.trimEnd() + '\n');
      return 0;
    }
    case undefined:
      throw new UsageError('say what to do: ls, allow, revoke or show', 'keys');
    default:
      throw new UsageError(`unknown keys command "${command}"`, 'keys');
  }
}

function formatListing(listing: KeyListing): string {
  const rows: string[][] = [['STATE', 'NODE', 'FINGERPRINT', 'SEEN']];
  for (const k of listing.allowed) rows.push(['allowed', k.node, k.fingerprint, '']);
  for (const k of listing.pending) {
    rows.push([k.replacesAllowedKey ? 'pending (new key)' : 'pending', k.node, k.fingerprint, `${k.firstSeen} … ${k.lastSeen}`]);
  }
  return `${formatTable(rows)}key set ${listing.serial}, hash ${listing.hash.slice(0, 16)}\n`;
}
