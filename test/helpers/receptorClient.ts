/**
 * A websocket client that speaks as a python-receptor 0.6 node, by replaying the bytes
 * captured from a real node (receptor-wire.md, appendix). It parses frames with its own
 * few lines rather than the gateway's codec, so a test never checks the codec against
 * itself.
 */
import type { NatsConnection } from 'nats';
import pino from 'pino';
import WebSocket from 'ws';
import type { ErrorReport } from '../../supervisors/types.ts';
import type { Clock } from '../../src/clock.ts';
import { type RunningReceptorGateway, startReceptorGateway } from '../../src/gateway/index.ts';
import { MemoryStore } from '../../src/store/MemoryStore.ts';
import type { Store } from '../../src/store/types.ts';

function hex(text: string): Buffer {
  return Buffer.from(text, 'hex');
}

/** Every message of the captured session, byte for byte. */
export const vectors = {
  /** node → gateway: HI (190 bytes, one ws binary message) */
  nodeHi: hex(
    '020100000001000000a4f82f8421939e48ea958f53c619fbed787b22636d64223a20224849222c20226964223a20226e' +
    '6f64652d62222c20226578706972655f74696d65223a20313739353631383630362e373430383730322c20226d657461' +
    '223a207b226361706162696c6974696573223a207b22776f726b65725f76657273696f6e73223a207b7d2c20226d6178' +
    '5f776f726b5f74687265616473223a20367d2c202267726f757073223a205b5d2c2022776f726b223a205b5d7d7d',
  ),
  /** gateway → node: HI reply (108 bytes) */
  gatewayHiReply: hex(
    '02010000000100000052000000000000000000000000000000007b22636d64223a224849222c226964223a226e6f6465' +
    '2d636c6f75642d7265636570746f722d636f6e74726f6c6c6572222c226578706972655f74696d65223a6e756c6c2c22' +
    '6d657461223a6e756c6c7d0a',
  ),
  /** node → gateway: ROUTE (331 bytes) */
  nodeRoute: hex(
    '02010000000100000131bb9bc9694bfe4c099f5240176361fd207b22636d64223a2022524f555445222c20226964223a' +
    '20226e6f64652d62222c20226361706162696c6974696573223a207b22776f726b65725f76657273696f6e73223a207b' +
    '7d2c20226d61785f776f726b5f74687265616473223a20367d2c20226e6f64655f6361706162696c6974696573223a20' +
    '7b226e6f64652d62223a207b22776f726b65725f76657273696f6e73223a207b7d2c20226d61785f776f726b5f746872' +
    '65616473223a20367d7d2c202267726f757073223a205b5d2c20226564676573223a205b5b226e6f64652d62222c2022' +
    '6e6f64652d636c6f75642d7265636570746f722d636f6e74726f6c6c6572222c20315d5d2c20227365656e223a205b22' +
    '6e6f64652d636c6f75642d7265636570746f722d636f6e74726f6c6c6572222c20226e6f64652d62225d7d',
  ),
  /** gateway → node: receptor:ping directive (444 bytes; the PAYLOAD frame header starts at 0x73) */
  pingDirective: hex(
    '00010000000100000059000000000000000000000000000000007b2273656e646572223a226e6f64652d636c6f75642d' +
    '7265636570746f722d636f6e74726f6c6c6572222c22726563697069656e74223a226e6f64652d62222c22726f757465' +
    '5f6c697374223a5b226e6f64652d62225d7d0a0101000000010000012f000000000000000000000000000000007b226d' +
    '6573736167655f6964223a2235363864363063392d393535632d346434362d613266372d396562643736346566333561' +
    '222c2273656e646572223a226e6f64652d636c6f75642d7265636570746f722d636f6e74726f6c6c6572222c22726563' +
    '697069656e74223a226e6f64652d62222c226d6573736167655f74797065223a22646972656374697665222c2274696d' +
    '657374616d70223a22323032362d31312d32355431343a35363a33372e353436313238343731222c227261775f706179' +
    '6c6f6164223a22323032362d31312d32355431343a35363a33342e3938343334383638315a222c226469726563746976' +
    '65223a227265636570746f723a70696e67222c22696e5f726573706f6e73655f746f223a22222c22636f6465223a302c' +
    '2273657269616c223a307d0a',
  ),
  /** node → gateway: ping response (606 bytes; PAYLOAD frame header at 0x81, same msg_id as the HEADER frame) */
  pingResponse: hex(
    '000100000001000000679b46fe1877854a32a91f250963ae2e7f7b2273656e646572223a20226e6f64652d62222c2022' +
    '726563697069656e74223a20226e6f64652d636c6f75642d7265636570746f722d636f6e74726f6c6c6572222c202272' +
    '6f7574655f6c697374223a205b226e6f64652d62222c20226e6f64652d62225d7d010100000001000001c39b46fe1877' +
    '854a32a91f250963ae2e7f7b226d6573736167655f6964223a202231626166653662332d323139352d346438332d3865' +
    '30322d663431643965333031393632222c202273656e646572223a20226e6f64652d62222c2022726563697069656e74' +
    '223a20226e6f64652d636c6f75642d7265636570746f722d636f6e74726f6c6c6572222c20226d6573736167655f7479' +
    '7065223a2022726573706f6e7365222c202274696d657374616d70223a2022323032362d31312d32355431343a35363a' +
    '33372e353437373330222c20227261775f7061796c6f6164223a20227b5c22696e697469616c5f74696d655c223a205c' +
    '22323032362d31312d32355431343a35363a33342e3938343334383638315a5c222c205c22726573706f6e73655f7469' +
    '6d655c223a205c22323032362d31312d32352031343a35363a33372e3534373637345c222c205c226163746976655f77' +
    '6f726b5c223a205b5d7d222c2022646972656374697665223a206e756c6c2c2022696e5f726573706f6e73655f746f22' +
    '3a202235363864363063392d393535632d346434362d613266372d396562643736346566333561222c202274746c223a' +
    '206e756c6c2c202273657269616c223a20312c2022636f6465223a20307d',
  ),
  /** node → gateway: eof for the non-existent plugin workername (522 bytes) */
  workernameEof: hex(
    '0001000000010000006792f65d16aa074f679f46bebd33e8e5507b2273656e646572223a20226e6f64652d62222c2022' +
    '726563697069656e74223a20226e6f64652d636c6f75642d7265636570746f722d636f6e74726f6c6c6572222c202272' +
    '6f7574655f6c697374223a205b226e6f64652d62222c20226e6f64652d62225d7d0101000000010000016f92f65d16aa' +
    '074f679f46bebd33e8e5507b226d6573736167655f6964223a202237313934656530392d613639362d346135342d6161' +
    '38362d643761643638306539363536222c202273656e646572223a20226e6f64652d62222c2022726563697069656e74' +
    '223a20226e6f64652d636c6f75642d7265636570746f722d636f6e74726f6c6c6572222c20226d6573736167655f7479' +
    '7065223a2022656f66222c202274696d657374616d70223a2022323032362d31312d32355431343a35363a33382e3535' +
    '31313939222c20227261775f7061796c6f6164223a20224572726f72206c6f6164696e67206469726563746976652068' +
    '616e646c65727320666f7220776f726b65726e616d65222c2022646972656374697665223a206e756c6c2c2022696e5f' +
    '726573706f6e73655f746f223a202232626465326164322d333161332d343238662d616436342d613666346162666334' +
    '393237222c202274746c223a206e756c6c2c202273657269616c223a20312c2022636f6465223a20317d',
  ),};

