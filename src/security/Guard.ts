import { BosunError } from '../errors.ts';
import { isValidName, type Message } from '../message.ts';
import type { MessageGuard } from '../runtime/Node.ts';
import { streamIdOf, type DataFrame, type SignedFrame } from '../delivery/frames.ts';
import { RELAY_METHODS } from '../runtime/relay.ts';
import { COMMAND_METHODS, commandAllowed, methodAllowed } from './acl.ts';
import { envelopeBytes, unsignedField } from './canonical.ts';
import { deliveryError, frameError, sealFrame, signDelivery } from './deliveryAuth.ts';
import type { CentralAuthority } from './CentralAuthority.ts';
import { parseKeySetDocument } from './documents.ts';
import { fingerprintOf, isPublicKey, verifySignature, type NodeKeyPair } from './keys.ts';
import type { Delivery, Ledger } from './Ledger.ts';
import type { Trust } from './Trust.ts';

/** Methods that carry their sender's public key (`publicKey` in their JSON data) to central. */
export const KEY_PRESENTING_METHODS: ReadonlySet<string> = new Set(['REQHello', 'REQKeysRequestUpdate']);
/** Central's management methods: only central may send them, to itself (its operator). */
export const ADMIN_METHODS: ReadonlySet<string> = new Set([
  'REQKeysList',
  'REQKeysAllow',
  'REQKeysRevoke',
  'REQAclAdd',
  'REQAclDelete',
  'REQAclList',
  'REQAclExport',
  'REQAclImport',
  'REQAclPush',
]);
/** What central distributes: only central may send them. */
export const UPDATE_METHODS: ReadonlySet<string> = new Set(['REQKeysUpdate', 'REQAclUpdate']);
/** What central takes from every node with an allowed key. */
export const CENTRAL_INBOX_METHODS: ReadonlySet<string> = new Set(['REQHello', 'REQErrorLog', 'REQKeysRequestUpdate', 'REQAclRequestUpdate']);

export interface GuardOptions {
  node: string;
  central: string;
  keys: NodeKeyPair;
  trust: Trust;
  /** Central only: where keys presented in hellos are filed as pending. */
  authority?: CentralAuthority;
  ledger: Ledger;
  clock: { now(): number };
  /** Lifetime given to every message this node sends. */
  ttlMs: number;
  /** Longest lifetime accepted from others: bounds how long an id must be remembered. */
  maxTtlMs: number;
  /** How far in the future a message's `acceptedAt` may be (clock skew between nodes). */
  skewMs: number;
  /** How long a node without a key set yet waits for one before refusing an unknown sender. */
  unknownKeyGraceMs: number;
  onError(error: unknown): void;
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * The message guard: `seal` signs every message this node sends, over its whole envelope;
 * `check` refuses, before it runs, any message that is not signed by its sender's trusted
 * key, not for this node, expired, already run, or not allowed by the ACL.
 *
 * Order of the checks: the signature first (so that nothing unauthenticated decides
 * anything), then target and time, then replay, then authorisation.
 */
export class SecurityGuard implements MessageGuard {
  /** Messages whose signature verified, with the key it verified against. */
  #verified = new WeakMap<Message, string>();

  constructor(private readonly o: GuardOptions) {}

  seal(message: Message): Message {
    const { signature: _old, ...rest } = message;
    const sealed: Message = { ...rest, expiresAt: message.acceptedAt + this.o.ttlMs };
    if (KEY_PRESENTING_METHODS.has(message.method) && message.toNode === this.o.central && !message.isReply) {
      sealed.data = withPublicKey(message.data, this.o.keys.publicKey);
    }
    if (!message.isReply && message.replyMethod !== 'none') {
      // Replies may arrive long after the request: it may wait its lifetime to be
      // delivered, run up to its methodTimeout (a stream, forever), and each reply may
      // wait a lifetime of its own.
      const running = message.methodTimeout > 0 ? message.methodTimeout * 1000 : 365 * DAY_MS;
      this.o.ledger.recordSent(
        message.id,
        { toNode: message.toNode, replyMethod: message.replyMethod, replyMethodArgs: message.replyMethodArgs, keepUntil: sealed.expiresAt! + running + this.o.ttlMs },
        this.o.onError,
      );
    }
    sealed.signature = this.o.keys.sign(envelopeBytes(sealed));
    return sealed;
  }

