import { FrameTooLarge, ProtocolError } from '../errors.js';

/** Bytes in the big-endian length prefix of every frame. */
export const HEADER_SIZE = 4;
/** Default cap on one frame's payload: 16 MiB. */
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;

/**
 * Receives one frame's payload as `source[start, end)`. A frame that arrived whole is
 * passed in place, inside the socket chunk: no view object per frame, and the
 * MessagePack decoder can work on the chunk directly. Copy what must outlive the call.
 */
export type FrameHandler = (source: Buffer, start: number, end: number) => void;

/**
 * Splits a byte stream into frame payloads: `[u32 BE length][payload]`.
 *
 * A small explicit state machine that never touches a socket. A frame that arrives
 * whole inside one chunk is handed out in place (zero copy); a frame split
 * across chunks is copied once into a buffer allocated at its final size, so large
 * frames cost linear time. The length is checked against `maxFrameSize` as soon as the
 * 4 prefix bytes are in, before any payload byte is buffered.
 */
export class FrameDecoder {
  /** Largest payload accepted; may be changed between pushes (e.g. after a handshake). */
  maxFrameSize: number;
  private readonly onFrame: FrameHandler;
  private readonly header = Buffer.alloc(HEADER_SIZE);
  private headerFill = 0;
  private payload: Buffer | null = null;
  private payloadFill = 0;
  private stopped = false;

  constructor(onFrame: FrameHandler, options: { maxFrameSize?: number } = {}) {
    this.onFrame = onFrame;
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  }

  /** Bytes held for a frame that is not complete yet. */
  get bufferedBytes(): number {
    return this.headerFill + this.payloadFill;
  }

  /** Stop delivering frames, also from a chunk that is being processed right now. */
  stop(): void {
    this.stopped = true;
    this.payload = null;
    this.payloadFill = 0;
    this.headerFill = 0;
  }

  /**
   * Feed the next chunk. Calls `onFrame` for every complete frame, in order.
   * Throws FrameTooLarge for an oversized length prefix; the decoder is stopped then.
   */
  push(chunk: Buffer): void {
    if (this.stopped) throw new ProtocolError('frame decoder used after it was stopped');
    const end = chunk.length;
    let offset = 0;
    while (offset < end && !this.stopped) {
      if (this.payload !== null) {
        // Continue a frame split across chunks.
        const payload = this.payload;
        const n = Math.min(payload.length - this.payloadFill, end - offset);
        chunk.copy(payload, this.payloadFill, offset, offset + n);
        this.payloadFill += n;
        offset += n;
        if (this.payloadFill === payload.length) {
          this.payload = null;
          this.payloadFill = 0;
          this.onFrame(payload, 0, payload.length);
        }
        continue;
      }
      let length: number;
      if (this.headerFill === 0 && end - offset >= HEADER_SIZE) {
        length = chunk.readUInt32BE(offset);
        offset += HEADER_SIZE;
      } else {
        const n = Math.min(HEADER_SIZE - this.headerFill, end - offset);
        chunk.copy(this.header, this.headerFill, offset, offset + n);
        this.headerFill += n;
        offset += n;
        if (this.headerFill < HEADER_SIZE) break;
        this.headerFill = 0;
        length = this.header.readUInt32BE(0);
      }
      if (length > this.maxFrameSize) {
        this.stop();
        throw new FrameTooLarge(length, this.maxFrameSize);
      }
      if (end - offset >= length) {
        this.onFrame(chunk, offset, offset + length);
        offset += length;
      } else {
        this.payload = Buffer.allocUnsafe(length);
        this.payloadFill = 0;
      }
    }
  }
}
