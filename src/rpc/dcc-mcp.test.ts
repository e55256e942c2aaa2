/**
 * The dcc-mcp-core envelope dialect at the RPC level: a wirecall server telling the dialect
 * of each connection from its first frame, a raw envelope peer (our codec on a plain
 * socket) driving it, and `connect(…, { dialect: 'dcc-mcp' })`. The same against the real
 * dcc-mcp-core is in dcc-mcp.interop.test.ts.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DeadlineExceeded, NotSupported, ProtocolError, RemoteError } from '../errors.js';
import {
  encodeDccNotify,
  encodeDccPing,
  encodeDccPong,
  encodeDccRequest,
  encodeDccResponse,
  encodeDccShutdown,
  newEnvelopeId,
  type DccMcpMessage,
  type DccRequest,
} from '../wire/dcc-mcp.js';
import { EnvelopeSocket } from '../test-util/envelope-socket.js';
import { Scratch } from '../test-util/scratch.js';
import { waitFor } from '../test-util/wait.js';
import { connect } from './client.js';
import type { Connection } from './connection.js';
import { createServer, type Server, type ServerOptions } from './server.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

async function serve(options: ServerOptions = {}): Promise<{ server: Server; port: number; url: string }> {
  const server = scratch.server(createServer({ heartbeatInterval: 0, ...options }));
  server.register('echo', (p: unknown) => p);
  server.register('add', ({ a, b }: { a: number; b: number }) => a + b);
  server.register('fail', () => {
    throw new Error('boom');
  });
  const url = await server.listen('tcp://127.0.0.1:0');
  return { server, port: Number(new URL(url).port), url };
}

async function envelopePeer(port: number): Promise<EnvelopeSocket> {
  const peer = await EnvelopeSocket.open(port, 'wirecall server');
  scratch.socket(peer.socket);
  return peer;
}

function expectType<T extends DccMcpMessage['type']>(m: DccMcpMessage, type: T): Extract<DccMcpMessage, { type: T }> {
  expect(m.type).toBe(type);
  return m as Extract<DccMcpMessage, { type: T }>;
}

describe('a wirecall server and a dcc-mcp-core peer', () => {
  it('serves native and dcc-mcp clients on one port at the same time', async () => {
    const { port, url } = await serve({ dccMcp: { codec: 'json' } });
    const native = await connect(url, { heartbeatInterval: 0 });
    const envelope = await envelopePeer(port);
    const dcc = await connect(url, { dialect: 'dcc-mcp', dccMcp: { codec: 'json' }, heartbeatInterval: 0 });
    scratch.server(native);
    scratch.server(dcc);
    const id = newEnvelopeId();
    envelope.write(encodeDccRequest(id, 'add', Buffer.from('{"a":2,"b":3}')));
    const [a, b, c] = await Promise.all([native.call('add', { a: 1, b: 1 }), dcc.call('add', { a: 20, b: 22 }), envelope.next()]);
    expect(a).toBe(2);
    expect(b).toBe(42);
    const r = expectType(c, 'response');
    expect(r).toEqual({ type: 'response', id, success: true, payload: Buffer.from('5'), error: null });
    expect(native.peer?.dialect).toBe('wirecall');
    expect(dcc.peer?.dialect).toBe('dcc-mcp');
  });

  it('hands params to handlers as a Buffer by default and sends a returned Buffer unchanged', async () => {
    const { port } = await serve();
    const peer = await envelopePeer(port);
    const bytes = Buffer.from([0, 1, 2, 200, 255]);
    const id = newEnvelopeId();
    peer.write(encodeDccRequest(id, 'echo', bytes));
    const r = expectType(await peer.next(), 'response');
    expect(r.success).toBe(true);
    expect(r.payload).toEqual(bytes);
  });

  it('decodes params with the codec chosen for the method', async () => {
    const { port } = await serve({ dccMcp: { methods: { add: 'json', echo: 'msgpack' } } });
    const peer = await envelopePeer(port);
    peer.write(encodeDccRequest(newEnvelopeId(), 'add', Buffer.from('{"a":40,"b":2}')));
    expect(expectType(await peer.next(), 'response').payload.toString()).toBe('42');
    peer.write(encodeDccRequest(newEnvelopeId(), 'echo', Buffer.from([0x92, 0x01, 0xa1, 0x78]))); // [1, "x"]
    expect([...expectType(await peer.next(), 'response').payload]).toEqual([0x92, 0x01, 0xa1, 0x78]);
  });

  it('answers a thrown error, an unknown method and undecodable params with success=false and a text', async () => {
    const { port } = await serve({ dccMcp: { codec: 'json' } });
    const peer = await envelopePeer(port);
    const ids = [newEnvelopeId(), newEnvelopeId(), newEnvelopeId()];
    peer.write(encodeDccRequest(ids[0]!, 'fail', Buffer.alloc(0)));
    peer.write(encodeDccRequest(ids[1]!, 'nope', Buffer.alloc(0)));
    peer.write(encodeDccRequest(ids[2]!, 'add', Buffer.from('{oops')));
    const answers = [await peer.next(), await peer.next(), await peer.next()].map((m) => expectType(m, 'response'));
    const byId = new Map(answers.map((a) => [a.id, a]));
    expect(byId.get(ids[0]!)).toMatchObject({ success: false, error: 'boom' });
    expect(byId.get(ids[0]!)!.payload.length).toBe(0);
    expect(byId.get(ids[1]!)).toMatchObject({ success: false });
    expect(byId.get(ids[1]!)!.error).toContain('nope');
    expect(byId.get(ids[2]!)!.error).toMatch(/params of add are not UTF-8 JSON/);
  });

  it('answers ping with pong of the same id, delivers notify, and closes on shutdown', async () => {
    const { server, port } = await serve({ dccMcp: { codec: 'json' } });
    const notified = new Promise<[string, unknown]>((resolve) => {
      server.once('connection', (c) => c.on('notification', (method, params) => resolve([method, params])));
    });
    const peer = await envelopePeer(port);
    const ping = newEnvelopeId();
    peer.write(encodeDccPing(ping));
    expect(expectType(await peer.next(), 'pong').id).toBe(ping);
    peer.write(encodeDccNotify(null, 'scene.saved', Buffer.from('{"path":"/a.ma"}')));
    expect(await notified).toEqual(['scene.saved', { path: '/a.ma' }]);
    const closed = new Promise<Connection>((resolve) => {
      for (const c of server.connections) c.once('close', () => resolve(c));
    });
    peer.write(encodeDccShutdown('bye'));
    await closed;
    await peer.whenClosed();
  });

  it('calls the dcc-mcp peer back on the same connection', async () => {
    const server = scratch.server(createServer({ heartbeatInterval: 0, dccMcp: { codec: 'json' } }));
    server.register('ask', async (_p: unknown, ctx) => `peer said ${String(await ctx.connection.call('question', { q: 1 }))}`);
    const url = await server.listen('tcp://127.0.0.1:0');
    const peer = await envelopePeer(Number(new URL(url).port));
    const id = newEnvelopeId();
    peer.write(encodeDccRequest(id, 'ask', Buffer.alloc(0)));
    const question = expectType(await peer.next(), 'request');
    expect(question.method).toBe('question');
    expect(JSON.parse(question.params.toString())).toEqual({ q: 1 });
    peer.write(encodeDccResponse(question.id, true, Buffer.from('"yes"'), null));
    const answer = expectType(await peer.next(), 'response');
    expect(answer.id).toBe(id);
    expect(JSON.parse(answer.payload.toString())).toBe('peer said yes');
  });

  it('cuts a peer that sends a malformed envelope silently, other connections untouched', async () => {
    const { server, port, url } = await serve();
    const native = scratch.server(await connect(url, { heartbeatInterval: 0 }));
    const errors: unknown[] = [];
    server.on('connection', (c) => c.on('close', (e) => errors.push(e)));
    const peer = await envelopePeer(port);
    peer.write(encodeDccPing(newEnvelopeId()));
    await peer.next();
    peer.write(Buffer.from([0, 0, 0, 6, 0x91, 0xa4, 0x6e, 0x6f, 0x70, 0x65])); // ["nope"]: no such envelope
    await peer.whenClosed();
    expect(peer.pending).toBe(0); // nothing was sent before the close
    await waitFor('the close event', () => errors.length === 1);
    expect(errors[0]).toBeInstanceOf(ProtocolError);
    expect(await native.call('echo', 7)).toBe(7);
  });

  it('refuses dcc-mcp peers, with a shutdown saying why, when they are not among its dialects (the default with a token)', async () => {
    for (const options of [{ dialects: ['wirecall'] as const }, { token: 'secret' }]) {
      const { port } = await serve(options);
      const peer = await envelopePeer(port);
      peer.write(encodeDccPing(newEnvelopeId()));
      const shutdown = expectType(await peer.next(), 'shutdown');
      expect(shutdown.reason).toContain('dialects');
      await peer.whenClosed();
    }
  });

  it('serves a dcc-mcp client that stays silent past handshakeTimeout, once it answers the ping it is asked', async () => {
    const { port } = await serve({ handshakeTimeout: 100 });
    const peer = await envelopePeer(port);
    const ping = expectType(await peer.next(), 'ping'); // sent after 100 ms of silence
    peer.write(encodeDccPong(ping.id));
    await new Promise((r) => setTimeout(r, 300)); // well past the second 100 ms
    const id = newEnvelopeId();
    peer.write(encodeDccRequest(id, 'echo', Buffer.from('late')));
    const r = expectType(await peer.next(), 'response');
    expect(r).toMatchObject({ id, success: true });
    expect(r.payload.toString()).toBe('late');
  });

  it('takes dcc-mcp peers alone when asked to, refusing native clients', async () => {
    const { port, url } = await serve({ dialects: ['dcc-mcp'] });
    await expect(connect(url, { heartbeatInterval: 0 })).rejects.toThrow(/only dcc-mcp-core's envelope/);
    const peer = await envelopePeer(port);
    peer.write(encodeDccPing(newEnvelopeId()));
    expectType(await peer.next(), 'pong');
  });
});

describe("connect(…, { dialect: 'dcc-mcp' })", () => {
  /** A raw envelope server: the test answers what it receives. */
  async function envelopeServer(): Promise<{ port: number; peer: Promise<EnvelopeSocket> }> {
    let accept!: (s: EnvelopeSocket) => void;
    const peer = new Promise<EnvelopeSocket>((resolve) => (accept = resolve));
    const server = net.createServer((socket) => accept(EnvelopeSocket.wrap(socket, 'wirecall client')));
    scratch.server({ close: () => new Promise((r) => server.close(() => r(undefined))) });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as net.AddressInfo).port, peer };
  }

  it('refuses streams with NotSupported and keeps a call timeout locally', async () => {
    const { port, peer } = await envelopeServer();
    const conn = scratch.server(await connect(`tcp://127.0.0.1:${port}`, { dialect: 'dcc-mcp', heartbeatInterval: 0 }));
    const stream = conn.stream('ticks');
    await expect(stream[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(NotSupported);
    const late = conn.call('slow', 'x', { timeout: 50 });
    const server = await peer;
    const request = expectType(await server.next(), 'request');
    await expect(late).rejects.toBeInstanceOf(DeadlineExceeded);
    // Its late answer is dropped; the next call gets its own.
    server.write(encodeDccResponse(request.id, true, Buffer.from('late'), null));
    const next = conn.call('fast', 'y');
    const second = expectType(await server.next(), 'request');
    server.write(encodeDccResponse(second.id, true, Buffer.from('own'), null));
    expect((await next as Buffer).toString()).toBe('own');
  });

  it('turns success=false into a RemoteError with the text', async () => {
    const { port, peer } = await envelopeServer();
    const conn = scratch.server(await connect(`tcp://127.0.0.1:${port}`, { dialect: 'dcc-mcp', heartbeatInterval: 0 }));
    const call = conn.call('x', Buffer.from('p'));
    const server = await peer;
    const request = expectType(await server.next(), 'request');
    expect(request.params.toString()).toBe('p');
    server.write(encodeDccResponse(request.id, false, Buffer.alloc(0), 'no such scene'));
    const err = await call.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).message).toBe('no such scene');
  });

  it(`holds calls beyond maxCallsInFlight back, in order, and sends them as answers come`, async () => {
    const { port, peer } = await envelopeServer();
    const conn = scratch.server(
      await connect(`tcp://127.0.0.1:${port}`, { dialect: 'dcc-mcp', dccMcp: { codec: 'json', maxCallsInFlight: 4 }, heartbeatInterval: 0 }),
    );
    const calls = Array.from({ length: 10 }, (_, i) => conn.call('n', i));
    const server = await peer;
    const outstanding: DccRequest[] = [];
    const order: unknown[] = [];
    const take = async (): Promise<void> => {
      const r = expectType(await server.next(), 'request');
      order.push(JSON.parse(r.params.toString()));
      outstanding.push(r);
    };
    for (let i = 0; i < 4; i++) await take();
    await new Promise((r) => setTimeout(r, 50));
    expect(server.pending).toBe(0); // the other six wait
    while (outstanding.length > 0) {
      const r = outstanding.shift()!;
      server.write(encodeDccResponse(r.id, true, r.params, null));
      if (order.length < 10) await take();
      expect(outstanding.length + server.pending).toBeLessThanOrEqual(4);
    }
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await Promise.all(calls)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('answers the peer’s requests with its handlers and sends notifications', async () => {
    const { port, peer } = await envelopeServer();
    const conn = scratch.server(
      await connect(`tcp://127.0.0.1:${port}`, { dialect: 'dcc-mcp', dccMcp: { codec: 'json' }, heartbeatInterval: 0, handlers: { twice: (n: unknown) => (n as number) * 2 } }),
    );
    conn.notify('progress', { done: 1 });
    const server = await peer;
    const note = expectType(await server.next(), 'notify');
    expect(note).toMatchObject({ id: null, topic: 'progress' });
    expect(JSON.parse(note.data.toString())).toEqual({ done: 1 });
    const id = newEnvelopeId();
    server.write(encodeDccRequest(id, 'twice', Buffer.from('21')));
    const answer = expectType(await server.next(), 'response');
    expect(answer).toMatchObject({ id, success: true });
    expect(answer.payload.toString()).toBe('42');
    const rtt = conn.ping();
    const ping = expectType(await server.next(), 'ping');
    server.write(encodeDccResponse(newEnvelopeId(), true, Buffer.alloc(0), null)); // an answer to nothing: ignored
    server.write(encodeDccPong(ping.id));
    expect(await rtt).toBeGreaterThanOrEqual(0);
    await conn.close();
    expectType(await server.next(), 'shutdown');
  });
});
