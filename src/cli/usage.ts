/** Help texts, one per command; `bosun help COMMAND` and `bosun COMMAND --help` print them. */

export const MAIN_USAGE = `bosun: command a fleet of nodes by message passing

Usage:
  bosun start --node NAME [options]                   run a node (the daemon)
  bosun send [--node NAME | --data-dir DIR] FILE|-    hand messages to a running node
  bosun tree [--node NAME | --data-dir DIR] [--json]  show a running node's actors
  bosun help [COMMAND]                                this help, or a command's
  bosun --version

Run "bosun COMMAND --help" for a command's options.
`;

const WHICH_DAEMON = `  --node NAME       the daemon started with --node NAME (data dir ./.bosun/NAME)
  --data-dir DIR    the daemon's data dir
  Without either: $BOSUN_DATA_DIR, else ./.bosun/$BOSUN_NODE.`;

export const COMMAND_USAGE: Record<string, string> = {
  start: `Usage: bosun start --node NAME [options]

Runs a node: takes messages on <data-dir>/bosun.sock, shows its state on
<data-dir>/debug.sock, logs JSON lines to stdout. SIGTERM or SIGINT stops it cleanly.

Options:
  --node NAME            this node's name: letters, digits, "-" and "_" (required)
  --data-dir DIR         where the node keeps its database, results and sockets
                         (default ./.bosun/NAME)
  --nats URL             NATS server(s), comma-separated (nats://host:4222); without
                         it, nodes talk over the in-process bus of this one daemon
  --central NAME         the node that collects hellos and error logs (default central)
  --hello-interval S     seconds between hellos to central; 0 turns them off (default 30)
  --log-level LEVEL      fatal, error, warn, info, debug, trace or silent (default info)
  --config FILE          a JSON object with the same keys ("node", "data-dir", "nats",
                         "central", "hello-interval", "log-level"); a relative data-dir
                         is taken from the file's folder
  -h, --help             this help

Settings are taken from, lowest first: the config file, the environment
(BOSUN_NODE, BOSUN_DATA_DIR, BOSUN_NATS, BOSUN_CENTRAL), the command line.
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
  help: `Usage: bosun help [COMMAND]

Shows bosun's usage, or a command's.
`,
};
