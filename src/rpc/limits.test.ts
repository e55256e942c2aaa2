/**
 * Limits a server puts on one peer: unread replies, refusals, slow frames, stream
 * credit, connection and handshake counts, failed handshakes, silence. Each test drives
 * a misbehaving peer by hand (RawPeer) over a real socket and checks that only that peer
 * is cut, with a typed error and a reason it can read.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConnectionLost,
  HandshakeRejected,
  LimitExceeded,
  Status,
  connect,
  type Connection,
  type Server,
  type ServerOptions,
  type TransportError,
} from '../index.js';
import { HELLO, RawPeer, RawServer, WELCOME, helloBody, welcomeBody } from '../test-util/raw-peer.js';
import { startServer as startTestServer, type TestServer } from '../test-util/rpc-server.js';
import { Scratch } from '../test-util/scratch.js';

const CALL = 16;
const ERROR = 18;
const STREAM_OPEN = 32;
const SHUTDOWN = 50;
const MAX_U32 = 2 ** 32 - 1;

const scratch = new Scratch();
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await scratch.cleanup();
});

function startServer(options: ServerOptions = {}, endpoint?: string): Promise<TestServer> {
  return startTestServer(
    scratch,
    options,
    (server) => {
      server.register('echo', (p) => p);
      server.register('hang', (_p, ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))));
      server.register('later', ({ ms, size }: { ms: number; size: number }) => new Promise((r) => setTimeout(() => r(Buffer.alloc(size, 1)), ms)));
    },
    endpoint,
  );
}

/** A raw client past its handshake. */
async function rawClient(path: string): Promise<RawPeer> {
  const peer = await RawPeer.connect(path);
  cleanups.push(() => peer.socket.destroy());
  peer.send([HELLO, helloBody({ maxFrameSize: 64 << 20 })]);
  expect(((await peer.next()) as unknown[])[0]).toBe(WELCOME);
  return peer;
}

/** The server side of the next connection, and how it closes. */
function nextServerConnection(server: Server): Promise<{ connection: Connection; closed: Promise<TransportError | undefined> }> {
  return new Promise((resolve) => {
    server.once('connection', (connection) => {
      const closed = new Promise<TransportError | undefined>((r) => connection.once('close', r));
      resolve({ connection, closed });
    });
  });
}

/** Frames up to the peer's close, without waiting on a peer that stopped reading. */
async function framesUntilClosed(peer: RawPeer, ms = 5000): Promise<unknown[][]> {
  const out: unknown[][] = [];
  for (;;) {
    try {
      out.push((await peer.next(ms)) as unknown[]);
    } catch {
      return out;
    }
  }
}

