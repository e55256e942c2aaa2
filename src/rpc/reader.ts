/**
 * Bytes from the socket to messages: the frame decoder with its limits, the decode of
 * each payload, and pausing the socket for the reasons the connection gives (a bit per
 * reason, so two reasons never undo each other). The writing side is outbox.ts.
 */
import type { Duplex } from 'node:stream';
import { FrameTooLarge, ProtocolError, TransportError } from '../errors.js';
import { FrameDecoder } from '../wire/frame-decoder.js';
import { nativeDialect, type NativeMessage } from '../wire/native.js';

/** What the reader tells its connection. */
export interface ReaderLink {
  /** Bytes arrived at `now` (one clock read per chunk, not per frame). */
  heard(now: number): void;
  /** A frame began to arrive at `now` and is not complete yet. */
  frameStarted(now: number): void;
  /** Still in the handshake: a bad first chunk is explained as "not a wirecall peer". */
  readonly handshaking: boolean;
  message(m: NativeMessage, payloadSize: number): void;
  /** The bytes were not the protocol: fatal. */
  failed(error: TransportError): void;
}

export interface ReaderLimits {
  readonly maxFrameSize: number;
  readonly maxMessageElements: number;
  readonly maxMessageDepth: number;
}

export class FrameReader {
  private readonly decoder: FrameDecoder;
  /** Frames received so far (tells a frame still arriving from the next one). */
  private framesIn = 0;
  private pausedFor = 0;

  constructor(
    private readonly socket: Duplex,
    private readonly link: ReaderLink,
    limits: ReaderLimits,
  ) {
    this.decoder = new FrameDecoder(this.onFrame, limits);
    socket.on('data', this.onData);
  }

  /** Bytes of the frame now arriving, 0 between frames. */
  get partialFrameBytes(): number {
    return this.decoder.bufferedBytes;
  }

  /** Largest frame accepted from now on (raised once the handshake is done). */
  set maxFrameSize(bytes: number) {
    this.decoder.maxFrameSize = bytes;
  }

  get paused(): boolean {
    return this.pausedFor !== 0;
  }

  /** Pause (on) or resume reading for `reason`, a bit of its own; reading resumes when no reason is left. */
  pause(reason: number, on: boolean): void {
    const before = this.pausedFor;
    this.pausedFor = on ? before | reason : before & ~reason;
    if (before === 0 && this.pausedFor !== 0) this.socket.pause();
    else if (before !== 0 && this.pausedFor === 0 && !this.socket.destroyed) this.socket.resume();
  }

  /** Deliver nothing more, also from a chunk being read right now. */
  stop(): void {
    this.decoder.stop();
  }

  /** The socket is closed: let go of it. */
  detach(): void {
    this.socket.off('data', this.onData);
  }

  private readonly onData = (chunk: Buffer): void => {
    // One clock read per chunk: exact silence for the heartbeat, and the start of a
    // frame for frameTimeout.
    const now = Date.now();
    this.link.heard(now);
    const decoder = this.decoder;
    const wasPartial = decoder.bufferedBytes !== 0;
    const framesBefore = this.framesIn;
    try {
      decoder.push(chunk);
      if (decoder.bufferedBytes !== 0 && (!wasPartial || this.framesIn !== framesBefore)) this.link.frameStarted(now);
    } catch (err) {
      let error = err instanceof TransportError ? err : new ProtocolError(String(err), { cause: err });
      if (this.link.handshaking && err instanceof FrameTooLarge) {
        // A huge "length" in the very first bytes: most likely not a wirecall peer at all
        // (an HTTP server, a wrong port). Say so, with the bytes, rather than "too large".
        const text = chunk.subarray(0, 24).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
        error = new ProtocolError(`peer does not speak the wirecall protocol (its first bytes: "${text}")`, { cause: err });
      }
      this.link.failed(error);
    }
  };

  private readonly onFrame = (source: Buffer, start: number, end: number): void => {
    const m = nativeDialect.decodeScanned(source, start, end);
    this.framesIn++;
    this.link.message(m, end - start);
  };
}
