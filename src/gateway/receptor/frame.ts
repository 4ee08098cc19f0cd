/**
 * The python-receptor 0.x frame: a 26-byte big-endian header (`>ccIIQQ`) followed by
 * `length` bytes of body. See /work/shared/reference/receptor-wire.md §3.
 */
import { BosunError } from '../../errors.ts';

export const FRAME_HEADER_SIZE = 26;

/** What a frame carries: the routing JSON, the inner envelope, or a command (HI, ROUTE). */
export const FrameType = { header: 0, payload: 1, command: 2 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export interface Frame {
  type: FrameType;
  /** Always 1 on the wire; kept for inspection, never checked (the node does not either). */
  version: number;
  /** Always 1 on the wire. */
  id: number;
  /** 16 bytes: the node's per-message UUID; the gateway writes zeros, as Go does. */
  msgId: Buffer;
  body: Buffer;
}

const ZERO_MSG_ID = Buffer.alloc(16);

/** Header and body of one frame, as bytes. */
export function encodeFrame(type: FrameType, body: Buffer, msgId: Buffer = ZERO_MSG_ID): Buffer {
  if (msgId.length !== 16) throw new RangeError(`a frame msg_id is 16 bytes, got ${msgId.length}`);
  const header = Buffer.alloc(FRAME_HEADER_SIZE);
  header.writeInt8(type, 0);
  header.writeUInt8(1, 1);
  header.writeUInt32BE(1, 2);
  header.writeUInt32BE(body.length, 6);
  msgId.copy(header, 10);
  return Buffer.concat([header, body]);
}

function isFrameType(value: number): value is FrameType {
  return value === FrameType.header || value === FrameType.payload || value === FrameType.command;
}

/**
 * Cuts complete frames off a byte stream. Bytes may arrive cut anywhere, several frames
 * to a chunk or one frame over several (python-receptor's reader is as lenient), so the
 * remainder is kept for the next `push`. `maxBuffered` bounds what a peer can make it hold.
 */
export class FrameReader {
  #buffer: Buffer = Buffer.alloc(0);
  readonly #maxBuffered: number;

  constructor(maxBuffered: number) {
    this.#maxBuffered = maxBuffered;
  }

  /** Bytes held that do not yet make a whole frame. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** @throws BosunError `BOSUN_GATEWAY_PROTOCOL` on an unknown frame type or an oversize frame. */
  push(chunk: Buffer): Frame[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const frames: Frame[] = [];
    let offset = 0;
    while (this.#buffer.length - offset >= FRAME_HEADER_SIZE) {
      const type = this.#buffer.readInt8(offset);
      if (!isFrameType(type)) throw new BosunError('BOSUN_GATEWAY_PROTOCOL', `unknown receptor frame type ${type}`);
      const length = this.#buffer.readUInt32BE(offset + 6);
      if (length > this.#maxBuffered) {
        throw new BosunError('BOSUN_MESSAGE_TOO_LARGE', `receptor frame of ${length} bytes exceeds ${this.#maxBuffered}`);
      }
      const end = offset + FRAME_HEADER_SIZE + length;
      if (end > this.#buffer.length) break;
      frames.push({
        type,
        version: this.#buffer.readUInt8(offset + 1),
        id: this.#buffer.readUInt32BE(offset + 2),
        msgId: Buffer.from(this.#buffer.subarray(offset + 10, offset + FRAME_HEADER_SIZE)),
        body: Buffer.from(this.#buffer.subarray(offset + FRAME_HEADER_SIZE, end)),
      });
      offset = end;
    }
    this.#buffer = this.#buffer.subarray(offset);
    if (this.#buffer.length > this.#maxBuffered) {
      throw new BosunError('BOSUN_MESSAGE_TOO_LARGE', `more than ${this.#maxBuffered} bytes buffered without a whole frame`);
    }
    return frames;
  }
}
