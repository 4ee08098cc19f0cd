import path from 'node:path';
import pino, { type Logger } from 'pino';
import { METHOD_SWITCH_KEYS } from '../config/keys.ts';
import { loadConfig, type LoadedConfig } from '../config/load.ts';
import type { StartConfig } from '../config/resolve.ts';
import { saveFlagsToConfigFile } from '../config/writeBack.ts';
import { BosunError, describeError } from '../errors.ts';
import { startDebugSocket } from '../inputs/debugSocket.ts';
import { startFileInput } from '../inputs/fileInput.ts';
import { startHttpInput, type DaemonStatus, type HttpInput } from '../inputs/httpInput.ts';
import type { AcceptingNode } from '../inputs/messageInput.ts';
import { startSocketInput } from '../inputs/socketInput.ts';
import { acceptStartupFolder, STARTUP_FOLDER } from '../inputs/startupFolder.ts';
import { formatAddress } from '../inputs/tcpListen.ts';
import { startTcpInput } from '../inputs/tcpInput.ts';
import { InputBudget, type InputLimits } from '../inputs/inputBudget.ts';
import { InputToken } from '../inputs/inputToken.ts';
import { secureDataDir, tightenPrivateFiles } from '../runtime/dataDir.ts';
import type { BosunNode } from '../runtime/Node.ts';
import { defaultBus, startNode } from '../runtime/startNode.ts';
import { createSecurity, type Security } from '../security/createSecurity.ts';
import { startReceptorGateway } from '../gateway/index.ts';
import { LevelStore } from '../store/LevelStore.ts';
import { NatsTransport } from '../transport/NatsTransport.ts';
import { RoutedTransport } from '../transport/RoutedTransport.ts';
import type { Transport } from '../transport/types.ts';
import { WsGateway } from '../transport/WsGateway.ts';
import { warnWhileUnreachable } from '../transport/unreachableWarning.ts';
import { WsTransport } from '../transport/WsTransport.ts';
import { parseCommandArgs } from './args.ts';
import { settingFlags, settingOptions } from './config.ts';
import type { CliIo } from './io.ts';

/** How long a stop may take before the daemon exits regardless (below systemd's 90 s default). */
export const HARD_EXIT_MS = 20_000;
/** How long running handlers get to finish on stop. */
const STOP_GRACE_MS = 10_000;

/**
 * `bosun start`: runs one node until SIGTERM or SIGINT. Resolves with the exit code once
 * the node has stopped: 0 after a clean stop, 1 after a failure, 2 for bad settings.
 * Settings that cannot be read throw a `BOSUN_BAD_CONFIG` error before anything starts.
 */
export async function runStart(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('start', args, { ...settingOptions(), help: { type: 'boolean', short: 'h' } });
  if (values.help) return io.help('start');
  const loaded = await loadConfig({ flags: settingFlags(values), env: io.env, cwd: io.cwd });
  const log = pino({ level: loaded.config.logLevel }, pino.destination({ dest: 1, sync: true }));
  return new Daemon(loaded, log, io).run();
}

/** Anything the daemon opened that must be closed on stop. */
interface Closable {
  close(): Promise<void>;
}

/** The daemon's life: start, serve, and one orderly stop, whatever asks for it. */
class Daemon {
  readonly #config: StartConfig;
  #node: BosunNode | undefined;
  #inputs: Closable[] = [];
  /** Closed last, so health checks see the drain. */
  #http: HttpInput | undefined;
  #draining = false;
  /** Set when the supervision tree gave up: the daemon exits 1 so its service manager restarts it. */
  #fatal = false;
  #store: LevelStore | undefined;
  /** Closed before the node stops: the key sync and the gateway's listeners. */
  #closers: Closable[] = [];
  #gatewayAddress: string | undefined;
  /** The NATS link, when there is one: watched so an unreachable broker is said. */
  #nats: NatsTransport | undefined;
  #stopRequested: ((signal: string) => void) | undefined;
  #signals = 0;

