/**
 * Bytes from the socket to messages: the frame decoder with its limits, the decode of
 * each payload, and pausing the socket for the reasons the connection gives (a bit per
 * reason, so two reasons never undo each other). The writing side is outbox.ts.
 */
import type { Duplex } from 'node:stream';
import { FrameTooLarge, ProtocolError, TransportError } from '../errors.js';
import { DccLinkStreamDecoder, IPCKIT_MAX_MESSAGE, type DccLinkFrame } from '../wire/dcc-link.js';
import { dccMcpDialect, dccMcpMaxElements, type DccMcpMessage } from '../wire/dcc-mcp.js';
import { sniffDialect, type Dialect } from '../wire/detect-dialect.js';
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
  /** A dcc-mcp envelope (after `useDccMcp`). */
  envelope(m: DccMcpMessage, payloadSize: number): void;
  /** The dialect the first bytes are in (after `sniff`); 'unknown' is read as native. */
  sniffed(dialect: Dialect | 'unknown'): void;
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
  /** Telling the dialect from the first bytes: they are held here until it is known. */
  private sniffing = false;
  /** While sniffing: the largest first frame any dialect we take accepts. */
  private sniffLimit = 0;
  private sniffDccLink = false;
  private head: Buffer | undefined;
  private envelopes = false;
  /** Set when the connection speaks DCC-Link: its channel messages replace the native frames. */
  private dccLink: DccLinkStreamDecoder | undefined;
  private dccLinkStopped = false;
  /** Any byte at all arrived. */
  heardAnything = false;
  /** Bytes read from the socket so far. */
  bytesIn = 0;

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
    return this.dccLink === undefined ? this.decoder.bufferedBytes : this.dccLink.pending;
  }

  /** Largest frame accepted from now on (raised once the handshake is done). */
  set maxFrameSize(bytes: number) {
    this.decoder.maxFrameSize = bytes;
  }

  /** Hold the first bytes until they tell the dialect (a server); `dccLink`: it takes DCC-Link (wait for its 10 bytes). */
  sniff(firstFrameLimit: number, dccLink: boolean): void {
    this.sniffing = true;
    this.sniffLimit = firstFrameLimit;
    this.sniffDccLink = dccLink;
  }

  /** Read dcc-mcp envelopes from now on. Their byte fields are one element per byte: the element limit follows the frame size. */
  useDccMcp(maxFrameSize: number): void {
    this.envelopes = true;
    this.decoder.maxFrameSize = maxFrameSize;
    this.decoder.maxMessageElements = dccMcpMaxElements(maxFrameSize);
  }

  /** Read DCC-Link channel messages from now on (docs/DCC-LINK.md), each to `onFrame`. */
  useDccLink(maxFrameSize: number, onFrame: (frame: DccLinkFrame) => void): void {
    this.dccLink = new DccLinkStreamDecoder(
      (frame) => {
        this.framesIn++;
        if (!this.dccLinkStopped) onFrame(frame);
      },
      { maxMessageSize: Math.min(Math.max(maxFrameSize, 64), IPCKIT_MAX_MESSAGE) },
    );
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
    this.dccLinkStopped = true;
  }

  /** The socket is closed: let go of it. */
  detach(): void {
    this.socket.off('data', this.onData);
  }

  private readonly onData = (data: Buffer): void => {
    // One clock read per chunk: exact silence for the heartbeat, and the start of a
    // frame for frameTimeout.
    const now = Date.now();
    this.link.heard(now);
    this.heardAnything = true;
    this.bytesIn += data.length;
    let chunk = data;
    if (this.sniffing) {
      // At most a few bytes are held (sniffDialect needs 18 at most): a copy is cheap.
      chunk = this.head === undefined ? data : Buffer.concat([this.head, data]);
      // Too long for any dialect: 'unknown', and the decoder refuses it below, at once.
      const dialect = sniffDialect(chunk, { maxFirstFrame: this.sniffLimit, dccLink: this.sniffDccLink });
      if (dialect === 'more') {
        this.head = chunk;
        return;
      }
      this.sniffing = false;
      this.head = undefined;
      this.link.sniffed(dialect);
      if (this.decoder.isStopped) return;
    }
    if (this.dccLink !== undefined) return this.readDccLink(chunk, now);
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

  private readDccLink(chunk: Buffer, now: number): void {
    const decoder = this.dccLink!;
    if (this.dccLinkStopped) return;
    const wasPartial = decoder.pending !== 0;
    const framesBefore = this.framesIn;
    try {
      decoder.push(chunk);
    } catch (err) {
      this.dccLinkStopped = true;
      return this.link.failed(err instanceof TransportError ? err : new ProtocolError(String(err), { cause: err }));
    }
    if (decoder.pending !== 0 && (!wasPartial || this.framesIn !== framesBefore)) this.link.frameStarted(now);
  }

  private readonly onFrame = (source: Buffer, start: number, end: number): void => {
    this.framesIn++;
    if (this.envelopes) this.link.envelope(dccMcpDialect.decodeScanned(source, start, end), end - start);
    else this.link.message(nativeDialect.decodeScanned(source, start, end), end - start);
  };
}
