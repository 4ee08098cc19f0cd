import { BosunError } from '../errors.ts';
import { isValidName } from '../message.ts';
import type { MethodSpec } from '../methods/types.ts';
import type { Store } from '../store/types.ts';
import { streamIdOf } from '../delivery/frames.ts';
import { CentralAuthority } from './CentralAuthority.ts';
import { SecurityGuard } from './Guard.ts';
import { fingerprintOf, isPublicKey, loadOrCreateKeys, readPublicKeyFile, type NodeKeyPair } from './keys.ts';
import { Ledger } from './Ledger.ts';
import { centralMethods, nodeMethods } from './methods.ts';
import { NodeTrust } from './NodeTrust.ts';
import { judgeHelloClaim, signHelloClaim } from './wsHello.ts';
import type { HelloClaim } from '../transport/wsProtocol.ts';
import type { HelloVerdict } from '../transport/WsGateway.ts';

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

export interface SecurityOptions {
  /** This node's name. */
  node: string;
  /** The central node's name. */
  central: string;
  /** Where the node's key pair lives (`private.pem` 0600, `public.pem`); created on first start. */
  keyDir: string;
  /** The node's store (opened here if it is not open yet): keys, ACLs, seen ids. */
  store: Store;
  /**
   * Lifetime of every message this node sends (default 7 days). A message that waits
   * longer (its target is down longer) is refused as expired when it finally arrives,
   * and has to be sent again.
   */
  ttlSeconds?: number;
  /** Longest lifetime accepted from other nodes (default 30 days). */
  maxTtlSeconds?: number;
  /** Clock skew tolerated between nodes (default 300 s). */
  skewSeconds?: number;
  /**
   * Central's public key, learnt out of band: its `public.pem` (`centralKeyFile`), the key
   * itself (`centralKey`, base64), or its fingerprint (`centralFingerprint`, `SHA256:…`:
   * the first key set that names a key with it, signed by that key, pins the key). A node
   * that is not central needs one of them, unless one pinned central's key at an earlier
   * start: a key learnt from the wire could be anyone's.
   */
  centralKeyFile?: string;
  centralKey?: string;
  centralFingerprint?: string;
  /** A node without keys from central yet waits this long for them before refusing (default 10 s). */
  unknownKeyGraceSeconds?: number;
  /** How often a node asks central whether its key set and ACL are current (default 60 s; 0: only at attach). */
  syncIntervalSeconds?: number;
  clock?: { now(): number };
  /** Where background failures go (a store write of a sent-request record, a prune). */
  onError?(error: unknown): void;
}

/** What `attach` needs of a running node. */
export interface SecureNode {
  accept(input: unknown): Promise<Array<{ status?: string; error?: { code: string; message: string } }>>;
  /** The node's outbound streams, to keep one update request in flight at a time. */
  senders?(): ReadonlyMap<string, { readonly drained: boolean }>;
}

export interface Security {
  /** A `MessageGuard`; its `check` also takes the runtime's delivery (stream and sequence). */
  guard: SecurityGuard;
  methods: MethodSpec[];
  /** This node's key pair (its fingerprint for `bosun keys show`). */
  keys: NodeKeyPair;
  /** Central's authority (central only), or the node's trust state (every other node). */
  authority?: CentralAuthority;
  trust?: NodeTrust;
  /** A ws peer's proof of its name: this node's signature over a gateway's challenge (`WsTransport`'s `signHello`). */
  signHello(claim: HelloClaim): string;
  /** A gateway node's check of a ws peer's proof against the key it holds for the peer (`WsGateway`'s `authenticate`). */
  judgeHello(claim: HelloClaim, signature: string | undefined): HelloVerdict;
  /**
   * Call once the node runs. A node that is not central asks central for its key set and
   * ACL now and every `syncIntervalSeconds` (an answer comes only when they changed).
   * Returns the function that stops it; stopping the node stops it too.
   */
  attach(node: SecureNode): () => void;
}

/**
 * The one entry point: a node's signing keys, its guard and its security methods.
 *
 * ```ts
 * const store = new LevelStore(dir);
 * const security = await createSecurity({ node, central, keyDir, store });
 * const n = await startNode({ node, store, guard: security.guard, methods: security.methods });
 * security.attach(n);
 * ```
 */
