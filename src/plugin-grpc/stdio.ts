/**
 * The plugin's side of plugin.GRPCStdio/StreamStdio: what the host receives as the
 * plugin's stdout and stderr. With `stdio: 'stream'`, process.stdout and process.stderr
 * writes after the handshake line go to the host's streams instead of the file
 * descriptors, as a Go plugin's os.Stdout and os.Stderr do; until a host subscribes they
 * are kept (up to `maxBuffered` bytes, the oldest dropped first). With 'inherit' (the
 * default) the streams stay open and carry nothing.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import { StdioChannel, type Empty, type StdioData } from './pb.js';

type Call = ServerWritableStream<Empty, StdioData>;
type Write = typeof process.stdout.write;

export class StdioForwarder {
  private readonly calls = new Set<Call>();
  private pending: StdioData[] = [];
  private pendingBytes = 0;
  private restore: (() => void) | undefined;

  constructor(private readonly maxBuffered = 1024 * 1024) {}

  /** Takes over process.stdout and process.stderr writes. */
  capture(): void {
    if (this.restore !== undefined) return;
    const out = process.stdout.write;
    const err = process.stderr.write;
    process.stdout.write = this.writer(StdioChannel.STDOUT);
    process.stderr.write = this.writer(StdioChannel.STDERR);
    this.restore = () => {
      process.stdout.write = out;
      process.stderr.write = err;
    };
  }

  private writer(channel: number): Write {
    return ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((err?: Error | null) => void), cb?: (err?: Error | null) => void): boolean => {
      const data = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : Buffer.from(chunk);
      this.send({ channel, data });
      const done = typeof encoding === 'function' ? encoding : cb;
      if (done !== undefined) queueMicrotask(() => done(null));
      return true;
    }) as Write;
  }

  send(message: StdioData): void {
    if (message.data.length === 0) return;
    if (this.calls.size === 0) {
      this.pending.push(message);
      this.pendingBytes += message.data.length;
      while (this.pendingBytes > this.maxBuffered && this.pending.length > 0) this.pendingBytes -= this.pending.shift()!.data.length;
      return;
    }
    for (const call of this.calls) call.write(message);
  }

  /** A host subscribed: give it what was kept, then everything new, until close(). */
  subscribe(call: Call): void {
    this.calls.add(call);
    const kept = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const m of kept) call.write(m);
    const drop = (): void => {
      this.calls.delete(call);
    };
    call.on('cancelled', drop);
    call.on('close', drop);
    call.on('error', drop);
  }

  /** Gives process.stdout/stderr back and ends every stream. */
  close(): void {
    this.restore?.();
    this.restore = undefined;
    for (const call of this.calls) call.end();
    this.calls.clear();
  }
}
