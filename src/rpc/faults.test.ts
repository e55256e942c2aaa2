/**
 * Misbehaving peers, driven frame by frame with RawPeer / RawServer over real Unix
 * sockets: each fault must end only the connection it happened on, with a typed error.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConnectionClosed,
  ConnectionLost,
  FrameTooLarge,
  HandshakeTimeout,
  ProtocolError,
  Status,
  connect,
  type Connection,
  type ServerOptions,
  type ConnectOptions,
} from '../index.js';
import { HELLO, RawPeer, RawServer, REJECT, WELCOME, helloBody, welcomeBody } from '../test-util/raw-peer.js';
import { startServer as startTestServer, type TestServer } from '../test-util/rpc-server.js';
import { Scratch } from '../test-util/scratch.js';

const CALL = 16;
const RESULT = 17;
const ERROR = 18;
const PING = 48;
const PONG = 49;
const SHUTDOWN = 50;

const scratch = new Scratch();
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await scratch.cleanup();
});

function startServer(options: ServerOptions = {}): Promise<TestServer> {
  return startTestServer(scratch, options, (server) => {
    server.register('echo', (p) => p);
    server.register('hang', (_p, ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))));
  });
}

async function rawClient(path: string, hello = helloBody()): Promise<RawPeer> {
  const peer = await RawPeer.connect(path);
  cleanups.push(() => peer.socket.destroy());
  peer.send([HELLO, hello]);
  return peer;
}

async function rawServer(): Promise<RawServer> {
  const raw = new RawServer();
  await raw.listen();
  cleanups.push(() => raw.close());
  return raw;
}

/** A raw server that has accepted our client and answered its HELLO. */
async function clientAgainstRaw(options: ConnectOptions = {}): Promise<{ conn: Connection; peer: RawPeer }> {
  const raw = await rawServer();
  const pending = connect(`unix:${raw.path}`, { heartbeatInterval: 0, ...options });
  const peer = await raw.accepted();
  cleanups.push(() => peer.socket.destroy());
  const hello = (await peer.next()) as [number, Record<string, unknown>];
  expect(hello[0]).toBe(HELLO);
  peer.send([WELCOME, welcomeBody()]);
  const conn = await pending;
  cleanups.push(() => conn.destroy());
  return { conn, peer };
}