  constructor(
    private readonly loaded: LoadedConfig,
    private readonly log: Logger,
    private readonly io: CliIo,
  ) {
    this.#config = loaded.config;
  }

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
      this.io.stderr.write(`bosun: node ${this.#config.node} could not start: ${describeError(err).message}\n`);
      await this.#shutdown().catch(() => {});
      return err instanceof BosunError && (err.code === 'BOSUN_BAD_CONFIG' || err.code === 'BOSUN_UNSAFE_DATA_DIR') ? 2 : 1;
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
    return this.#fatal ? 1 : 0;
  }

  /** What health checks report. */
  #status(): DaemonStatus {
    if (this.#draining) return 'draining';
    if (!this.#node) return 'starting';
    return this.#node.status;
  }

  /**
   * The listening inputs open before the node: a daemon already running on this data dir,
   * or a port in use, is found before the store is touched; and once the node logs that
   * it started, they take messages (a client that comes earlier waits for the node).
   * The startup folder and the input file follow once the node is up.
   */
  async #start(): Promise<void> {
    const config = this.#config;
    const log = this.log.child({ node: config.node });
    let nodeUp!: (node: BosunNode) => void;
    let nodeFailed!: (err: unknown) => void;
    const starting = new Promise<BosunNode>((resolve, reject) => {
      nodeUp = resolve;
      nodeFailed = reject;
    });
    starting.catch(() => {}); // a failed start is reported by run(), not as a rejection here
    const waitingNode: AcceptingNode = { accept: async (value) => (await starting).accept(value) };

    await secureDataDir(config.dataDir);
    // One budget for every input together: many clients each under a value's cap add up.
    const limits: InputLimits = {
      budget: new InputBudget(config.inputMemoryBudgetBytes),
      maxConnections: config.inputMaxConnections,
      idleMs: config.inputIdleSeconds * 1000,
    };
    const token = config.tcpListen || config.httpListen ? await InputToken.load(config.dataDir, config.httpTokenFile) : undefined;
    const socket = await startSocketInput(waitingNode, { dataDir: config.dataDir, log, limits });
    this.#inputs.push(socket);
    const tcp = config.tcpListen && token ? await startTcpInput(waitingNode, { listen: config.tcpListen, token, limits, log }) : undefined;
    if (tcp) this.#inputs.push(tcp);
    if (config.httpListen && token) {
      const access = { token, allowedOrigins: config.httpAllowedOrigins, allowedHosts: config.httpAllowedHosts };
      this.#http = await startHttpInput(waitingNode, { listen: config.httpListen, access, limits, log, status: () => this.#status() });
    }

    let node: BosunNode;
    try {
      const store = new LevelStore(path.join(config.dataDir, 'db'));
      await store.open();
      this.#store = store;
      const security = config.secure
        ? await createSecurity({
            node: config.node,
            central: config.central,
            keyDir: config.signingDir,
            store,
            ttlSeconds: config.messageTtlSeconds,
            ...(config.trustCentral ? { centralKeyFile: config.trustCentral } : {}),
          })
        : undefined;
      // LevelDB and the key pair made their first files just now, with the umask's mode.
      await tightenPrivateFiles(config.dataDir);
      // the error kernel is the node's, which starts after the gateway is made
      let reportRefusal: ((code: string, message: string) => void) | undefined;
      const gateway = config.gatewayListen
        ? new WsGateway(security ? { authenticate: security.judgeHello, onRefused: (code, message) => reportRefusal?.(code, message) } : {})
        : undefined;
      node = await startNode({
        node: config.node,
        dataDir: config.dataDir,
        store,
        transport: this.#transport(config, gateway, security),
        central: config.central,
        ...(config.routes ? { routes: config.routes } : {}),
        helloIntervalSeconds: config.helloIntervalSeconds,
        acceptDedupWindowMs: config.acceptDedupWindowSeconds * 1000,
        defaults: config.defaults,
        ...(config.enabledMethods.length < METHOD_SWITCH_KEYS.length ? { enabledMethods: config.enabledMethods } : {}),
        ...(security ? { guard: security.guard, methods: security.methods } : {}),
        logger: this.log,
        onFatal: () => {
          this.#fatal = true;
          this.#stopRequested?.('the supervision tree gave up');
        },
      });
      if (this.#nats && config.nats) {
        const stopWarning = warnWhileUnreachable(this.#nats, config.nats, node.log);
        this.#closers.push({ close: async () => stopWarning() });
      }
      reportRefusal = (code, message) =>
        node.errorKernel.report({ source: `${config.node}/wsGateway`, severity: 'error', code, message, action: 'reported' });
      if (security) {
        const detach = security.attach(node);
        this.#closers.push({ close: async () => detach() });
      }
      if (gateway && config.gatewayListen) {
        const receptor = await startReceptorGateway({
          listen: formatAddress(config.gatewayListen),
          store,
          logger: node.log.child({ part: 'gateway' }),
          errors: node.errorKernel,
          env: this.io.env,
          ...(config.nats ? { nodeNats: { servers: config.nats, auth: config.natsAuth } } : {}),
        });
        receptor.addUpgradeRoute('/bosun', gateway.handleUpgrade);
        this.#closers.push(receptor, gateway);
        this.#gatewayAddress = `${receptor.host}:${receptor.port}`;
      }
    } catch (err) {
      nodeFailed(new BosunError('BOSUN_NODE_STOPPING', `node ${config.node} could not start: ${describeError(err).message}`));
      throw err;
    }
    this.#node = node;
    nodeUp(node);
    // A signal during start-up stops the node as soon as it is up.
    if (this.#signals > 0) return;

    const startup = await acceptStartupFolder(node, path.join(config.configDir, STARTUP_FOLDER), { log: node.log });
    const inputFile = config.inputFile
      ? await startFileInput(node, { file: config.inputFile, pollMs: config.inputFilePollSeconds * 1000, log: node.log })
      : undefined;
    if (inputFile) this.#inputs.push(inputFile);
    const debug = await startDebugSocket(node, { dataDir: config.dataDir, log: node.log });
    this.#inputs.push(debug);
    await this.#saveFlags();
    this.log.info(
      {
        node: config.node,
        dataDir: config.dataDir,
        socket: socket.socketPath,
        debugSocket: debug.socketPath,
        ...(tcp ? { tcp: formatAddress(tcp.address) } : {}),
        ...(this.#http ? { http: formatAddress(this.#http.address) } : {}),
        ...(token ? { tokenFile: token.file } : {}),
        ...(inputFile ? { inputFile: inputFile.file } : {}),
        configFile: config.configFile,
        startup,
        transport: node.transport.kind,
        ...(this.#gatewayAddress ? { gateway: this.#gatewayAddress } : {}),
        ...(config.peer ? { peer: config.peer } : {}),
        ...(config.secure ? { secure: true } : {}),
        ...(config.nats ? { nats: config.nats } : {}),
        ...(config.enabledMethods.length < METHOD_SWITCH_KEYS.length ? { methods: config.enabledMethods } : {}),
      },
      'node started',
    );
  }

  /** The node's link to the fleet: a gateway it dials, NATS, or this process's bus; routed when it is a gateway. */
  #transport(config: StartConfig, gateway: WsGateway | undefined, security: Security | undefined): Transport {
    if (config.peer) return new WsTransport({ url: config.peer, ...(security ? { signHello: security.signHello } : {}) });
    if (config.nats) this.#nats = new NatsTransport({ name: config.node, servers: config.nats, ...config.natsAuth });
    const base = this.#nats ?? defaultBus.transport();
    return gateway ? new RoutedTransport(base, gateway) : base;
  }

  /** Flags become the next start's defaults; a config file that cannot be written only costs that. */
  async #saveFlags(): Promise<void> {
    const file = this.loaded.file ?? { path: this.#config.configFile };
    try {
      const saved = await saveFlagsToConfigFile(file, this.loaded.settings);
      if (saved.length > 0) this.log.info({ configFile: file.path, keys: saved }, 'saved the settings given as flags to the config file');
    } catch (err) {
      this.log.warn({ configFile: file.path, ...describeError(err) }, 'could not save the settings given as flags to the config file');
    }
  }

  /** Inputs first, so nothing new arrives, then the node itself; health checks last. */
  async #shutdown(): Promise<void> {
    this.#draining = true;
    const inputs = this.#inputs;
    this.#inputs = [];
    try {
      await Promise.all(inputs.map((i) => i.close()));
      // The gateway's listeners and the key sync end before the node, like the inputs.
      for (const c of this.#closers.splice(0)) await c.close();
      await this.#node?.stop(STOP_GRACE_MS);
      if (!this.#node) await this.#store?.close();
    } finally {
      await this.#http?.close();
    }
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