  /**
   * @param delivery where the runtime received the message. With it a re-check of the
   * same delivery (after a restart) is not taken for a replay, a message that arrived on
   * another stream than its own is refused, and a local scheduled re-run is told apart
   * from one that claims to be.
   */
  async check(message: Message, delivery?: Delivery): Promise<void> {
    const m = message;
    const now = this.o.clock.now();
    this.o.ledger.pruneSoon(now, this.o.onError);
    // A scheduled re-run is created on this node from a message checked on its first run;
    // the runtime gives it sequence 0, which no received message has.
    if (delivery?.seq === 0 && m.scheduled) return;
    this.#signed(m);
    const bootstrap = this.#bootstrapKey(m);
    this.#verify(m, bootstrap?.key ?? (await this.#keyOf(m)));
    this.#addressed(m, delivery?.stream);
    if (typeof m.expiresAt !== 'number' || typeof m.acceptedAt !== 'number') refuse('BOSUN_BAD_SIGNATURE', 'the message has no lifetime');
    if (now > m.expiresAt) refuse('BOSUN_EXPIRED', `the message expired at ${iso(m.expiresAt)}`);
    if (m.acceptedAt > now + this.o.skewMs) refuse('BOSUN_EXPIRED', `the message was issued in the future (${iso(m.acceptedAt)}); check the clocks`);
    if (m.expiresAt - m.acceptedAt > this.o.maxTtlMs) {
      refuse('BOSUN_EXPIRED', `the message asks to live ${Math.round((m.expiresAt - m.acceptedAt) / 1000)} s, more than the ${this.o.maxTtlMs / 1000} s this node allows`);
    }

    if ((await this.o.ledger.markSeen(m.fromNode, m.id, m.expiresAt, delivery, this.o.onError)) === 'replay') {
      refuse('BOSUN_REPLAYED', `message ${m.id} from ${m.fromNode} was already received; a message runs once`);
    }

    if (bootstrap?.relayed) return;
    if (bootstrap?.unknown) {
      // A node central does not know yet may say hello and ask for keys: that is how its
      // key becomes pending. Anything else waits for an operator to allow the key.
      if ((await this.o.authority!.notePresented(m.fromNode, bootstrap.key)) === 'changed') {
        const allowed = this.o.trust.keyFor(m.fromNode)!;
        refuse(
          'BOSUN_UNKNOWN_KEY',
          `${m.fromNode} presented key ${fingerprintOf(bootstrap.key)}, not its allowed key ${fingerprintOf(allowed)}; the new key is pending (bosun keys allow ${m.fromNode} to accept it)`,
        );
      }
      return;
    }
    await this.#authorize(m);
  }

  /**
   * What can be judged of a data frame's message before its receiver takes its sequence
   * number, so that a forged frame cannot take the place of the genuine one: whether it
   * is signed, by the key this node holds for its sender (or the key a hello presents, or
   * the key of the fingerprint this node was given for central), and belongs to the stream.
   * A sender without such a key is refused here: its frames cost no store row, no ACK and
   * no reply.
   */
  screen(message: Message, stream: string): BosunError | undefined {
    try {
      this.#signed(message);
      const key = this.#bootstrapKey(message)?.key ?? this.o.trust.keyFor(message.fromNode) ?? this.#firstCentralKey(message);
      if (key === undefined) refuse('BOSUN_UNKNOWN_KEY', `this node holds no key for ${message.fromNode}`);
      this.#verify(message, key);
      this.#addressed(message, stream);
      return undefined;
    } catch (e) {
      if (e instanceof BosunError) return e;
      throw e;
    }
  }

  /**
   * The delivery signature of a data frame this node publishes (its own messages, and those
   * it relays): it binds the message to its stream, incarnation and sequence number.
   */
  signDelivery(stream: string, inc: string, seq: number, messageJson: string): string {
    return signDelivery(this.o.keys, stream, inc, seq, messageJson);
  }

