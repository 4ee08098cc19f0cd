import pino, { type Logger } from 'pino';
import { BosunError, describeError } from '../errors.ts';
import { startDebugSocket, type DebugSocket } from '../inputs/debugSocket.ts';
import { startSocketInput, type SocketInput } from '../inputs/socketInput.ts';
import type { BosunNode } from '../runtime/Node.ts';
import { startNode } from '../runtime/startNode.ts';
import { parseCommandArgs } from './args.ts';
import { readConfigFile, resolveStartConfig, START_KEYS, type StartConfig } from './config.ts';
import type { CliIo } from './io.ts';

/** How long a stop may take before the daemon exits regardless (below systemd's 90 s default). */
export const HARD_EXIT_MS = 20_000;
/** How long running handlers get to finish on stop. */
const STOP_GRACE_MS = 10_000;

type Flags = Partial<Record<(typeof START_KEYS)[number], string>>;

/**
 * `bosun start`: runs one node until SIGTERM or SIGINT. Resolves with the exit code once
 * the node has stopped: 0 after a clean stop, 1 after a failure. Bad settings throw a
 * `BOSUN_BAD_CONFIG` error before anything starts.
 */
export async function runStart(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('start', args, {
    node: { type: 'string' },
    'data-dir': { type: 'string' },
    nats: { type: 'string' },
    central: { type: 'string' },
    config: { type: 'string' },
    'hello-interval': { type: 'string' },
    'log-level': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return io.help('start');
  const { config: configFile, help: _help, ...flags } = values;
  const config = resolveStartConfig({
    flags: flags as Flags,
    env: io.env,
    cwd: io.cwd,
    ...(configFile !== undefined ? { file: await readConfigFile(configFile, io.cwd) } : {}),
  });
  const log = pino({ level: config.logLevel }, pino.destination({ dest: 1, sync: true }));
  return new Daemon(config, log, io).run();
}

/** The daemon's life: start, serve, and one orderly stop, whatever asks for it. */
class Daemon {
  #node: BosunNode | undefined;
  #inputs: Array<SocketInput | DebugSocket> = [];
  #stopRequested: ((signal: string) => void) | undefined;
  #signals = 0;

  constructor(
    private readonly config: StartConfig,
    private readonly log: Logger,
    private readonly io: CliIo,
  ) {}

  async run(): Promise<number> {
    const stopSignal = new Promise<string>((resolve) => (this.#stopRequested = resolve));
    const onSignal = (signal: NodeJS.Signals): void => this.#onSignal(signal);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    process.on('uncaughtException', (err) => this.#crash(err, 'uncaught exception'));
    process.on('unhandledRejection', (err) => this.#crash(err, 'unhandled rejection'));

    try {
      await this.#start();
    } catch (err) {
      this.#logFailure(err, 'node could not start');
      // Said on stderr as well: whoever typed the command should not need to read JSON.
      this.io.stderr.write(`bosun: node ${this.config.node} could not start: ${describeError(err).message}\n`);
      await this.#shutdown().catch(() => {});
      return err instanceof BosunError && err.code === 'BOSUN_BAD_CONFIG' ? 2 : 1;
    }
    const signal = await stopSignal;
    this.log.info({ signal }, 'stopping');
    try {
      await this.#shutdown();
    } catch (err) {
      this.#logFailure(err, 'node did not stop cleanly');
      return 1;
    }
    this.log.info('stopped');
    return 0;
  }

  /**
   * The message socket opens before the node: a daemon already running on this data dir
   * is found before its store is touched, and once the node logs that it started, the
   * socket takes messages (a client that connects earlier waits for the node).
   */
  async #start(): Promise<void> {
    const { config } = this;
    let nodeUp!: (node: BosunNode) => void;
    let nodeFailed!: (err: unknown) => void;
    const starting = new Promise<BosunNode>((resolve, reject) => {
      nodeUp = resolve;
      nodeFailed = reject;
    });
    starting.catch(() => {}); // a failed start is reported by run(), not as a rejection here
    const input = await startSocketInput(
      { accept: async (value) => (await starting).accept(value) },
      { dataDir: config.dataDir, log: this.log.child({ node: config.node }) },
    );
    this.#inputs.push(input);
    let node: BosunNode;
    try {
      node = await startNode({
        node: config.node,
        dataDir: config.dataDir,
        ...(config.nats ? { nats: { servers: config.nats } } : {}),
        ...(config.central !== undefined ? { central: config.central } : {}),
        ...(config.helloIntervalSeconds !== undefined ? { helloIntervalSeconds: config.helloIntervalSeconds } : {}),
        logger: this.log,
      });
    } catch (err) {
      nodeFailed(new BosunError('BOSUN_NODE_STOPPING', `node ${config.node} could not start: ${describeError(err).message}`));
      throw err;
    }
    this.#node = node;
    nodeUp(node);
    // A signal during start-up stops the node as soon as it is up.
    if (this.#signals > 0) return;
    const debug = await startDebugSocket(node, { dataDir: config.dataDir, log: node.log });
    this.#inputs.push(debug);
    this.log.info(
      {
        node: config.node,
        dataDir: config.dataDir,
        socket: input.socketPath,
        debugSocket: debug.socketPath,
        transport: node.transport.kind,
        ...(config.nats ? { nats: config.nats } : {}),
      },
      'node started',
    );
  }

  /** Inputs first, so nothing new arrives, then the node itself. */
  async #shutdown(): Promise<void> {
    const inputs = this.#inputs;
    this.#inputs = [];
    await Promise.all(inputs.map((i) => i.close()));
    await this.#node?.stop(STOP_GRACE_MS);
  }

  #onSignal(signal: NodeJS.Signals): void {
    this.#signals++;
    if (this.#signals > 1) {
      this.log.warn({ signal }, 'second signal: exiting at once, without a clean stop');
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    }
    setTimeout(() => {
      this.log.error({ timeoutMs: HARD_EXIT_MS }, 'stop took too long; exiting without a clean stop');
      process.exit(1);
    }, HARD_EXIT_MS).unref();
    this.#stopRequested?.(signal);
  }

  #crash(err: unknown, what: string): void {
    this.#logFailure(err, what);
    process.exit(1);
  }

  /** Errors bosun knows are one line with their code; anything else is a bug, with its stack. */
  #logFailure(err: unknown, what: string): void {
    if (err instanceof BosunError) this.log.fatal({ code: err.code }, `${what}: ${err.message}`);
    else this.log.fatal({ err, ...describeError(err) }, `${what}: ${describeError(err).message}`);
  }
}
