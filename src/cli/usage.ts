import { formatKeysHelp } from '../config/help.ts';
import { ACL_USAGE } from './acl.ts';
import { KEYS_USAGE } from './keys.ts';
import { NATS_CONFIG_USAGE } from './natsConfig.ts';
import { OPERATE_USAGE } from './operate.ts';
import { RESPONSES_USAGE } from './responses.ts';

/** Help texts, one per command; `bosun help COMMAND` and `bosun COMMAND --help` print them. */

export const MAIN_USAGE = `bosun: command a fleet of nodes by message passing

Usage:
  bosun start --node NAME [options]                   run a node (the daemon)
  bosun send [--node NAME | --data-dir DIR] FILE|-    hand messages to a running node
  bosun tree [--node NAME | --data-dir DIR] [--json]  show a running node's actors
  bosun config show [settings]                        the settings bosun start would use
  bosun queue ls|rm …                                 messages still to deliver; withdraw some
  bosun dead ls|resend|purge …                        messages that ran out of retries
  bosun audit [--since D] [--id ID] …                 what a node ran, and how it ended
  bosun status ID                                     what became of one message
  bosun nodes                                         on central: the nodes and their capabilities
  bosun copy ls                                       copies in progress, with their percentage
  bosun keys ls|allow|revoke|show …                   signing keys (with --secure)
  bosun acl ls|add|rm|export|import|push …            on central: who may send what (with --secure)
  bosun nats-config …                                 a nats-server config confining each node
  bosun responses [--follow] …                        replies of receptor nodes, from a gateway
  bosun help [COMMAND]                                this help, or a command's
  bosun --version

Run "bosun COMMAND --help" for a command's options.
`;

const WHICH_DAEMON = `  --node NAME       the daemon started with --node NAME (data dir ./.bosun/NAME)
  --data-dir DIR    the daemon's data dir
  Without either: $BOSUN_DATA_DIR, else ./.bosun/$BOSUN_NODE.`;

export const COMMAND_USAGE: Record<string, string> = {
  start: `Usage: bosun start --node NAME [settings]

Runs a node: takes messages on <data-dir>/bosun.sock (and TCP, HTTP and the input file
<data-dir>/inmsg.txt as configured), accepts the messages in <config-dir>/startup/*.json
at every start, shows its state on <data-dir>/debug.sock, logs JSON lines to stdout.
SIGTERM or SIGINT stops it cleanly.

Settings: each is a flag (--KEY VALUE), an environment variable, or "KEY" in the config
file (a JSON object). From lowest to highest: default, config file, environment, flag.
Flags are saved to the config file, so they become the next start's defaults (delete
the file to go back to the defaults); secrets (names with seed, creds, psk, key,
password or token) are never saved, nor are listeners and allow-lists (tcp-listen,
http-listen, gateway-listen, http-allowed-origins, http-allowed-hosts): those apply to
the start they are given to only. Booleans are true/false, 1/0, yes/no or on/off.
An empty environment variable counts as unset. "bosun config show" prints the settings
in effect and where each came from.

${formatKeysHelp()}
  -h, --help   this help
`,
  config: `Usage: bosun config show [--json] [settings]

Prints the settings "bosun start" would run with, given the same settings, environment
and config file: each key, its value (secrets masked) and where it came from (default,
file, env or flag). Writes nothing. Takes every setting of "bosun start".

Options:
  --json       one JSON line: {"file", "fileExists", "settings": [{key, shown, source, origin}]}
  -h, --help   this help
`,
  send: `Usage: bosun send [--node NAME | --data-dir DIR] FILE|-

Sends the JSON messages in FILE (or stdin, for "-") to a running daemon: one message
object, or an array of them, or several. Prints one JSON line per message: its id when
accepted, or the error. Exits 1 if any message was refused, 2 if no daemon answers.

Options:
${WHICH_DAEMON}
  -h, --help        this help
`,
  tree: `Usage: bosun tree [--node NAME | --data-dir DIR] [--json]

Shows a running daemon's tree of actors: each with its kind, state, restart count and
details.

Options:
${WHICH_DAEMON}
  --json            print the tree as one JSON line
  -h, --help        this help
`,
  ...OPERATE_USAGE,
  keys: KEYS_USAGE,
  acl: ACL_USAGE,
  'nats-config': NATS_CONFIG_USAGE,
  responses: RESPONSES_USAGE,
  help: `Usage: bosun help [COMMAND]

Shows bosun's usage, or a command's.
`,
};
