/**
 * A hand-driven protocol peer for tests: real sockets, frames written and read one by
 * one, so tests can misbehave in ways a real Connection never would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameDecoder } from '../wire/frame-decoder.js';
import { packFrame, unpackPayload } from '../wire/msgpack.js';

export class RawPeer {
  readonly frames: unknown[] = [];
  closed = false;
  private waiters: Array<() => void> = [];
  private readonly decoder = new FrameDecoder((s, a, b, p = s.subarray(a, b)) => {
    this.frames.push(unpackPayload(p));
    this.wake();
  }, { maxFrameSize: 1 << 30 });

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => this.decoder.push(chunk));
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static connect(path: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path, () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  send(message: unknown): void {
    this.socket.write(packFrame(message));
  }

  sendBytes(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Next frame not yet taken, waiting up to `ms`. */
  async next(ms = 3000): Promise<unknown> {
    const deadline = Date.now() + ms;
    while (this.frames.length === 0) {
      if (this.closed) throw new Error('raw peer: socket closed');
      if (Date.now() > deadline) throw new Error('raw peer: no frame in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 20);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.frames.shift();
  }

  /** Resolves once the socket has closed, failing after `ms`. */
  async waitClosed(ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('raw peer: socket still open');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** A listening raw server; `accepted()` gives the next connection as a RawPeer. */
export class RawServer {
  private readonly queue: RawPeer[] = [];
  private readonly server: net.Server;
  readonly dir = mkdtempSync(join(tmpdir(), 'wc-raw-'));
  readonly path = join(this.dir, 's.sock');

  constructor() {
    this.server = net.createServer((s) => this.queue.push(new RawPeer(s)));
  }

  listen(): Promise<string> {
    return new Promise((resolve) => this.server.listen(this.path, () => resolve(`unix:${this.path}`)));
  }

  async accepted(ms = 3000): Promise<RawPeer> {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      if (Date.now() > deadline) throw new Error('raw server: nobody connected');
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.queue.shift()!;
  }

  async close(): Promise<void> {
    await new Promise((r) => this.server.close(r));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const HELLO = 1;
export const WELCOME = 2;
export const REJECT = 3;

/** A valid client HELLO body. */
export function helloBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { protocol: 'wirecall', versions: [1], peerName: 'raw', peerVersion: '0', maxFrameSize: 1 << 20, heartbeatMs: 0, ...overrides };
}

/** A valid server WELCOME body. */
export function welcomeBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    protocol: 'wirecall',
    version: 1,
    peerName: 'raw',
    peerVersion: '0',
    connectionId: '00000000-0000-4000-8000-000000000000',
    maxFrameSize: 1 << 20,
    heartbeatMs: 0,
    ...overrides,
  };
}
