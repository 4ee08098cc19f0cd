import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 that a test puts between a client and its server (a daemon and
 * nats-server) to play the network's part in a fault schedule:
 * - `cut()` resets every open link at once, as a dropped route or a NAT timeout would;
 * - `block()` refuses new links until `unblock()` (each attempt is reset as soon as it is
 *   accepted: to the client that is a refused or failed connect), a partition;
 * - `delay(ms)` holds every chunk for `ms` in each direction, in order, a slow link.
 *
 * Nothing is dropped silently: data is either forwarded in order or the link is reset.
 */
export interface TcpProxy {
  readonly port: number;
  /** `nats://127.0.0.1:<port>`: where a NATS client connects through the proxy. */
  readonly url: string;
  readonly blocked: boolean;
  readonly latencyMs: number;
  readonly stats: Readonly<TcpProxyStats>;
  /** Resets every open link; returns how many there were. */
  cut(): number;
  block(): void;
  unblock(): void;
  /** Latency added to each chunk, each way; 0 forwards at once. */
  delay(ms: number): void;
  /** Resets every link and stops listening. */
  close(): Promise<void>;
}

export interface TcpProxyStats {
  /** Links made to the target. */
  linked: number;
  /** Connection attempts refused while blocked. */
  refused: number;
  /** Links reset by `cut()`. */
  cut: number;
  /** Links ended because the target could not be reached or went away. */
  targetFailures: number;
}

export interface TcpProxyOptions {
  targetPort: number;
  targetHost?: string;
  /** Defaults to a port the kernel picks. */
  listenPort?: number;
}

const HOST = '127.0.0.1';
/** Above this many bytes held back by `delay`, the sending side is paused. */
const MAX_HELD_BYTES = 4 * 1024 * 1024;

export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const links = new Set<Link>();
  const stats: TcpProxyStats = { linked: 0, refused: 0, cut: 0, targetFailures: 0 };
  let blocked = false;
  let latencyMs = 0;

  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    if (blocked) {
      stats.refused++;
      client.on('error', () => {});
      client.resetAndDestroy();
      return;
    }
    const target = connect({ host: options.targetHost ?? HOST, port: options.targetPort, allowHalfOpen: true });
    const link = new Link(client, target, () => latencyMs);
    links.add(link);
    target.once('connect', () => stats.linked++);
    link.closed.then((reason) => {
      links.delete(link);
      if (reason === 'target') stats.targetFailures++;
    });
  });
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenPort ?? 0, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  const cutAll = (): number => {
    const n = links.size;
    for (const link of links) link.reset();
    links.clear();
    return n;
  };

  return {
    port,
    url: `nats://${HOST}:${port}`,
    get blocked() {
      return blocked;
    },
    get latencyMs() {
      return latencyMs;
    },
    stats,
    cut() {
      const n = cutAll();
      stats.cut += n;
      return n;
    },
    block() {
      blocked = true;
    },
    unblock() {
      blocked = false;
    },
    delay(ms) {
      latencyMs = Math.max(0, ms);
    },
    async close() {
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type CloseReason = 'reset' | 'target' | 'ended';

/** One client's link to the target: two ordered, delayable pipes that live and die together. */
class Link {
  readonly closed: Promise<CloseReason>;
  #close!: (reason: CloseReason) => void;
  #done = false;

  constructor(
    readonly client: Socket,
    readonly target: Socket,
    latency: () => number,
  ) {
    this.closed = new Promise((resolve) => (this.#close = resolve));
    new Pipe(client, target, latency);
    new Pipe(target, client, latency);
    let ended = 0;
    const onEnd = (): void => {
      if (++ended === 2) this.#finish('ended');
    };
    client.once('close', () => this.#finish('ended'));
    target.once('close', () => this.#finish('ended'));
    client.on('error', () => this.#finish('reset'));
    target.on('error', () => this.#finish('target'));
    client.once('end', onEnd);
    target.once('end', onEnd);
  }

  reset(): void {
    this.#finish('reset');
  }

  #finish(reason: CloseReason): void {
    if (this.#done) return;
    this.#done = true;
    reset(this.client);
    reset(this.target);
    this.#close(reason);
  }
}

/**
 * A reset, not a polite FIN: the peer must see the link die, as it would on a real cut.
 * A socket whose writing side is already shut down cannot be reset (libuv refuses, and
 * the handle would then never close), so that one is only destroyed.
 */
function reset(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded) socket.destroy();
  else socket.resetAndDestroy();
}

/** Forwards `from` to `to` in order, each chunk held for the current latency. */
class Pipe {
  #held: Array<{ chunk: Buffer; due: number }> = [];
  #heldBytes = 0;
  #lastDue = 0;
  #timer: NodeJS.Timeout | undefined;
  #ended = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly latency: () => number,
  ) {
    from.on('data', (chunk: Buffer) => this.#onData(chunk));
    from.once('end', () => {
      this.#ended = true;
      this.#pump();
    });
  }

  #onData(chunk: Buffer): void {
    const ms = this.latency();
    if (ms === 0 && this.#held.length === 0) {
      this.#write(chunk);
      return;
    }
    // Chunks never overtake each other, even when the latency drops meanwhile.
    const due = Math.max(Date.now() + ms, this.#lastDue);
    this.#lastDue = due;
    this.#held.push({ chunk, due });
    this.#heldBytes += chunk.length;
    if (this.#heldBytes > MAX_HELD_BYTES) this.from.pause();
    this.#pump();
  }

  #pump(): void {
    if (this.#timer) return;
    const now = Date.now();
    while (this.#held.length > 0 && this.#held[0]!.due <= now) {
      const { chunk } = this.#held.shift()!;
      this.#heldBytes -= chunk.length;
      this.#write(chunk);
    }
    if (this.#heldBytes <= MAX_HELD_BYTES && this.from.isPaused()) this.from.resume();
    if (this.#held.length > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#pump();
      }, this.#held[0]!.due - now);
      return;
    }
    if (this.#ended && !this.to.destroyed && !this.to.writableEnded) this.to.end();
  }

  #write(chunk: Buffer): void {
    if (this.to.destroyed) return;
    if (!this.to.write(chunk)) {
      this.from.pause();
      this.to.once('drain', () => this.from.resume());
    }
  }
}
