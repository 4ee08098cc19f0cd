import path from 'node:path';
import pino, { type Logger } from 'pino';
import { METHOD_SWITCH_KEYS } from '../config/keys.ts';
import { loadConfig, type LoadedConfig } from '../config/load.ts';
import type { StartConfig } from '../config/resolve.ts';
import { saveFlagsToConfigFile } from '../config/writeBack.ts';
import { BosunError, describeError } from '../errors.ts';
import { startHttpInput, type DaemonStatus, type HttpInput } from '../inputs/httpInput.ts';
import type { AcceptingNode } from '../inputs/messageInput.ts';
import { startSocketInput, type SocketInput } from '../inputs/socketInput.ts';
import { STARTUP_FOLDER } from '../inputs/startupFolder.ts';
import { formatAddress, type TcpAddress } from '../inputs/tcpListen.ts';
import { startTcpInput, type TcpInput } from '../inputs/tcpInput.ts';
import { InputBudget, type InputLimits } from '../inputs/inputBudget.ts';
import { InputToken } from '../inputs/inputToken.ts';
import { secureDataDir, tightenPrivateFiles } from '../runtime/dataDir.ts';
import { debugChild } from '../runtime/children/debug.ts';
import { gatewayChild } from '../runtime/children/gateway.ts';
import { httpInputChild, inputFileChild, socketInputChild, startupFolderChild, tcpInputChild } from '../runtime/children/inputs.ts';
import { keySyncChild } from '../runtime/children/keySync.ts';
import type { BosunNode, NodePlugIns } from '../runtime/Node.ts';
import type { ChildSpec } from '../../supervisors/types.ts';
import { defaultBus, startNode } from '../runtime/startNode.ts';
import { createSecurity, type Security } from '../security/createSecurity.ts';
import { LevelStore } from '../store/LevelStore.ts';
import { NatsTransport } from '../transport/NatsTransport.ts';
import { RoutedTransport } from '../transport/RoutedTransport.ts';
import type { Transport } from '../transport/types.ts';
import { WsGateway } from '../transport/WsGateway.ts';
import { warnWhileUnreachable } from '../transport/unreachableWarning.ts';
import { WsTransport } from '../transport/WsTransport.ts';
import { parseCommandArgs } from './args.ts';
import { settingFlags, settingOptions, withBareBooleans } from './config.ts';
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
  const { values } = parseCommandArgs('start', withBareBooleans(args), {
    ...settingOptions(),
    'debug-faults': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return io.help('start');
  const loaded = await loadConfig({ flags: settingFlags(values), env: io.env, cwd: io.cwd });
  const log = pino({ level: loaded.config.logLevel }, pino.destination({ dest: 1, sync: true }));
  return new Daemon(loaded, log, io, { debugFaults: values['debug-faults'] === true }).run();
}

/** Anything the daemon opened that must be closed on stop. */
interface Closable {
  close(): Promise<void>;
}

/** The node, with the parts of it the daemon plugs in later. */
interface StartedNode {
  node: BosunNode;
  gateway: WsGateway | undefined;
  security: Security | undefined;
}

/** What the daemon plugs into the node's tree, with what the "node started" line reports of it. */
interface DaemonTree {
  plugIns: NodePlugIns;
  startup: ReturnType<typeof startupFolderChild>;
  receptor: ReturnType<typeof gatewayChild> | undefined;
  debug: ReturnType<typeof debugChild>;
}

/** The inputs that listen, opened before the node so that a port in use is found first. */
interface EarlyInputs {
  socket: SocketInput;
  tcp: TcpInput | undefined;
  http: HttpInput | undefined;
  /** What a restarted input is started with again. */
  limits: InputLimits;
  token: InputToken | undefined;
}

/** The daemon's life: start, serve, and one orderly stop, whatever asks for it. */
class Daemon {
  readonly #config: StartConfig;
  #node: BosunNode | undefined;
  /** Inputs opened before the node; the node's tree adopts them once it is up. */
  #early: Closable[] = [];
  #draining = false;
  /** Set when the supervision tree gave up: the daemon exits 1 so its service manager restarts it. */
  #fatal = false;
  #store: LevelStore | undefined;
  /** bosun's websocket endpoint for peers; it outlives restarts of the gateway child. */
  #wsGateway: WsGateway | undefined;
  /** The NATS link, when there is one: watched so an unreachable broker is said. */
  #nats: NatsTransport | undefined;
  #stopUnreachableWarning: (() => void) | undefined;
  #stopRequested: ((signal: string) => void) | undefined;
  #signals = 0;

  constructor(
    private readonly loaded: LoadedConfig,
    private readonly log: Logger,
    private readonly io: CliIo,
    private readonly flags: { debugFaults: boolean },
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
   * Then the node starts, and every input, the services and the debug socket become
   * children of its tree (the listeners opened early are adopted by their children).
   */
  async #start(): Promise<void> {
    const config = this.#config;
    let nodeUp!: (node: BosunNode) => void;
    let nodeFailed!: (err: unknown) => void;
    const starting = new Promise<BosunNode>((resolve, reject) => {
      nodeUp = resolve;
      nodeFailed = reject;
    });
    starting.catch(() => {}); // a failed start is reported by run(), not as a rejection here
    const early = await this.#openEarlyInputs({ accept: async (value) => (await starting).accept(value) });

    let started: StartedNode;
    try {
      started = await this.#startNode();
    } catch (err) {
      nodeFailed(new BosunError('BOSUN_NODE_STOPPING', `node ${config.node} could not start: ${describeError(err).message}`));
      throw err;
    }
    const { node } = started;
    this.#node = node;
    nodeUp(node);
    // A signal during start-up stops the node as soon as it is up.
    if (this.#signals > 0) return;

    const tree = this.#plugIns(node, early, started);
    // The tree owns the early inputs from here on: they close with the node.
    this.#early = [];
    await node.attach(tree.plugIns);
    await this.#saveFlags();
    this.#logStarted(node, early, tree);
  }

  /** The inputs that listen, opened before the node; `waitingNode` holds their messages until it is up. */
  async #openEarlyInputs(waitingNode: AcceptingNode): Promise<EarlyInputs> {
    const config = this.#config;
    const log = this.log.child({ node: config.node });
    await secureDataDir(config.dataDir);
    // One budget for every input together: many clients each under a value's cap add up.
    const limits: InputLimits = {
      budget: new InputBudget(config.inputMemoryBudgetBytes),
      maxConnections: config.inputMaxConnections,
      idleMs: config.inputIdleSeconds * 1000,
    };
    const token = config.tcpListen || config.httpListen ? await InputToken.load(config.dataDir, config.httpTokenFile) : undefined;
    const socket = await startSocketInput(waitingNode, { dataDir: config.dataDir, log, limits });
    this.#early.push(socket);
    const tcp = config.tcpListen && token ? await startTcpInput(waitingNode, { listen: config.tcpListen, token, limits, log }) : undefined;
    if (tcp) this.#early.push(tcp);
    const status = () => this.#status();
    const http = config.httpListen && token ? await startHttpInput(waitingNode, { listen: config.httpListen, access: this.#httpAccess(token), limits, log, status }) : undefined;
    if (http) this.#early.push(http);
    return { socket, tcp, http, limits, token };
  }

  #httpAccess(token: InputToken) {
    const config = this.#config;
    return { token, allowedOrigins: config.httpAllowedOrigins, allowedHosts: config.httpAllowedHosts };
  }

  /** The node's inputs, services and debug socket, as children of its tree. */
  #plugIns(node: BosunNode, early: EarlyInputs, started: StartedNode): DaemonTree {
    const config = this.#config;
    const log = this.log.child({ node: config.node });
    const status = () => this.#status();
    const startup = startupFolderChild(node, { folder: path.join(config.configDir, STARTUP_FOLDER), log: node.log });
    const inputs = [
      socketInputChild(node, { dataDir: config.dataDir, log, limits: early.limits }, early.socket),
      ...(config.tcpListen && early.token ? [tcpInputChild(node, { listen: config.tcpListen, token: early.token, limits: early.limits, log }, early.tcp)] : []),
      startup.spec,
      ...(config.inputFile ? [inputFileChild(node, { file: config.inputFile, pollMs: config.inputFilePollSeconds * 1000, log: node.log })] : []),
    ];
    const { gateway, security } = started;
    const receptor = gateway && config.gatewayListen ? this.#gatewayChild(node, gateway, config.gatewayListen) : undefined;
    const services: ChildSpec[] = [...(security ? [keySyncChild(security, node)] : []), ...(receptor ? [receptor.spec] : [])];
    const debug = debugChild(node, { dataDir: config.dataDir, log: node.log, faults: this.flags.debugFaults });
    const plugIns: NodePlugIns = {
      inputs,
      ...(config.httpListen && early.token
        ? { inputsClosedLast: [httpInputChild(node, { listen: config.httpListen, access: this.#httpAccess(early.token), limits: early.limits, log, status }, early.http)] }
        : {}),
      services,
      debug: debug.spec,
    };
    return { plugIns, startup, receptor, debug };
  }

  #logStarted(node: BosunNode, early: EarlyInputs, tree: DaemonTree): void {
    const config = this.#config;
    const gateway = tree.receptor?.address();
    this.log.info(
      {
        node: config.node,
        dataDir: config.dataDir,
        socket: early.socket.socketPath,
        debugSocket: tree.debug.socketPath(),
        ...(early.tcp ? { tcp: formatAddress(early.tcp.address) } : {}),
        ...(early.http ? { http: formatAddress(early.http.address) } : {}),
        ...(early.token ? { tokenFile: early.token.file } : {}),
        ...(config.inputFile ? { inputFile: config.inputFile } : {}),
        configFile: config.configFile,
        startup: tree.startup.report(),
        transport: node.transport.kind,
        ...(gateway ? { gateway } : {}),
        ...(config.peer ? { peer: config.peer } : {}),
        ...(config.secure ? { secure: true } : {}),
        ...(config.nats ? { nats: config.nats } : {}),
        ...(config.enabledMethods.length < METHOD_SWITCH_KEYS.length ? { methods: config.enabledMethods } : {}),
        ...(this.flags.debugFaults ? { debugFaults: true } : {}),
      },
      'node started',
    );
  }

  /** The store, the security, the transport and the node over them. */
  async #startNode(): Promise<StartedNode> {
    const config = this.#config;
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
          ...(config.trustCentralFingerprint ? { centralFingerprint: config.trustCentralFingerprint } : {}),
        })
      : undefined;
    // LevelDB and the key pair made their first files just now, with the umask's mode.
    await tightenPrivateFiles(config.dataDir);
    // the error kernel is the node's, which starts after the gateway is made
    let reportRefusal: ((code: string, message: string) => void) | undefined;
    const gateway = config.gatewayListen
      ? new WsGateway(security ? { authenticate: security.judgeHello, onRefused: (code, message) => reportRefusal?.(code, message) } : {})
      : undefined;
    this.#wsGateway = gateway;
    const node = await startNode({
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
    if (this.#nats && config.nats) this.#stopUnreachableWarning = warnWhileUnreachable(this.#nats, config.nats, node.log);
    reportRefusal = (code, message) =>
      node.errorKernel.report({ source: `${config.node}/wsGateway`, severity: 'error', code, message, action: 'reported' });
    return { node, gateway, security };
  }

  #gatewayChild(node: BosunNode, gateway: WsGateway, listen: TcpAddress) {
    const config = this.#config;
    return gatewayChild({
      listen: formatAddress(listen),
      store: node.store,
      log: node.log.child({ part: 'gateway' }),
      errors: node.errorKernel,
      env: this.io.env,
      wsGateway: gateway,
      ...(config.nats ? { nodeNats: { servers: config.nats, auth: config.natsAuth } } : {}),
    });
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

  /**
   * The node stops its tree: inputs and services first, so nothing new arrives, then the
   * drain, then the rest; the HTTP input (health checks) last. Inputs opened before a node
   * that never came up are closed here.
   */
  async #shutdown(): Promise<void> {
    this.#draining = true;
    try {
      await Promise.all(this.#early.splice(0).map((i) => i.close()));
      this.#stopUnreachableWarning?.();
      await this.#node?.stop(STOP_GRACE_MS);
      if (!this.#node) await this.#store?.close();
    } finally {
      await this.#wsGateway?.close();
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