/** The ids the captured session used. */
export const CAPTURED = {
  nodeId: 'node-b',
  gatewayId: 'node-cloud-receptor-controller',
  account: '0000001',
  /** The gateway's ping directive id, which the node's ping response answers. */
  pingMessageId: '568d60c9-955c-4d46-a2f7-9ebd764ef35a',
  /** The job (`workername:action`) that the captured eof answers. */
  jobMessageId: '2bde2ad2-31a3-428f-ad64-a6f4abfc4927',
} as const;

/** The identity header of the Go README (account 0000001), which the capture's node sent. */
export const README_IDENTITY =
  'eyJpZGVudGl0eSI6IHsiYWNjb3VudF9udW1iZXIiOiAiMDAwMDAwMSIsICJpbnRlcm5hbCI6IHsib3JnX2lkIjogIjAwMDAwMSJ9fX0=';

/** An `x-rh-identity` value for `account`. */
export function identityFor(account: string): string {
  return Buffer.from(JSON.stringify({ identity: { account_number: account, type: 'User', internal: { org_id: '1' } } })).toString('base64');
}

export interface Frame {
  type: number;
  /** The 26 header bytes as sent. */
  header: Buffer;
  body: Buffer;
}

/** Splits one websocket message into receptor frames (26-byte header + body each). */
export function splitFrames(message: Buffer): Frame[] {
  const frames: Frame[] = [];
  let offset = 0;
  while (offset < message.length) {
    if (message.length - offset < 26) throw new Error(`a frame header is 26 bytes; ${message.length - offset} left`);
    const length = message.readUInt32BE(offset + 6);
    const header = message.subarray(offset, offset + 26);
    frames.push({ type: message[offset]!, header, body: message.subarray(offset + 26, offset + 26 + length) });
    offset += 26 + length;
  }
  return frames;
}

