import { FrameTooLarge, ProtocolError } from '../errors.js';
import { DEFAULT_MAX_MESSAGE_DEPTH, DEFAULT_MAX_MESSAGE_ELEMENTS, MessagePackGuard, checkMessageLimit } from './msgpack-guard.js';

/** Bytes in the big-endian length prefix of every frame. */
export const HEADER_SIZE = 4;
/** Default cap on one frame's payload: 16 MiB. */
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;

/**
 * Receives one frame's payload as `source[start, end)`: one well-formed MessagePack value
 * within the decoder's limits (see FrameDecoder). A frame that arrived whole is passed in
 * place, inside the socket chunk: no view object per frame, and the MessagePack decoder
 * can work on the chunk directly. Copy what must outlive the call.
 */
export type FrameHandler = (source: Buffer, start: number, end: number) => void;

export interface FrameDecoderOptions {
  /** Largest payload in bytes. Default 16 MiB. */
  maxFrameSize?: number;
  /** Most MessagePack elements in one payload (see msgpack-guard.ts). Default 100 000. */
  maxMessageElements?: number;
  /** Deepest nesting of arrays and maps in one payload. Default 64. */
  maxMessageDepth?: number;
}

/**
 * Splits a byte stream into frame payloads: `[u32 BE length][payload]`.
 *
 * A small explicit state machine that never touches a socket. A frame that arrives
 * whole inside one chunk is handed out in place (zero copy); a frame split
 * across chunks is copied once into a buffer allocated at its final size, so large
 * frames cost linear time. The length is checked against `maxFrameSize` as soon as the
 * 4 prefix bytes are in, before any payload byte is buffered.
 *
 * Every payload is checked by a MessagePack structure scanner (msgpack-guard.ts) before
 * it is handed out: exactly one well-formed value, no extension type but the timestamp,
 * at most `maxMessageElements` elements and `maxMessageDepth` levels of nesting. A frame
 * split across chunks is scanned as its bytes arrive, so a frame over the limits is
 * rejected as soon as its bytes cross them, without waiting for (or buffering) the rest.
 * A payload that breaks a rule stops the decoder and `push()` throws ProtocolError.
 * (A length-0 frame holds nothing to scan; it is handed on as an empty payload, which
 * the dialect refuses: `empty frame`.)
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
  private readonly guard = new MessagePackGuard();
  private elementLimit: number;
  private depthLimit: number;

  constructor(onFrame: FrameHandler, options: FrameDecoderOptions = {}) {
    this.onFrame = onFrame;
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.elementLimit = checkMessageLimit('maxMessageElements', options.maxMessageElements ?? DEFAULT_MAX_MESSAGE_ELEMENTS);
    this.depthLimit = checkMessageLimit('maxMessageDepth', options.maxMessageDepth ?? DEFAULT_MAX_MESSAGE_DEPTH);
  }

  /**
   * Most MessagePack elements in one payload (an integer from 1 to 2^31 − 1, else
   * InvalidOption); may be changed between pushes (e.g. after a handshake). A frame
   * already partly received keeps the limits it started with.
   */
  get maxMessageElements(): number {
    return this.elementLimit;
  }
  set maxMessageElements(value: number) {
    this.elementLimit = checkMessageLimit('maxMessageElements', value);
  }

  /** Deepest nesting of arrays and maps in one payload; as maxMessageElements. */
  get maxMessageDepth(): number {
    return this.depthLimit;
  }
  set maxMessageDepth(value: number) {
    this.depthLimit = checkMessageLimit('maxMessageDepth', value);
  }

  /** Bytes of the frame now arriving, its length prefix included; 0 between frames. */
  get bufferedBytes(): number {
    // A frame whose prefix is in but none of its payload yet has still begun.
    return this.payload !== null ? HEADER_SIZE + this.payloadFill : this.headerFill;
  }

  /** `stop()` was called (or a bad frame stopped it). */
  get isStopped(): boolean {
    return this.stopped;
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
   * Throws FrameTooLarge for an oversized length prefix, and ProtocolError for a payload
   * the scanner rejects (as soon as the bytes that break the rule are in); the decoder is
   * stopped then. What `onFrame` throws passes through as it is.
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
        const complete = this.payloadFill === payload.length;
        try {
          this.guard.advance(payload, this.payloadFill, complete);
        } catch (err) {
          this.stop();
          throw err;
        }
        if (complete) {
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
      if (length === 0) {
        // Holds no value to scan or decode; the dialect refuses it ('empty frame').
        this.onFrame(chunk, offset, offset);
      } else if (end - offset >= length) {
        try {
          this.guard.check(chunk, offset, offset + length, this.elementLimit, this.depthLimit);
        } catch (err) {
          this.stop();
          throw err;
        }
        this.onFrame(chunk, offset, offset + length);
        offset += length;
      } else {
        this.payload = Buffer.allocUnsafe(length);
        this.payloadFill = 0;
        this.guard.begin(0, this.elementLimit, this.depthLimit);
      }
    }
  }

}
