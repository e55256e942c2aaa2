/** A raw socket speaking the dcc-mcp envelope through our codec: what the tests drive a Python peer, or a wirecall server, with. */
import net from 'node:net';
import { dccMcpDialect, dccMcpMaxElements, type DccMcpMessage } from '../wire/dcc-mcp.js';
import { FrameDecoder } from '../wire/frame-decoder.js';

export class EnvelopeSocket {
  closed = false;
  private readonly inbox: DccMcpMessage[] = [];
  private waiter: (() => void) | undefined;

  private constructor(
    readonly socket: net.Socket,
    /** Who is on the other end, for the failure message. */
    private readonly peer: string,
  ) {
    const decoder = new FrameDecoder((s, a, b) => this.inbox.push(dccMcpDialect.decodeScanned(s, a, b)), {
      maxMessageElements: dccMcpMaxElements(8 * 1024 * 1024),
    });
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  /** Speak the envelope on an accepted socket. */
  static wrap(socket: net.Socket, peer: string): EnvelopeSocket {
    return new EnvelopeSocket(socket, peer);
  }

  /** Connect to a TCP port on 127.0.0.1, or a Unix socket path. */
  static async open(target: number | string, peer: string): Promise<EnvelopeSocket> {
    const socket = typeof target === 'number' ? net.connect(target, '127.0.0.1') : net.connect(target);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    return new EnvelopeSocket(socket, peer);
  }

  write(frame: Buffer): void {
    this.socket.write(frame);
  }

  /** The next envelope from the peer; throws if it closed first. */
  async next(): Promise<DccMcpMessage> {
    while (this.inbox.length === 0) {
      if (this.closed) throw new Error(`${this.peer} closed the connection`);
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    return this.inbox.shift()!;
  }

  /** Envelopes received and not yet taken by next(). */
  get pending(): number {
    return this.inbox.length;
  }

  /** Resolves once the peer has closed. */
  whenClosed(): Promise<void> {
    return this.closed ? Promise.resolve() : new Promise((resolve) => this.socket.once('close', () => resolve()));
  }
}
