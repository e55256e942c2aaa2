/**
 * raw: the physical limit. A plain `net` socket carrying length-prefixed MessagePack
 * frames (4-byte big-endian length), with the same msgpackr encoder as wirecall, writes
 * coalesced per tick, and no RPC machinery at all: no handshake, no call ids, no
 * envelope, no per-call table. The server answers frames in order, so the client
 * matches replies with a FIFO of resolvers.
 *
 * Client → server: a frame holding PARAMS (unary; the server decodes it, encodes the
 * decoded value again and sends it back) or `['stream', kind, count]` (the server sends
 * `count` frames, then a nil frame as end marker, respecting the socket's backpressure).
 */
import net from 'node:net';
import { Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import { dial, listenOn, socketServer, type TransportKind } from '../lib/sockets.js';
import { CHUNK, PARAMS, smallMessage, type StreamKind, type SystemClient, type SystemServer } from './common.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });
const smallUnpackr = new Unpackr({ useRecords: false, copyBuffers: true });
/**
 * Frames up to 128 bytes are decoded from a copy at offset 0 of a scratch buffer, as
 * wirecall does (src/wire/msgpack.ts): msgpackr sends the strings of a value that does
 * not end within the first 140 bytes of its buffer through its native extractor, which
 * costs more than it saves on small frames. raw gets the same trick so that the ratios
 * measure the RPC layer, not this quirk.
 */
const SMALL = 128;
const scratch = Buffer.allocUnsafe(SMALL);

function decode(source: Buffer, start: number, end: number): unknown {
  const length = end - start;
  if (length > SMALL) return unpackr.unpack(source, { start, end });
  for (let i = 0; i < length; i++) scratch[i] = source[start + i]!;
  return smallUnpackr.unpack(scratch, length);
}
const PREFIX = RESERVE_START_SPACE | 4;
/** Batches up to this size are copied into one buffer; larger ones go out corked. */
const COPY_LIMIT = 64 * 1024;

function frame(value: unknown): Buffer {
  const f = packr.pack(value, PREFIX);
  f.writeUInt32BE(f.length - 4, 0);
  return f;
}

/** Splits a byte stream into frames; whole frames are decoded in place, split ones copied once. */
class Splitter {
  private pending: Buffer | null = null;
  private fill = 0;
  private header = Buffer.alloc(4);
  private headerFill = 0;

  constructor(private readonly onValue: (value: unknown) => void) {}

  push(chunk: Buffer): void {
    const end = chunk.length;
    let at = 0;
    while (at < end) {
      if (this.pending !== null) {
        const n = Math.min(this.pending.length - this.fill, end - at);
        chunk.copy(this.pending, this.fill, at, at + n);
        this.fill += n;
        at += n;
        if (this.fill === this.pending.length) {
          const whole = this.pending;
          this.pending = null;
          this.onValue(decode(whole, 0, whole.length));
        }
        continue;
      }
      let length: number;
      if (this.headerFill === 0 && end - at >= 4) {
        length = chunk.readUInt32BE(at);
        at += 4;
      } else {
        const n = Math.min(4 - this.headerFill, end - at);
        chunk.copy(this.header, this.headerFill, at, at + n);
        this.headerFill += n;
        at += n;
        if (this.headerFill < 4) break;
        this.headerFill = 0;
        length = this.header.readUInt32BE(0);
      }
      if (end - at >= length) {
        this.onValue(decode(chunk, at, at + length));
        at += length;
      } else {
        this.pending = Buffer.allocUnsafe(length);
        this.fill = 0;
      }
    }
  }
}

/** Frames written during one tick leave in one socket write. */
class TickWriter {
  private queue: Buffer[] = [];
  private bytes = 0;
  private scheduled = false;
  private readonly flushNow = (): void => {
    this.scheduled = false;
    this.flush();
  };

  constructor(private readonly socket: net.Socket) {}

  write(f: Buffer): void {
    this.queue.push(f);
    this.bytes += f.length;
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flushNow);
    }
  }

  /** Returns what socket.write returned (false: wait for 'drain'). */
  flush(): boolean {
    const queue = this.queue;
    if (queue.length === 0) return true;
    const total = this.bytes;
    this.queue = [];
    this.bytes = 0;
    if (queue.length === 1) return this.socket.write(queue[0]!);
    if (total <= COPY_LIMIT) {
      const batch = Buffer.allocUnsafe(total);
      let offset = 0;
      for (const f of queue) offset += f.copy(batch, offset);
      return this.socket.write(batch);
    }
    this.socket.cork();
    let ok = true;
    for (const f of queue) ok = this.socket.write(f);
    this.socket.uncork();
    return ok;
  }
}

const END = frame(null);

/**
 * Send `count` stream messages: frames batched up to COPY_LIMIT per write; when the
 * socket asks for a drain, stop and continue on 'drain'.
 */
function produce(socket: net.Socket, kind: StreamKind, count: number): void {
  const writer = new TickWriter(socket);
  let seq = 0;
  const pump = (): void => {
    while (seq < count) {
      let batched = 0;
      while (seq < count && batched < COPY_LIMIT) {
        const f = frame(kind === 'small' ? smallMessage(seq) : CHUNK);
        seq++;
        batched += f.length;
        writer.write(f);
      }
      if (seq === count) writer.write(END);
      if (!writer.flush() && !socket.destroyed) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

export async function startRawServer(transport: TransportKind): Promise<SystemServer> {
  const sockets = new Set<net.Socket>();
  const server = socketServer(transport, (socket) => {
    sockets.add(socket);
    const writer = new TickWriter(socket);
    const splitter = new Splitter((value) => {
      if (Array.isArray(value) && value[0] === 'stream') produce(socket, value[1] as StreamKind, value[2] as number);
      else writer.write(frame(value));
    });
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  return listenOn(server, transport, sockets);
}

export async function openRawClient(endpoint: string): Promise<SystemClient> {
  const socket = await dial(endpoint);
  const writer = new TickWriter(socket);
  // Replies arrive in order: a FIFO of resolvers (an array with a moving head).
  let waiters: ((value: unknown) => void)[] = [];
  let head = 0;
  // While a stream is being received: count its messages until the nil end marker.
  let streamed = 0;
  let streamDone: ((n: number) => void) | undefined;
  const splitter = new Splitter((value) => {
    if (streamDone !== undefined) {
      if (value === null) {
        const done = streamDone;
        streamDone = undefined;
        done(streamed);
      } else streamed++;
      return;
    }
    waiters[head++]!(value);
    if (head === waiters.length) {
      waiters = [];
      head = 0;
    }
  });
  socket.on('data', (chunk: Buffer) => splitter.push(chunk));
  const reqFrame = (): Buffer => frame(PARAMS);
  return {
    unary: () =>
      new Promise((resolve) => {
        waiters.push(resolve);
        writer.write(reqFrame());
      }),
    stream: (kind, count) =>
      new Promise<number>((resolve) => {
        streamed = 0;
        streamDone = resolve;
        writer.write(frame(['stream', kind, count]));
      }),
    close: async () => {
      socket.destroy();
    },
  };
}