describe('a peer that does not read', () => {
  it('is cut after slowPeerTimeout, with a LimitExceeded the server can see', async () => {
    const { server, path } = await startServer({ highWaterMark: 64 * 1024, slowPeerTimeout: 300 });
    const serverSide = nextServerConnection(server);
    const peer = await rawClient(path);
    const { closed } = await serverSide;
    peer.socket.pause();
    const params = Buffer.alloc(16 * 1024, 7);
    for (let id = 1; id <= 200; id++) peer.send([CALL, id, 'echo', params, null]);
    const started = Date.now();
    const error = await closed;
    expect(error).toBeInstanceOf(LimitExceeded);
    expect(error?.message).toMatch(/read none of .*slowPeerTimeout/);
    // Cut about 300 ms after the pressure began; bounded well under the old "never".
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('is cut at once when its unsent replies pass maxWriteBuffer', async () => {
    const { server, path } = await startServer({ highWaterMark: 64 * 1024, maxWriteBuffer: 1024 * 1024, slowPeerTimeout: 60_000 });
    const serverSide = nextServerConnection(server);
    const peer = await rawClient(path);
    const { connection, closed } = await serverSide;
    peer.socket.pause();
    // Twenty replies of 256 KiB come due together while reading is paused.
    for (let id = 1; id <= 20; id++) peer.send([CALL, id, 'later', { ms: 100, size: 256 * 1024 }, null]);
    await expect.poll(() => connection.activeCalls).toBe(20);
    const error = await closed;
    expect(error).toBeInstanceOf(LimitExceeded);
    expect(error?.message).toContain('maxWriteBuffer');
  });

  it('pauses reading at the high-water mark and resumes once it reads again', async () => {
    const { server, path } = await startServer({ highWaterMark: 64 * 1024, slowPeerTimeout: 10_000 });
    const serverSide = nextServerConnection(server);
    const peer = await rawClient(path);
    const { connection } = await serverSide;
    peer.socket.pause();
    const params = Buffer.alloc(32 * 1024, 7);
    for (let id = 1; id <= 100; id++) peer.send([CALL, id, 'echo', params, null]);
    await new Promise((r) => setTimeout(r, 200));
    peer.socket.resume();
    const answered = new Set<number>();
    while (answered.size < 100) {
      const frame = (await peer.next(5000)) as [number, number];
      answered.add(frame[1]);
    }
    expect(connection.state).toBe('connected');
  });
});

describe('two peers that both write faster than the other reads', () => {
  it('do not deadlock: a side with calls in flight keeps reading their answers (8 x 64 KiB and 8 x 1 MiB each way)', async () => {
    const { url } = await startServer();
    const client = await connect(url, { heartbeatInterval: 0 });
    cleanups.push(() => client.close());
    for (const size of [64 * 1024, 1024 * 1024]) {
      const payload = Buffer.alloc(size, 7);
      for (let round = 0; round < 5; round++) {
        const answers = await Promise.all(Array.from({ length: 8 }, () => client.call('echo', payload, { timeout: 10_000 })));
        expect(answers.every((a) => (a as Buffer).length === size)).toBe(true);
      }
    }
  });

  it('a peer that reads slowly but steadily is not cut by slowPeerTimeout', async () => {
    let produced = 0;
    const { server, path } = await startServer({ highWaterMark: 64 * 1024, slowPeerTimeout: 300 });
    server.registerStream('flood', async function* () {
      for (let i = 0; i < 400; i++) {
        produced++;
        yield Buffer.alloc(16 * 1024);
      }
    });
    const peer = await rawClient(path);
    peer.send([STREAM_OPEN, 1, 'flood', null, null, 1, MAX_U32, MAX_U32]);
    // Read in bursts, each pause shorter than slowPeerTimeout, for four times it in all.
    const until = Date.now() + 1200;
    while (Date.now() < until && !peer.closed) {
      peer.socket.pause();
      await new Promise((r) => setTimeout(r, 150));
      peer.socket.resume();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(peer.closed).toBe(false);
    expect(produced).toBeGreaterThan(20);
  });
});

describe('a peer that keeps calling past the concurrency limit', () => {
  it('is refused maxRefusedPerSecond times, then cut with a reason', async () => {
    const { path } = await startServer({ maxConcurrentCalls: 2, maxRefusedPerSecond: 10 });
    const peer = await rawClient(path);
    for (let id = 1; id <= 40; id++) peer.send([CALL, id, 'hang', null, null]);
    const frames = await framesUntilClosed(peer);
    const refused = frames.filter((f) => f[0] === ERROR && f[2] === Status.RESOURCE_EXHAUSTED);
    expect(refused).toHaveLength(10);
    const shutdown = frames.find((f) => f[0] === SHUTDOWN);
    expect(shutdown?.[1]).toMatch(/^ERR_LIMIT_EXCEEDED: .*maxRefusedPerSecond/);
    expect(peer.closed).toBe(true);
  });

  it('the same for STREAM_OPENs', async () => {
    const { server, path } = await startServer({ maxConcurrentCalls: 1, maxRefusedPerSecond: 5 });
    server.registerStream('forever', async function* (_p, ctx) {
      await new Promise((r) => ctx.signal.addEventListener('abort', r));
      yield 1;
    });
    const peer = await rawClient(path);
    for (let id = 1; id <= 30; id++) peer.send([STREAM_OPEN, id, 'forever', null, null, 1, 16, 65536]);
    const frames = await framesUntilClosed(peer);
    expect(frames.filter((f) => f[0] === ERROR && f[2] === Status.RESOURCE_EXHAUSTED)).toHaveLength(5);
    expect(frames.at(-1)?.[0]).toBe(SHUTDOWN);
  });

  it('a burst within the limit is answered, not cut', async () => {
    const { url } = await startServer({ maxConcurrentCalls: 4 });
    const client = await connect(url, { heartbeatInterval: 0 });
    cleanups.push(() => client.close());
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => client.call('later', { ms: 20, size: i })));
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(4);
    expect(client.state).toBe('connected');
    expect(await client.call('echo', 'still here')).toBe('still here');
  });
});

describe('a frame that never completes', () => {
  it('is cut after frameTimeout', async () => {
    const { path } = await startServer({ frameTimeout: 200 });
    const peer = await rawClient(path);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(100);
    peer.sendBytes(Buffer.concat([header, Buffer.from([0x95, 0x10, 0x01])]));
    const started = Date.now();
    const frames = await framesUntilClosed(peer);
    expect(frames.at(-1)?.[1]).toMatch(/^ERR_LIMIT_EXCEEDED: a frame was not completed within 200 ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('a frame trickled in pieces but completed in time is fine', async () => {
    const { path } = await startServer({ frameTimeout: 1000 });
    const peer = await rawClient(path);
    // [CALL, 1, "x", nil, nil]: a call of an unknown method, one byte at a time.
    const full = Buffer.from([0, 0, 0, 7, 0x95, 0x10, 0x01, 0xa1, 0x78, 0xc0, 0xc0]);
    for (let i = 0; i < full.length; i++) {
      peer.sendBytes(full.subarray(i, i + 1));
      await new Promise((r) => setTimeout(r, 20));
    }
    const answer = (await peer.next()) as unknown[];
    expect(answer.slice(0, 3)).toEqual([ERROR, 1, Status.METHOD_NOT_FOUND]);
  });
});

describe('stream credit a peer announces', () => {
  it('cannot make us produce past the high-water mark: a stream opened with 2^32-1 and never read', async () => {
    let produced = 0;
    const { server, path } = await startServer({ highWaterMark: 256 * 1024, slowPeerTimeout: 10_000 });
    server.registerStream('flood', async function* () {
      for (let i = 0; i < 100_000; i++) {
        produced++;
        yield Buffer.alloc(1024);
      }
    });
    const peer = await rawClient(path);
    peer.socket.pause();
    peer.send([STREAM_OPEN, 1, 'flood', null, null, 1, MAX_U32, MAX_U32]);
    await new Promise((r) => setTimeout(r, 400));
    // 256 KiB unsent, plus what the socket buffers in the kernel; without the gate the
    // whole stream (100 MB) was produced.
    expect(produced).toBeGreaterThan(100);
    expect(produced).toBeLessThan(2000);
  });

  it('producers of many streams wait while the connection is over its high-water mark', async () => {
    let produced = 0;
    const { server, path } = await startServer({ highWaterMark: 256 * 1024, slowPeerTimeout: 10_000 });
    server.registerStream('flood', async function* () {
      for (let i = 0; i < 100_000; i++) {
        produced++;
        yield Buffer.alloc(16 * 1024);
      }
    });
    const peer = await rawClient(path);
    peer.socket.pause();
    for (let id = 1; id <= 50; id++) peer.send([STREAM_OPEN, id, 'flood', null, null, 1, MAX_U32, MAX_U32]);
    await new Promise((r) => setTimeout(r, 400));
    // Without the gate: 50 streams × 4 MiB of credit = 12 800 messages of 16 KiB.
    // With it, about the high-water mark plus one message per stream (plus socket buffers).
    expect(produced).toBeLessThan(400);
  });
});

describe('connection limits', () => {
  it('refuses connections over maxConnections with UNAVAILABLE', async () => {
    const { url } = await startServer({ maxConnections: 2 });
    const a = await connect(url, { heartbeatInterval: 0 });
    const b = await connect(url, { heartbeatInterval: 0 });
    cleanups.push(() => a.close(), () => b.close());
    const err = await connect(url, { heartbeatInterval: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandshakeRejected);
    expect((err as HandshakeRejected).reason).toBe('UNAVAILABLE');
    await a.close();
    await expect.poll(async () => {
      const c = await connect(url, { heartbeatInterval: 0 }).catch(() => undefined);
      await c?.close();
      return c !== undefined;
    }).toBe(true);
  });

  it('drops the oldest silent handshake when maxPendingHandshakes is reached', async () => {
    const { url, path } = await startServer({ maxPendingHandshakes: 2, handshakeTimeout: 1000 });
    const silent = [await RawPeer.connect(path), await RawPeer.connect(path)];
    for (const s of silent) cleanups.push(() => s.socket.destroy());
    // Older than the grace a client gets to send its HELLO (handshakeTimeout / 5).
    await new Promise((r) => setTimeout(r, 300));
    const good = await connect(url, { heartbeatInterval: 0 });
    cleanups.push(() => good.close());
    await silent[0]!.waitClosed();
    expect(silent[1]!.closed).toBe(false);
    expect(await good.call('echo', 1)).toBe(1);
  });

  it('never drops a burst of good clients, however many connect at once', async () => {
    const { url } = await startServer({ maxPendingHandshakes: 2 });
    const clients = await Promise.all(Array.from({ length: 40 }, () => connect(url, { heartbeatInterval: 0 })));
    cleanups.push(() => Promise.all(clients.map((c) => c.close())));
    expect(await Promise.all(clients.map((c, i) => c.call('echo', i)))).toEqual(clients.map((_, i) => i));
  });
});

describe('failed handshakes', () => {
  it('are answered later each time, then a network peer is refused until its ban ends', async () => {
    const authThrottle = { baseDelay: 50, maxDelay: 400, maxFailures: 4, banTime: 1500 };
    const { url } = await startServer({ token: 'right', authThrottle }, 'tcp://127.0.0.1:0');
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const started = Date.now();
      const err = await connect(url, { token: 'wrong', heartbeatInterval: 0 }).catch((e: unknown) => e);
      delays.push(Date.now() - started);
      expect((err as HandshakeRejected).reason).toBe('UNAUTHENTICATED');
    }
    expect(delays[0]).toBeGreaterThanOrEqual(40);
    expect(delays[2]).toBeGreaterThanOrEqual(180);
    // Banned: even the right token is turned away at once, with the reason.
    const banned = await connect(url, { token: 'right', heartbeatInterval: 0 }).catch((e: unknown) => e);
    expect(banned).toBeInstanceOf(HandshakeRejected);
    expect((banned as Error).message).toMatch(/too many failed handshakes/);
    await new Promise((r) => setTimeout(r, 1600));
    const ok = await connect(url, { token: 'right', heartbeatInterval: 0 });
    cleanups.push(() => ok.close());
    expect(await ok.call('echo', 'in')).toBe('in');
  });

  it('local peers are slowed but never banned', async () => {
    const { url } = await startServer({ token: 'right', authThrottle: { baseDelay: 1, maxDelay: 5, maxFailures: 2, banTime: 60_000 } });
    for (let i = 0; i < 5; i++) await expect(connect(url, { token: 'wrong', heartbeatInterval: 0 })).rejects.toBeInstanceOf(HandshakeRejected);
    const ok = await connect(url, { token: 'right', heartbeatInterval: 0 });
    cleanups.push(() => ok.close());
    expect(await ok.call('echo', 2)).toBe(2);
  });
});

describe('dead-peer detection', () => {
  it('declares a silent peer dead 3 intervals after its last byte, not at the next tick after', async () => {
    const raw = new RawServer();
    await raw.listen();
    cleanups.push(() => raw.close());
    const pending = connect(`unix:${raw.path}`, { heartbeatInterval: 200 });
    const peer = await raw.accepted();
    cleanups.push(() => peer.socket.destroy());
    await peer.next();
    peer.send([WELCOME, welcomeBody()]);
    const conn = await pending;
    const lastByte = Date.now();
    const err = await new Promise<TransportError | undefined>((r) => conn.once('close', r));
    const took = Date.now() - lastByte;
    expect(err).toBeInstanceOf(ConnectionLost);
    expect(took).toBeGreaterThanOrEqual(590);
    // The tick-based check declared it at 4-5 intervals (800-1000 ms).
    expect(took).toBeLessThan(800);
  });

  it('a peer that keeps sending is never declared dead', async () => {
    const { url } = await startServer({ heartbeatInterval: 50 });
    const client = await connect(url, { heartbeatInterval: 50 });
    cleanups.push(() => client.close());
    await new Promise((r) => setTimeout(r, 400));
    expect(client.state).toBe('connected');
  });
});

describe('a handler that looks at ctx.signal only after the peer is gone', () => {
  it('finds it aborted, for a call and for a stream', async () => {
    const { server, url } = await startServer();
    const seen: boolean[] = [];
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    server.register('late', async (_p, ctx) => {
      started();
      await new Promise((r) => setTimeout(r, 150));
      seen.push(ctx.signal.aborted);
    });
    server.registerStream('lateStream', async function* (_p, ctx) {
      try {
        yield 1;
        await new Promise((r) => setTimeout(r, 150));
        yield 2;
      } finally {
        seen.push(ctx.signal.aborted);
      }
    });
    const client = await connect(url, { heartbeatInterval: 0 });
    void client.call('late').catch(() => {});
    const stream = client.stream('lateStream')[Symbol.asyncIterator]();
    expect((await stream.next()).value).toBe(1);
    await running;
    client.destroy();
    await expect.poll(() => seen.length).toBe(2);
    expect(seen).toEqual([true, true]);
  });
});

describe('a frame stopped right after its length prefix', () => {
  it('is cut after frameTimeout too', async () => {
    const { path } = await startServer({ frameTimeout: 200 });
    const peer = await rawClient(path);
    peer.sendBytes(Buffer.from([0, 0, 0, 100]));
    const frames = await framesUntilClosed(peer);
    expect(frames.at(-1)?.[1]).toMatch(/^ERR_LIMIT_EXCEEDED: a frame was not completed within 200 ms/);
  });
});