/** Joins frames back into one message, rewriting each header's length field to its body. */
export function joinFrames(frames: Frame[]): Buffer {
  return Buffer.concat(
    frames.flatMap((frame) => {
      const header = Buffer.from(frame.header);
      header.writeUInt32BE(frame.body.length, 6);
      return [header, frame.body];
    }),
  );
}

/** A captured message with some text replaced in its JSON bodies (lengths fixed up). */
export function patchVector(vector: Buffer, replacements: Array<[string, string]>): Buffer {
  return joinFrames(
    splitFrames(vector).map((frame) => {
      let text = frame.body.toString('utf8');
      for (const [from, to] of replacements) text = text.split(from).join(to);
      return { ...frame, body: Buffer.from(text, 'utf8') };
    }),
  );
}

/** The JSON bodies of a message's frames. */
export function frameBodies(message: Buffer): unknown[] {
  return splitFrames(message).map((frame) => JSON.parse(frame.body.toString('utf8')));
}

export interface TestNodeOptions {
  /** Extra upgrade headers, e.g. `{ 'x-rh-identity': README_IDENTITY }`. */
  headers?: Record<string, string>;
  /** Answer pings (aiohttp's autoping); default true. */
  autoPong?: boolean;
}

/** Thrown by `connect` when the gateway refuses the upgrade. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`upgrade refused with ${status}: ${body}`);
  }
}

export class ReceptorTestNode {
  readonly ws: WebSocket;
  readonly closed: Promise<{ code: number; reason: string }>;
  pingsReceived = 0;
  readonly #inbox: Buffer[] = [];
  readonly #waiting: Array<(message: Buffer) => void> = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer) => {
      const waiter = this.#waiting.shift();
      if (waiter) waiter(data);
      else this.#inbox.push(data);
    });
    ws.on('ping', () => this.pingsReceived++);
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
  }

  /** Opens the websocket as the node's aiohttp client would (no compression, no subprotocol). */
  static connect(url: string, options: TestNodeOptions = {}): Promise<ReceptorTestNode> {
    const ws = new WebSocket(url, { headers: options.headers, perMessageDeflate: false, autoPong: options.autoPong ?? true });
    const node = new ReceptorTestNode(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(node));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => reject(new UpgradeRefused(res.statusCode ?? 0, body)));
      });
      ws.once('error', reject);
    });
  }

  send(message: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => this.ws.send(message, { binary: typeof message !== 'string' }, (error) => (error ? reject(error) : resolve())));
  }

  /** The next message from the gateway. */
  next(timeoutMs = 2000): Promise<Buffer> {
    const queued = this.#inbox.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
        reject(new Error(`no message from the gateway within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (message: Buffer) => {
        clearTimeout(timer);
        resolve(message);
      };
      this.#waiting.push(waiter);
    });
  }

  /** Messages received and not yet read. */
  get unread(): number {
    return this.#inbox.length;
  }

  /** The captured handshake: HI, the gateway's HI reply (returned), then ROUTE. */
  async handshake(): Promise<Buffer> {
    await this.send(vectors.nodeHi);
    const reply = await this.next();
    await this.send(vectors.nodeRoute);
    return reply;
  }

  close(code = 1000): Promise<{ code: number; reason: string }> {
    this.ws.close(code);
    return this.closed;
  }

  terminate(): void {
    this.ws.terminate();
  }
}

// ——— a gateway to test against ———

export interface TestGatewayOptions {
  env?: Record<string, string>;
  clock?: Clock;
  store?: Store;
  newId?: () => string;
  nats?: NatsConnection;
  /** The node's own NATS, as a daemon started with `--nats` hands it to its gateway. */
  nodeNats?: { servers: string[] };
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined if it is not JSON. */
  json: any;
}

export interface TestGateway extends RunningReceptorGateway {
  store: Store;
  reports: ErrorReport[];
  /** `ws://127.0.0.1:<port>/wss/receptor-controller/gateway` */
  wsUrl: string;
  baseUrl: string;
  /** A node of `account` (default the README's 0000001) connected and past its handshake. */
  connectNode(options?: TestNodeOptions): Promise<ReceptorTestNode>;
  /**
   * An HTTP request to the gateway, as the README's identity unless `headers` say
   * otherwise (`{}` for none). A string body is sent as is, anything else as JSON.
   */
  http(method: string, path: string, options?: { body?: unknown; headers?: Record<string, string> }): Promise<HttpAnswer>;
  /** Resolves once (account, node) is registered (or, with `false`, gone). */
  waitForConnection(account: string, nodeId: string, connected?: boolean): Promise<void>;
}

/** Polls `check` every few ms of real time until it holds. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A gateway on 127.0.0.1 with an in-memory store (unless given one) and a silent logger. */
export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  let store = options.store;
  if (!store) {
    store = new MemoryStore({ sync: false });
    await store.open();
  }
  const reports: ErrorReport[] = [];
  const running = await startReceptorGateway({
    listen: '127.0.0.1:0',
    store,
    clock: options.clock,
    logger: pino({ level: 'silent' }),
    errors: { report: (report) => reports.push(report) },
    env: options.env ?? {},
    newId: options.newId,
    nats: options.nats,
    nodeNats: options.nodeNats,
  });
  const baseUrl = `http://127.0.0.1:${running.port}`;
  const wsUrl = `ws://127.0.0.1:${running.port}/wss/receptor-controller/gateway`;
  const waitForConnection = (account: string, nodeId: string, connected = true) =>
    eventually(async () => (await running.gateway.status(account, nodeId)).status === (connected ? 'connected' : 'disconnected'));
  return Object.assign(running, {
    store,
    reports,
    wsUrl,
    baseUrl,
    waitForConnection,
    async http(method: string, path: string, httpOptions: { body?: unknown; headers?: Record<string, string> } = {}) {
      const { body } = httpOptions;
      const response = await fetch(baseUrl + path, {
        method,
        headers: httpOptions.headers ?? { 'x-rh-identity': README_IDENTITY },
        body: body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
      });
      const text = await response.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, headers: response.headers, text, json };
    },
    async connectNode(nodeOptions: TestNodeOptions = {}) {
      const node = await ReceptorTestNode.connect(wsUrl, { ...nodeOptions, headers: nodeOptions.headers ?? { 'x-rh-identity': README_IDENTITY } });
      await node.handshake();
      return node;
    },
  });
}