export async function createSecurity(options: SecurityOptions): Promise<Security> {
  const { node, central } = options;
  if (!isValidName(node) || !isValidName(central)) {
    throw new BosunError('BOSUN_BAD_CONFIG', 'node and central names may only hold letters, digits, "-" and "_"');
  }
  const ttlSeconds = options.ttlSeconds ?? 7 * 24 * 3600;
  const maxTtlSeconds = Math.max(options.maxTtlSeconds ?? 30 * 24 * 3600, ttlSeconds);
  if (!(ttlSeconds > 0)) throw new BosunError('BOSUN_BAD_CONFIG', 'the message lifetime (ttlSeconds) must be positive');
  const keys = await loadOrCreateKeys(options.keyDir);
  const centralKey = options.centralKeyFile !== undefined ? await readPublicKeyFile(options.centralKeyFile) : options.centralKey;
  if (centralKey !== undefined && !isPublicKey(centralKey)) throw new BosunError('BOSUN_BAD_CONFIG', "central's key is not an ed25519 public key");
  const fingerprint = options.centralFingerprint;
  if (fingerprint !== undefined && !FINGERPRINT.test(fingerprint)) {
    throw new BosunError('BOSUN_BAD_CONFIG', `"${fingerprint}" is not a key fingerprint (SHA256: and 43 base64 characters, as \`bosun keys show\` prints)`);
  }
  if (node === central && centralKey !== undefined && centralKey !== keys.publicKey) {
    throw new BosunError('BOSUN_BAD_CONFIG', `--trust-central ${options.centralKeyFile ?? ''} is not this central's own key`);
  }
  if (node === central && fingerprint !== undefined && fingerprint !== fingerprintOf(keys.publicKey)) {
    throw new BosunError('BOSUN_BAD_CONFIG', `--trust-central-fingerprint ${fingerprint} is not this central's own key's (${fingerprintOf(keys.publicKey)})`);
  }
  if (options.store.status !== 'open') await options.store.open();
  const ledger = new Ledger(options.store);
  const clock = options.clock ?? { now: () => Date.now() };
  const onError = options.onError ?? (() => {});
  const isCentral = node === central;
  const authority = isCentral ? await CentralAuthority.load(central, keys, ledger, clock) : undefined;
  const anchor = { ...(centralKey !== undefined ? { key: centralKey } : {}), ...(fingerprint !== undefined ? { fingerprint } : {}) };
  const trust = isCentral ? undefined : await NodeTrust.load(node, central, keys, ledger, anchor);
  const guard = new SecurityGuard({
    node,
    central,
    keys,
    trust: (authority ?? trust)!,
    ...(authority ? { authority } : {}),
    ledger,
    clock,
    ttlMs: ttlSeconds * 1000,
    maxTtlMs: maxTtlSeconds * 1000,
    skewMs: (options.skewSeconds ?? 300) * 1000,
    unknownKeyGraceMs: (options.unknownKeyGraceSeconds ?? 10) * 1000,
    onError,
  });
  return {
    guard,
    methods: authority ? centralMethods(authority) : nodeMethods(trust!),
    keys,
    ...(authority ? { authority } : {}),
    ...(trust ? { trust } : {}),
    signHello: (claim) => signHelloClaim(keys, claim),
    judgeHello: (claim, signature) => judgeHelloClaim((authority ?? trust)!, claim, signature),
    attach(running) {
      if (!trust) return () => {};
      let timer: NodeJS.Timeout | undefined;
      const request = (method: string, hash: string, extra: Record<string, unknown> = {}) => {
        // One request in flight is enough: a central that is away gets the latest when back.
        const stream = running.senders?.().get(streamIdOf(node, central, method));
        if (stream && !stream.drained) return;
        void running
          .accept({ toNode: central, method, data: JSON.stringify({ hash, ...extra }), replyMethod: 'none' })
          .then((results) => {
            if (results.some((r) => r.error?.code === 'BOSUN_NODE_STOPPING')) stop();
          }, onError);
      };
      const sync = () => {
        request('REQKeysRequestUpdate', trust.keysHash, { publicKey: keys.publicKey });
        // Until central sent a key set this node is not allowed yet: asking for rules
        // would only be refused.
        if (!trust.awaitingKeys()) request('REQAclRequestUpdate', trust.aclHash);
      };
      const stop = () => {
        if (timer) clearInterval(timer);
        timer = undefined;
      };
      sync();
      const every = options.syncIntervalSeconds ?? 60;
      if (every > 0) {
        timer = setInterval(sync, every * 1000);
        timer.unref();
      }
      return stop;
    },
  };
}
