/** What the writer needs from a socket (any net.Socket or stream.Writable fits). */
export interface ByteSink {
  write(chunk: Buffer): boolean;
  cork(): void;
  uncork(): void;
  readonly writableLength: number;
  readonly writableNeedDrain: boolean;
  readonly destroyed: boolean;
  once(event: 'drain', listener: () => void): unknown;
}

/** Batches up to this size are copied into one buffer; larger ones go out as a writev. */
const COPY_LIMIT = 64 * 1024;

export interface FrameWriterOptions {
  /** Called when buffered bytes rise above `highWaterMark`, and again when they fall below. */
  onPressure?: (high: boolean) => void;
  /** Bytes buffered (here and in the socket) above which `onPressure(true)` fires. Default 4 MiB. */
  highWaterMark?: number;
}

/**
 * Coalesces every frame written during one turn of the event loop into a single socket
 * write, and holds frames back while the socket asks for a drain, so a slow reader
 * costs one growing queue here rather than many small writes into a congested socket.
 */
export class FrameWriter {
  private readonly sink: ByteSink;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private scheduled = false;
  private waitingForDrain = false;
  private pressure = false;
  private closed = false;
  private readonly onPressure: ((high: boolean) => void) | undefined;
  private readonly highWaterMark: number;
  private readonly flushCallback = (): void => {
    this.scheduled = false;
    this.flush();
  };
  private readonly drainCallback = (): void => {
    this.waitingForDrain = false;
    this.flush();
    this.relieve();
  };

  constructor(sink: ByteSink, options: FrameWriterOptions = {}) {
    this.sink = sink;
    this.onPressure = options.onPressure;
    this.highWaterMark = options.highWaterMark ?? 4 * 1024 * 1024;
  }

  /** Bytes accepted but not yet sent: queued here plus held by the socket. */
  get bufferedBytes(): number {
    return this.queuedBytes + this.sink.writableLength;
  }

  /** Queue one complete frame (length prefix included); it leaves at the end of this tick. */
  write(frame: Buffer): void {
    if (this.closed) return;
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    if (!this.scheduled && !this.waitingForDrain) {
      this.scheduled = true;
      setImmediate(this.flushCallback);
    }
    if (this.onPressure !== undefined && !this.pressure && this.bufferedBytes > this.highWaterMark) {
      this.pressure = true;
      this.onPressure(true);
    }
  }

  /** Hand everything queued to the socket now (unless it is waiting for a drain). */
  flush(): void {
    if (this.closed || this.queue.length === 0 || this.waitingForDrain) return;
    if (this.sink.destroyed) {
      this.close();
      return;
    }
    const queue = this.queue;
    const total = this.queuedBytes;
    this.queue = [];
    this.queuedBytes = 0;
    let ok: boolean;
    if (queue.length === 1) {
      ok = this.sink.write(queue[0]!);
    } else if (total <= COPY_LIMIT) {
      const batch = Buffer.allocUnsafe(total);
      let offset = 0;
      for (const frame of queue) offset += frame.copy(batch, offset);
      ok = this.sink.write(batch);
    } else {
      this.sink.cork();
      ok = true;
      for (const frame of queue) ok = this.sink.write(frame);
      this.sink.uncork();
    }
    if (!ok || this.sink.writableNeedDrain) {
      this.waitingForDrain = true;
      this.sink.once('drain', this.drainCallback);
    } else {
      this.relieve();
    }
  }

  private relieve(): void {
    if (this.pressure && !this.waitingForDrain && this.bufferedBytes <= this.highWaterMark / 2) {
      this.pressure = false;
      this.onPressure?.(false);
    }
  }

  /** Drop whatever is queued; later writes are ignored. */
  close(): void {
    this.closed = true;
    this.queue = [];
    this.queuedBytes = 0;
  }
}