describe('server side: one bad peer never disturbs the others', () => {
  it('closes a connection whose frame prefix is over the limit, and serves the rest', async () => {
    const { url, path } = await startServer({ maxFrameSize: 1024 });
    const good = await connect(url, { heartbeatInterval: 0 });
    cleanups.push(() => good.close());
    const bad = await rawClient(path);
    expect(((await bad.next()) as unknown[])[0]).toBe(WELCOME);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(10 * 1024 * 1024);
    bad.sendBytes(prefix);
    const last = (await bad.next()) as [number, string];
    expect(last[0]).toBe(SHUTDOWN);
    expect(last[1]).toContain('ERR_FRAME_TOO_LARGE');
    await bad.waitClosed();
    expect(await good.call('echo', 'still here')).toBe('still here');
  });

  it('closes a connection that sends an undecodable payload, and serves the rest', async () => {
    const { url, path } = await startServer();
    const good = await connect(url, { heartbeatInterval: 0 });
    cleanups.push(() => good.close());
    const inflight = good.call('echo', 'before');
    const bad = await rawClient(path);
    await bad.next();
    bad.sendBytes(Buffer.from([0, 0, 0, 2, 0xc1, 0xc1])); // 0xc1 is never valid MessagePack
    const last = (await bad.next()) as [number, string];
    expect(last[0]).toBe(SHUTDOWN);
    expect(last[1]).toContain('ERR_PROTOCOL');
    await bad.waitClosed();
    expect(await inflight).toBe('before');
    expect(await good.call('echo', 'after')).toBe('after');
  });

  it('rejects a protocol version it does not speak, with a reason', async () => {
    const { path } = await startServer();
    const peer = await rawClient(path, helloBody({ versions: [99] }));
    const reply = (await peer.next()) as [number, string, string];
    expect(reply[0]).toBe(REJECT);
    expect(reply[1]).toBe('VERSION_MISMATCH');
    expect(reply[2]).toContain('99');
    await peer.waitClosed();
  });

  it('rejects a first frame that is not a HELLO', async () => {
    const { path } = await startServer();
    const peer = await RawPeer.connect(path);
    cleanups.push(() => peer.socket.destroy());
    peer.send([CALL, 1, 'echo', 1, null]);
    const reply = (await peer.next()) as [number, string, string];
    expect(reply[0]).toBe(REJECT);
    expect(reply[1]).toBe('PROTOCOL');
    await peer.waitClosed();
  });

  it('hangs up on a peer that never says hello', async () => {
    const { path } = await startServer({ handshakeTimeout: 100, dialects: ['wirecall'] });
    const peer = await RawPeer.connect(path);
    cleanups.push(() => peer.socket.destroy());
    await peer.waitClosed(2000);
  });

  it('asks a silent peer with a dcc-mcp ping when that dialect is allowed, and cuts it after as long again without an answer', async () => {
    const { path } = await startServer({ handshakeTimeout: 200 });
    const peer = await RawPeer.connect(path);
    cleanups.push(() => peer.socket.destroy());
    const bytes: Buffer[] = [];
    peer.socket.on('data', (d: Buffer) => bytes.push(d));
    const started = Date.now();
    await peer.waitClosed(3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    // What it was sent: one dcc-mcp ping (["ping", bin16, uint]), then nothing.
    const all = Buffer.concat(bytes);
    expect(all.readUInt32BE(0)).toBe(all.length - 4);
    expect(all.subarray(4, 10)).toEqual(Buffer.from([0x93, 0xa4, 0x70, 0x69, 0x6e, 0x67]));
  });

  it('refuses a large frame before the handshake', async () => {
    const { path } = await startServer({ dialects: ['wirecall'] });
    const peer = await RawPeer.connect(path);
    cleanups.push(() => peer.socket.destroy());
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(1024 * 1024);
    peer.sendBytes(prefix);
    await peer.waitClosed();
  });

  it('refuses at once a first frame longer than any dialect it takes allows', async () => {
    const { path } = await startServer({ maxFrameSize: 512 * 1024 });
    const peer = await RawPeer.connect(path);
    cleanups.push(() => peer.socket.destroy());
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(1024 * 1024);
    peer.sendBytes(prefix);
    await peer.waitClosed();
  });

  it('treats a call id reused while in flight as a protocol error', async () => {
    const { path } = await startServer();
    const peer = await rawClient(path);
    await peer.next();
    peer.send([CALL, 7, 'hang', null, null]);
    peer.send([CALL, 7, 'hang', null, null]);
    const last = (await peer.next()) as [number, string];
    expect(last[0]).toBe(SHUTDOWN);
    expect(last[1]).toContain('reused call id 7');
    await peer.waitClosed();
  });

  it('answers DEADLINE_EXCEEDED when a call outlives its timeout', async () => {
    const { path } = await startServer();
    const peer = await rawClient(path);
    await peer.next();
    peer.send([CALL, 1, 'hang', null, 50]);
    const reply = (await peer.next()) as [number, number, number, { name: string }];
    expect(reply.slice(0, 3)).toEqual([ERROR, 1, Status.DEADLINE_EXCEEDED]);
  });

  it('answers pings with the same nonce', async () => {
    const { path } = await startServer();
    const peer = await rawClient(path);
    await peer.next();
    peer.send([PING, 4242]);
    expect(await peer.next()).toEqual([PONG, 4242]);
  });

  it('keeps serving 20 clients while bad peers come and go', async () => {
    const { url, path } = await startServer();
    const clients = await Promise.all(Array.from({ length: 20 }, () => connect(url, { heartbeatInterval: 0 })));
    for (const c of clients) cleanups.push(() => c.close());
    const work = Promise.all(clients.flatMap((c, i) => Array.from({ length: 50 }, (_, j) => c.call('echo', i * 1000 + j))));
    for (let k = 0; k < 5; k++) {
      const bad = await RawPeer.connect(path);
      cleanups.push(() => bad.socket.destroy());
      bad.sendBytes(Buffer.from([0, 0, 0, 3, 0x93, 0xc1, 0xc1]));
    }
    const results = await work;
    expect(results).toEqual(clients.flatMap((_c, i) => Array.from({ length: 50 }, (_, j) => i * 1000 + j)));
  });
});

describe('client side', () => {
  it('times out a handshake the server never answers', async () => {
    const raw = await rawServer();
    const err = await connect(`unix:${raw.path}`, { handshakeTimeout: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandshakeTimeout);
  });

  it("tells callers the peer's reason once it shuts down", async () => {
    const { conn, peer } = await clientAgainstRaw();
    const pending = conn.call('slow').catch((e: unknown) => e);
    await peer.next(); // the CALL
    peer.send([SHUTDOWN, 'going down for maintenance']);
    await expect.poll(() => conn.state).toBe('closing');
    const refused = (await conn.call('late').catch((e: unknown) => e)) as Error;
    expect(refused).toBeInstanceOf(ConnectionClosed);
    expect(refused.message).toBe('connection is closing: the peer shut down (going down for maintenance)');
    peer.socket.end();
    const failed = (await pending) as Error;
    expect(failed).toBeInstanceOf(ConnectionClosed);
    expect(failed.message).toContain('going down for maintenance');
  });

  it('fails every pending call with FrameTooLarge when the server sends an oversized frame', async () => {
    const { conn, peer } = await clientAgainstRaw({ maxFrameSize: 4096 });
    const calls = [conn.call('a'), conn.call('b'), conn.call('c')].map((p) => p.catch((e: unknown) => e));
    await peer.next();
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(5000);
    peer.sendBytes(prefix);
    for (const err of await Promise.all(calls)) expect(err).toBeInstanceOf(FrameTooLarge);
    expect(conn.state).not.toBe('connected');
  });

  it('fails every pending call with ProtocolError on an undecodable frame', async () => {
    const { conn, peer } = await clientAgainstRaw();
    const calls = [conn.call('a'), conn.call('b')].map((p) => p.catch((e: unknown) => e));
    await peer.next();
    peer.sendBytes(Buffer.from([0, 0, 0, 1, 0xc1]));
    for (const err of await Promise.all(calls)) expect(err).toBeInstanceOf(ProtocolError);
  });

  it('drops results for unknown ids quietly', async () => {
    const { conn, peer } = await clientAgainstRaw();
    const call = conn.call('x');
    const frame = (await peer.next()) as [number, number];
    expect(frame[0]).toBe(CALL);
    peer.send([RESULT, frame[1] + 1000, 'stray']);
    peer.send([RESULT, frame[1], 'mine']);
    expect(await call).toBe('mine');
    expect(conn.state).toBe('connected');
  });

  it('declares a silent peer dead after three heartbeat intervals', async () => {
    const { conn } = await clientAgainstRaw({ heartbeatInterval: 50 });
    const pending = conn.call('never').catch((e: unknown) => e);
    const started = Date.now();
    const err = await pending;
    expect(err).toBeInstanceOf(ConnectionLost);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    await expect.poll(() => conn.state).toBe('closed');
  });

  it('stays up while the peer answers its pings', async () => {
    const { conn, peer } = await clientAgainstRaw({ heartbeatInterval: 30 });
    const stop = Date.now() + 400;
    while (Date.now() < stop) {
      const frame = (await peer.next(1000)) as [number, number];
      if (frame[0] === PING) peer.send([PONG, frame[1]]);
    }
    expect(conn.state).toBe('connected');
  });
});

describe('connect abort', () => {
  it('aborts a handshake that hangs, with the signal reason', async () => {
    const raw = await rawServer();
    const ac = new AbortController();
    const pending = connect(`unix:${raw.path}`, { signal: ac.signal, handshakeTimeout: 10_000 }).catch((e: unknown) => e);
    const peer = await raw.accepted();
    await peer.next(); // the HELLO, never answered
    const reason = new Error('user gave up');
    ac.abort(reason);
    expect(await pending).toBe(reason);
    await peer.waitClosed();
  });
});

describe('talking to something that is not wirecall', () => {
  it('says so when the first bytes are not a frame (an HTTP server, say)', async () => {
    const raw = await rawServer();
    const pending = connect(`unix:${raw.path}`, { heartbeatInterval: 0 }).catch((e: unknown) => e);
    const peer = await raw.accepted();
    await peer.next();
    peer.sendBytes(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const err = (await pending) as ProtocolError;
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.message).toContain('does not speak the wirecall protocol');
    expect(err.message).toContain('HTTP/1.1 400');
  });
});