  /**
   * A data frame's delivery signature, by `from` (the stream's sender, which published it):
   * checked with the key a key-presenting message presents (a new node's hello), else the
   * key this node holds for `from` (for a hello relayed by a node that is itself only
   * pending on central, its pending key). Without one the frame is refused: a node without
   * a trusted key costs its receiver nothing but this look.
   */
  checkDelivery(frame: DataFrame, from: string): BosunError | undefined {
    const m = frame.message;
    const bootstrap = this.#bootstrapKey(m);
    const own = m.fromNode === from ? (bootstrap?.key ?? this.#firstCentralKey(m)) : undefined;
    // A hello relayed by a node central has not allowed yet either: the relay's pending key.
    const key = own ?? this.o.trust.keyFor(from) ?? (bootstrap ? this.o.trust.pendingKeyFor?.(from) : this.#relayKeyInKeySet(m, from));
    return deliveryError(frame, from, key);
  }

  /**
   * Skip, ACK and resume frames carry no message, hence no sender's signature: this node
   * signs them (once per frame; ACKs are batched per receiver write, never one per message).
   */
  sealFrame<F extends SignedFrame>(frame: F): F {
    return sealFrame(this.o.keys, frame);
  }

  /**
   * A skip, ACK or resume frame from `from`, checked against from's key. The signature
   * covers the stream, the incarnation and the numbers (and an ACK's message ids), so a
   * frame cannot be moved to another stream, incarnation or number. A replayed genuine
   * ACK says only what is still true; a replayed skip names a place its sender already
   * gave up; a replayed resume costs a resend. A skip from a node without a known key is
   * refused (it would open a receiver); its ACKs and resumes are taken unchecked, as they
   * only touch streams this node opened itself to that node.
   */
  checkFrame(frame: SignedFrame, from: string): BosunError | undefined {
    const key = this.o.trust.keyFor(from);
    // A skip would open a receiver (a store row): only from a node with a trusted key.
    if (key === undefined && frame.type === 'skip') return new BosunError('BOSUN_UNKNOWN_KEY', `this node holds no key for ${from}`);
    return key === undefined ? undefined : frameError(frame, from, key);
  }

  /**
   * A node's first key set may come through a relay it holds no key for yet: the key set,
   * verified as central's (by `screen`), names the relay's key.
   */
  #relayKeyInKeySet(m: Message, relay: string): string | undefined {
    if (m.fromNode !== this.o.central || m.method !== 'REQKeysUpdate' || m.isReply) return undefined;
    const centralKey = this.o.trust.keyFor(this.o.central) ?? this.#firstCentralKey(m);
    if (centralKey === undefined || this.#verified.get(m) !== centralKey) return undefined;
    try {
      const keys = parseKeySetDocument(m.data).body.keys;
      return Object.hasOwn(keys, relay) ? keys[relay] : undefined;
    } catch {
      return undefined;
    }
  }

  /** A named sender, a signature, and no field outside it. */
  #signed(m: Message): asserts m is Message & { signature: string } {
    if (typeof m.fromNode !== 'string' || !isValidName(m.fromNode)) refuse('BOSUN_BAD_SIGNATURE', 'the message names no valid sender');
    const extra = unsignedField(m);
    if (extra !== undefined) refuse('BOSUN_BAD_SIGNATURE', `the message carries "${extra}", which no signature covers`);
    if (typeof m.signature !== 'string') refuse('BOSUN_BAD_SIGNATURE', 'the message is not signed');
  }

  /**
   * Verifies once per message object and key: a message that `screen` verified on arrival
   * is the same object `check` sees before it runs (one read back from the store after a
   * restart is a new object, and verified again).
   */
  #verify(m: Message & { signature: string }, key: string): void {
    if (this.#verified.get(m) === key) return;
    if (!verifySignature(key, envelopeBytes(m), m.signature)) {
      refuse('BOSUN_BAD_SIGNATURE', `the signature does not match ${m.fromNode}'s key ${fingerprintOf(key)} (forged, or changed on the way)`);
    }
    this.#verified.set(m, key);
  }

  /** For this node, and (given the stream it came on) on its own stream or its relay's. */
  #addressed(m: Message, stream: string | undefined): void {
    if (m.toNode !== this.o.node) refuse('BOSUN_MISDIRECTED', `the message is for ${m.toNode}, not ${this.o.node}`);
    if (stream !== undefined && stream !== streamIdOf(m.fromNode, m.toNode, m.method) && !relayedOn(m, stream)) {
      refuse('BOSUN_MISDIRECTED', `the message arrived on stream ${stream}, which is not its own`);
    }
  }

  /** A key the message itself presents, where that is how a key is learnt. */
  #bootstrapKey(m: Message): { key: string; unknown: boolean; relayed?: boolean } | undefined {
    return this.#presentedKey(m) ?? this.#relayedKeyRequest(m);
  }

