/**
 * Turns the node's bytes into receptor messages: a COMMAND frame alone (HI, ROUTE), or a
 * HEADER frame (routing JSON) paired with the PAYLOAD frame that follows it (the inner
 * envelope). receptor-wire.md §4.
 *
 * Commands are told apart by their `cmd` field, never by searching the text: the Go
 * gateway's substring test took any ROUTE mentioning "HI" for a second handshake.
 */
import { BosunError } from '../../errors.ts';
import { type Frame, FrameReader, FrameType } from './frame.ts';

/** The node's handshake. `meta.capabilities` is what `/connection/status` serves. */
export interface HiCommand {
  cmd: 'HI';
  id: string;
  expire_time?: unknown;
  meta?: { capabilities?: unknown; groups?: unknown; work?: unknown; [key: string]: unknown } | null;
}

/** The routing JSON of a HEADER frame. */
export interface Routing {
  sender: unknown;
  recipient: unknown;
  route_list?: unknown;
}

export type ReceptorMessage =
  | { kind: 'hi'; hi: HiCommand }
  | { kind: 'route'; route: Record<string, unknown> }
  /** A command this gateway does not know (e.g. receptor 1.0's `ROUTE2`). */
  | { kind: 'command'; cmd: string }
  | { kind: 'routed'; routing: Routing; envelope: Record<string, unknown> };

function protocolError(message: string): BosunError {
  return new BosunError('BOSUN_GATEWAY_PROTOCOL', message);
}

function parseObject(frame: Frame, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(frame.body.toString('utf8'));
  } catch {
    throw protocolError(`${what} frame body is not JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw protocolError(`${what} frame body is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function commandMessage(body: Record<string, unknown>): ReceptorMessage {
  const { cmd } = body;
  if (typeof cmd !== 'string') throw protocolError('command frame has no "cmd"');
  if (cmd === 'HI') {
    if (typeof body.id !== 'string' || body.id === '') throw protocolError('HI command has no node "id"');
    const meta = body.meta;
    if (meta !== undefined && meta !== null && (typeof meta !== 'object' || Array.isArray(meta))) {
      throw protocolError('HI command "meta" is not an object');
    }
    return { kind: 'hi', hi: body as unknown as HiCommand };
  }
  if (cmd === 'ROUTE') return { kind: 'route', route: body };
  return { kind: 'command', cmd };
}

export class ReceptorReader {
  readonly #frames: FrameReader;
  /** A HEADER frame's routing, waiting for its PAYLOAD frame. */
  #routing: Routing | undefined;

  /** `maxMessageBytes` bounds a single frame and what may be buffered between chunks. */
  constructor(maxMessageBytes: number) {
    this.#frames = new FrameReader(maxMessageBytes);
  }

  /**
   * The messages completed by this chunk (usually exactly one: the node sends one
   * receptor message per websocket message).
   * @throws BosunError `BOSUN_GATEWAY_PROTOCOL` for bytes that are not the protocol.
   */
  push(chunk: Buffer): ReceptorMessage[] {
    const messages: ReceptorMessage[] = [];
    for (const frame of this.#frames.push(chunk)) {
      if (frame.type === FrameType.command) {
        if (this.#routing) throw protocolError('command frame between a HEADER frame and its PAYLOAD frame');
        messages.push(commandMessage(parseObject(frame, 'command')));
      } else if (frame.type === FrameType.header) {
        if (this.#routing) throw protocolError('two HEADER frames without a PAYLOAD frame between them');
        this.#routing = parseObject(frame, 'HEADER') as unknown as Routing;
      } else {
        const routing = this.#routing;
        if (!routing) throw protocolError('PAYLOAD frame without a HEADER frame before it');
        this.#routing = undefined;
        messages.push({ kind: 'routed', routing, envelope: parseObject(frame, 'PAYLOAD') });
      }
    }
    return messages;
  }
}
