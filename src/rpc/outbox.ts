/**
 * Frames on their way to the peer: the coalescing writer, the peer's frame limit they
 * must fit, and what happens while they pile up unsent. Over the high-water mark the
 * connection stops reading (the peer's own sends then block in TCP) and stream
 * producers wait on `whenWritable()`; past `maxWriteBuffer` the peer is cut.
 */
import type { Duplex } from 'node:stream';
import { payloadSize } from '../wire/encode.js';
import { FrameWriter } from '../wire/frame-writer.js';

export interface OutboxHooks {
  /** Writes went over the high-water mark (true) or back under half of it (false). */
  onPressure(high: boolean): void;
  /** Unsent bytes passed `maxWriteBuffer`. */
  onOverflow(buffered: number): void;
}

export class Outbox {
  /** Largest payload the peer accepts: a handshake's size until it announced its own. */
  peerMaxFrameSize: number;
  private readonly writer: FrameWriter;
  private pressured = false;
  /** Resolves when writes fall back under the mark; shared by every waiting producer. */
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  constructor(socket: Duplex, highWaterMark: number, maxWriteBuffer: number, initialPeerLimit: number, hooks: OutboxHooks) {
    this.peerMaxFrameSize = initialPeerLimit;
    this.writer = new FrameWriter(socket as Duplex & { writableNeedDrain: boolean }, {
      highWaterMark,
      hardLimit: maxWriteBuffer,
      onOverflow: (buffered) => hooks.onOverflow(buffered),
      onPressure: (high) => {
        this.pressured = high;
        if (!high) this.release();
        hooks.onPressure(high);
      },
    });
  }

  /** Queue a frame; it leaves with the others of this tick. */
  write(frame: Buffer): void {
    this.writer.write(frame);
  }

  /** Queue a frame and hand everything queued to the socket now (stream credit). */
  writeNow(frame: Buffer): void {
    this.writer.writeNow(frame);
  }

  /** The frame's payload size when it is over the peer's limit, else 0. */
  excess(frame: Buffer): number {
    const size = payloadSize(frame);
    return size > this.peerMaxFrameSize ? size : 0;
  }

  /** Grows each time the socket drains: the peer read some of what we sent. */
  get drains(): number {
    return this.writer.drains;
  }

  /** Bytes handed to the socket so far. */
  get bytesOut(): number {
    return this.writer.bytesOut;
  }

  /** Unsent bytes, here and in the socket. */
  get bufferedBytes(): number {
    return this.writer.bufferedBytes;
  }

  /** Undefined while writes keep up; else a promise that resolves once they are back under the mark. */
  whenWritable(): Promise<void> | undefined {
    if (!this.pressured) return undefined;
    this.gate ??= new Promise<void>((resolve) => {
      this.openGate = resolve;
    });
    return this.gate;
  }

  /** Last words: send what is queued (and `last`), then accept nothing more. */
  finish(): void {
    this.writer.finish();
    this.release();
  }

  /** Drop what is queued; later writes are ignored. Waiting producers wake and find their streams gone. */
  close(): void {
    this.writer.close();
    this.release();
  }

  private release(): void {
    const open = this.openGate;
    this.gate = undefined;
    this.openGate = undefined;
    open?.();
  }
}