  /**
   * Central: the key a hello or key request presents, and whether it is not the sender's
   * allowed key. It is filed as pending only once every check proved the message sound.
   */
  #presentedKey(m: Message): { key: string; unknown: boolean; relayed?: boolean } | undefined {
    const authority = this.o.authority;
    if (!authority || m.isReply || m.toNode !== this.o.node || !KEY_PRESENTING_METHODS.has(m.method)) return undefined;
    const key = presentedKey(m.data);
    if (key === undefined) return undefined;
    return { key, unknown: authority.keyFor(m.fromNode) !== key };
  }

  /**
   * A relay: an envelope from a node it has no key for yet, carrying that node's hello or
   * key request to central. Central is where the key is judged, so the relay carries it,
   * checked against the key it presents; the relay takes nothing else from such a node.
   */
  #relayedKeyRequest(m: Message): { key: string; unknown: true; relayed: true } | undefined {
    if (!RELAY_METHODS.has(m.method) || m.toNode !== this.o.node || this.o.trust.keyFor(m.fromNode) !== undefined) return undefined;
    let inner: Partial<Message>;
    try {
      inner = JSON.parse(m.data ?? '') as Partial<Message>;
    } catch {
      return undefined;
    }
    if (!inner || inner.fromNode !== m.fromNode || inner.toNode !== this.o.central || inner.isReply || !KEY_PRESENTING_METHODS.has(inner.method ?? '')) return undefined;
    const key = presentedKey(inner.data);
    return key === undefined ? undefined : { key, unknown: true, relayed: true };
  }

  /**
   * First contact with central on a node given only central's fingerprint: central's
   * first key set names a key with that fingerprint (and must verify with it).
   */
  #firstCentralKey(m: Message): string | undefined {
    if (m.fromNode !== this.o.central || m.method !== 'REQKeysUpdate' || m.isReply) return undefined;
    return this.o.trust.expectedCentralKeyIn?.(m.data);
  }

  async #keyOf(m: Message): Promise<string> {
    const { trust } = this.o;
    let key = trust.keyFor(m.fromNode) ?? this.#firstCentralKey(m);
    if (key === undefined && trust.awaitingKeys() && (await trust.waitForKey(m.fromNode, this.o.unknownKeyGraceMs))) {
      key = trust.keyFor(m.fromNode);
    }
    if (key === undefined) {
      refuse(
        'BOSUN_UNKNOWN_KEY',
        this.o.authority
          ? `${m.fromNode} has no allowed key (bosun keys ls; bosun keys allow ${m.fromNode})`
          : `this node has no key for ${m.fromNode} from central`,
      );
    }
    return key;
  }

  async #authorize(m: Message): Promise<void> {
    const { node, central } = this.o;
    const from = m.fromNode;
    if (m.isReply) {
      const sent = m.inReplyTo ? await this.o.ledger.sent(m.inReplyTo.id) : undefined;
      if (
        !sent ||
        m.inReplyTo!.fromNode !== node ||
        sent.toNode !== from ||
        sent.replyMethod !== m.method ||
        JSON.stringify(sent.replyMethodArgs) !== JSON.stringify(m.methodArgs) ||
        this.o.clock.now() > sent.keepUntil
      ) {
        refuse('BOSUN_NOT_ALLOWED', `the reply answers no request ${node} sent to ${from}`);
      }
      return;
    }
    if (ADMIN_METHODS.has(m.method)) {
      if (node !== central || from !== node) refuse('BOSUN_NOT_ALLOWED', `${m.method} is taken only by central from itself, not from ${from}`);
      return;
    }
    if (UPDATE_METHODS.has(m.method)) {
      if (from !== central || node === central) refuse('BOSUN_NOT_ALLOWED', `${m.method} is taken only from central, not from ${from}`);
      return;
    }
    if (node === central && CENTRAL_INBOX_METHODS.has(m.method)) return;
    // A relay carries a node's own signed messages, which their target checks in full:
    // carrying one gives a node no power it lacks, so every node with a key may ask.
    if (RELAY_METHODS.has(m.method)) return;
    const acl = this.o.trust.acl();
    if (!methodAllowed(acl, { node, central }, from, m.method)) {
      refuse('BOSUN_NOT_ALLOWED', `${from} may not send ${m.method} to ${node} (ACL)`);
    }
    if (COMMAND_METHODS.has(m.method) && !commandAllowed(acl, { node, central }, from, m.methodArgs)) {
      refuse('BOSUN_COMMAND_NOT_ALLOWED', `${from} may not run ${JSON.stringify(m.methodArgs)} on ${node} (ACL)`);
    }
  }
}

/**
 * A relayed message arrives on its relay's stream. `relayViaNode` is signed, so only a
 * relay its sender chose can deliver it.
 */
function relayedOn(m: Message, stream: string): boolean {
  return m.relayViaNode !== undefined && m.relayViaNode !== m.fromNode && stream === streamIdOf(m.relayViaNode, m.toNode, m.method);
}

/** The public key in a hello's or key request's JSON data. */
export function presentedKey(data: string | undefined): string | undefined {
  try {
    const value = JSON.parse(data ?? '') as { publicKey?: unknown };
    return value && typeof value === 'object' && isPublicKey(value.publicKey) ? value.publicKey : undefined;
  } catch {
    return undefined;
  }
}

/** Adds `publicKey` to JSON object data (a hello's capabilities); other data is wrapped. */
function withPublicKey(data: string | undefined, publicKey: string): string {
  try {
    const value = JSON.parse(data ?? '') as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      if ((value as { publicKey?: unknown }).publicKey === publicKey) return data!;
      return JSON.stringify({ ...value, publicKey });
    }
  } catch {
    // not JSON: wrapped below
  }
  return JSON.stringify({ ...(data !== undefined && data !== '' ? { text: data } : {}), publicKey });
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}

function refuse(code: ConstructorParameters<typeof BosunError>[0], message: string): never {
  throw new BosunError(code, message);
}