// ——— a receptor node on a gateway run by a daemon process ———

const CAPTURED_REPLY_ID = '7194ee09-a696-4a54-aa86-d7ad680e9656';

/** The captured eof, as the n-th reply: message id `…<n>`, answering `jobId`, payload `r<n>`. */
export function numberedReply(n: number, jobId: string = CAPTURED.jobMessageId): Buffer {
  const messageId = `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  return patchVector(vectors.workernameEof, [
    [CAPTURED_REPLY_ID, messageId],
    [CAPTURED.jobMessageId, jobId],
    ['Error loading directive handlers for workername', `r${n}`],
  ]);
}

/**
 * The captured node (`node-b`, account 0000001) connected to the gateway at `baseUrl`
 * (`http://host:port`), past its handshake, and listed by the gateway's HTTP API.
 */
export async function dialReceptorNode(baseUrl: string): Promise<ReceptorTestNode> {
  const node = await ReceptorTestNode.connect(`${baseUrl.replace(/^http/, 'ws')}/wss/receptor-controller/gateway`, { headers: { 'x-rh-identity': README_IDENTITY } });
  await node.handshake();
  await eventually(async () => {
    const response = await fetch(`${baseUrl}/connection/${CAPTURED.account}`, { headers: { 'x-rh-identity': README_IDENTITY } });
    return ((await response.json()) as { connections?: string[] }).connections?.includes(CAPTURED.nodeId) ?? false;
  }, 10_000);
  return node;
}
