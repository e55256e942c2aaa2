/**
 * DCC-Link at the RPC level: `connect(…, { dialect: 'dcc-link' })` against a raw DCC-Link
 * peer (our codec on a plain Unix socket, playing the DCC side), a wirecall server taking
 * DCC-Link clients beside native ones, and wirecall ⇄ wirecall over DCC-Link. The same
 * against the real dcc-mcp-core is in dcc-link.interop.test.ts.
 */
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CallCancelled, ConnectionClosed, DeadlineExceeded, MessageTooLarge, NotSupported, ProtocolError, RemoteError, type TransportError } from '../errors.js';
import { DccLinkStreamDecoder, encodeDccLink, encodeDccLinkBody, type DccLinkFrame, type DccLinkFrameInput } from '../wire/dcc-link.js';
import { Scratch } from '../test-util/scratch.js';
import { waitFor } from '../test-util/wait.js';
import { connect } from './client.js';
import type { Connection } from './connection.js';
import { dccLinkEndpoint, type DccLinkOptions, type DccLinkProgress } from './dcc-link-codec.js';
import { createServer, type ServerOptions } from './server.js';
import { dccLinkSocketPath } from '../wire/dcc-link.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** A raw DCC-Link socket through our codec: the DCC side of the channel, or a client of a wirecall server. */
class LinkPeer {
  closed = false;
  /** Bytes received in all. */
  received = 0;
  private readonly inbox: DccLinkFrame[] = [];
  private waiter: (() => void) | undefined;

  constructor(readonly socket: net.Socket) {
    const decoder = new DccLinkStreamDecoder((f) => this.inbox.push(f));
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      decoder.push(chunk);
      this.waiter?.();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    scratch.socket(socket);
  }

  static async dial(target: string): Promise<LinkPeer> {
    const socket = net.connect(target);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    return new LinkPeer(socket);
  }

  send(f: DccLinkFrameInput): void {
    this.socket.write(encodeDccLink(f));
  }

  async next(): Promise<DccLinkFrame> {
    while (this.inbox.length === 0) {
      if (this.closed) throw new Error('the other end closed the channel');
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    return this.inbox.shift()!;
  }

  get pending(): number {
    return this.inbox.length;
  }

  whenClosed(): Promise<void> {
    return this.closed ? Promise.resolve() : new Promise((resolve) => this.socket.once('close', () => resolve()));
  }
}

/** A DCC side listening like IpcChannelAdapter.create (a Unix socket), and a wirecall client connected to it. */
async function dccSide(options: DccLinkOptions = {}, extra: Record<string, unknown> = {}): Promise<{ peer: LinkPeer; client: Connection }> {
  const sock = path.join(scratch.dir(), 'dcc.sock');
  const accepted = new Promise<net.Socket>((resolve) => {
    const srv = net.createServer((s) => {
      srv.close();
      resolve(s);
    });
    srv.listen(sock);
  });
  const client = await connect(dccLinkEndpoint(sock), { dialect: 'dcc-link', heartbeatInterval: 0, dccLink: options, ...extra });
  scratch.server(client);
  return { peer: new LinkPeer(await accepted), client };
}

const body = (f: DccLinkFrame): unknown => JSON.parse(f.body.toString('utf8'));

describe("connect(…, { dialect: 'dcc-link' }) to a DCC side", () => {
  it('calls: a Call with seq = a fresh id and {"method","params"}, resolved by its Reply (bytes by default)', async () => {
    const { peer, client } = await dccSide();
    expect(client.peer).toMatchObject({ dialect: 'dcc-link', name: 'dcc-link', protocolVersion: 1, maxFrameSize: 16 * 1024 * 1024, heartbeatMs: 0 });
    const p1 = client.call('echo', { a: 1 });
    const p2 = client.call('noParams');
    const [c1, c2] = [await peer.next(), await peer.next()];
    expect(c1).toMatchObject({ type: 'call', version: 1 });
    expect(c2.seq).toBe(c1.seq + 1n);
    expect(body(c1)).toEqual({ method: 'echo', params: { a: 1 } });
    expect(c1.body.toString()).toBe('{"method":"echo","params":{"a":1}}');
    expect(body(c2)).toEqual({ method: 'noParams' });
    // Answered out of order, one as a legacy (version 0) frame.
    peer.send({ type: 'reply', seq: c2.seq, body: Buffer.from('two'), version: 0 });
    peer.send({ type: 'reply', seq: c1.seq, body: json({ a: 1 }) });
    expect(await p2).toEqual(Buffer.from('two'));
    expect(await p1).toEqual(json({ a: 1 }));
    expect(client.pendingCalls).toBe(0);
  });

  it("results: 'json' parses Reply bodies (empty is null); a body that is not JSON fails the call", async () => {
    const { peer, client } = await dccSide({ results: 'json' });
    const p = [client.call('a'), client.call('b'), client.call('c')];
    const calls = [await peer.next(), await peer.next(), await peer.next()];
    peer.send({ type: 'reply', seq: calls[0]!.seq, body: json({ ok: [1, 2] }) });
    peer.send({ type: 'reply', seq: calls[1]!.seq });
    peer.send({ type: 'reply', seq: calls[2]!.seq, body: Buffer.from('not json') });
    expect(await p[0]).toEqual({ ok: [1, 2] });
    expect(await p[1]).toBeNull();
    await expect(p[2]).rejects.toThrow(/reply of c is not UTF-8 JSON/);
  });

  it("codec 'msgpack': Call bodies are [method, params], results 'msgpack' decodes Replies", async () => {
    const { peer, client } = await dccSide({ codec: 'msgpack', results: 'msgpack' });
    const p = client.call('echo', ['hi', null]);
    const c = await peer.next();
    expect(c.body).toEqual(encodeDccLinkBody(['echo', ['hi', null]]));
    peer.send({ type: 'reply', seq: c.seq, body: encodeDccLinkBody({ x: 'y' }) });
    expect(await p).toEqual({ x: 'y' });
    const bytes = client.call('raw', Buffer.from([1, 2, 3]));
    const c2 = await peer.next();
    expect(c2.body).toEqual(Buffer.from([0x92, 0xa3, 0x72, 0x61, 0x77, 0xc4, 0x03, 1, 2, 3]));
    peer.send({ type: 'reply', seq: c2.seq });
    expect(await bytes).toBeNull();
  });

  it('rejects with RemoteError on Err (the body as text); bytes params with JSON are InvalidArgument', async () => {
    const { peer, client } = await dccSide();
    const p = client.call('explode');
    const c = await peer.next();
    peer.send({ type: 'err', seq: c.seq, body: Buffer.from('boom: ünïcode') });
    const err = (await p.catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toBe('boom: ünïcode');
    expect(err.remoteName).toBe('DccLinkError');
    await expect(client.call('x', Buffer.from([1]))).rejects.toThrow(/bytes have no JSON form/);
  });

  it('sends Cancel with the seq when a call is aborted or times out, and drops its late Reply', async () => {
    const { peer, client } = await dccSide();
    const ac = new AbortController();
    const aborted = client.call('slow', 1, { signal: ac.signal });
    const c1 = await peer.next();
    ac.abort();
    await expect(aborted).rejects.toBeInstanceOf(CallCancelled);
    expect(await peer.next()).toMatchObject({ type: 'cancel', seq: c1.seq, body: Buffer.alloc(0) });
    const timed = client.call('slow', 2, { timeout: 30 });
    const c2 = await peer.next();
    await expect(timed).rejects.toBeInstanceOf(DeadlineExceeded);
    expect(await peer.next()).toMatchObject({ type: 'cancel', seq: c2.seq });
    // Late answers (and answers to nothing) are dropped; the channel goes on.
    peer.send({ type: 'reply', seq: c1.seq, body: Buffer.from('late') });
    peer.send({ type: 'err', seq: c2.seq, body: Buffer.from('late') });
    peer.send({ type: 'reply', seq: U64_MAX, body: Buffer.from('nobody') });
    const ok = client.call('next');
    const c3 = await peer.next();
    peer.send({ type: 'reply', seq: c3.seq, body: Buffer.from('fine') });
    expect(String(await ok)).toBe('fine');
  });

  it('hands Progress frames of a waiting call to dccLink.onProgress, drops others, reports a throwing callback', async () => {
    const seen: DccLinkProgress[] = [];
    const { peer, client } = await dccSide({
      onProgress: (p) => {
        if (p.body.toString() === 'throw') throw new Error('callback failed');
        seen.push(p);
      },
    });
    const errors: unknown[] = [];
    client.on('handlerError', (e) => errors.push(e));
    const p = client.call('render', { frames: 2 });
    const c = await peer.next();
    peer.send({ type: 'progress', seq: c.seq, body: json({ step: 0 }) });
    peer.send({ type: 'progress', seq: c.seq + 100n, body: json({ step: 'other' }) });
    peer.send({ type: 'progress', seq: c.seq, body: Buffer.from('throw') });
    peer.send({ type: 'progress', seq: c.seq, body: json({ step: 1 }) });
    peer.send({ type: 'reply', seq: c.seq, body: Buffer.from('done') });
    peer.send({ type: 'progress', seq: c.seq, body: json({ step: 'after' }) });
    expect(String(await p)).toBe('done');
    await new Promise((r) => setTimeout(r, 20));
    expect(seen.map((s) => [s.method, s.seq, body({ body: s.body } as DccLinkFrame)])).toEqual([
      ['render', Number(c.seq), { step: 0 }],
      ['render', Number(c.seq), { step: 1 }],
    ]);
    expect(errors).toHaveLength(1);
  });

  it('notify is a Push with seq 0; a Push from the peer is a notification (and runs its handler)', async () => {
    const { peer, client } = await dccSide();
    client.notify('scene.changed', { path: '/a.ma' });
    expect(await peer.next()).toMatchObject({ type: 'push', seq: 0n, body: json({ method: 'scene.changed', params: { path: '/a.ma' } }) });
    const handled: unknown[] = [];
    client.register('log', (p: unknown) => void handled.push(p));
    const got: unknown[] = [];
    const errors: unknown[] = [];
    client.on('notification', (m, p) => got.push([m, p]));
    client.on('handlerError', (e) => errors.push(e));
    peer.send({ type: 'push', seq: 9, body: json({ method: 'log', params: 'hello' }) });
    peer.send({ type: 'push', seq: 0, body: json({ topic: 'no method' }) });
    peer.send({ type: 'push', seq: 0, body: json({ method: 'other' }) });
    await waitFor('notifications', () => got.length === 2 && errors.length === 1);
    expect(got).toEqual([
      ['log', 'hello'],
      ['other', undefined],
    ]);
    expect(handled).toEqual(['hello']);
    expect(String(errors[0])).toMatch(/push body is not a JSON object with a string "method"/);
  });

  it('ping() is a Ping resolved by the Pong of its seq; the peer\'s Pings are answered with its seq and body', async () => {
    const { peer, client } = await dccSide();
    const rtt = client.ping({ timeout: 2000 });
    const ping = await peer.next();
    expect(ping).toMatchObject({ type: 'ping', body: Buffer.alloc(0) });
    peer.send({ type: 'pong', seq: ping.seq + 1n }); // not ours
    peer.send({ type: 'pong', seq: ping.seq });
    expect(await rtt).toBeGreaterThanOrEqual(0);
    peer.send({ type: 'ping', seq: U64_MAX, body: Buffer.from('x') });
    peer.send({ type: 'ping', seq: 5, version: 0 });
    expect(await peer.next()).toMatchObject({ type: 'pong', seq: U64_MAX, body: Buffer.from('x'), version: 1 });
    expect(await peer.next()).toMatchObject({ type: 'pong', seq: 5n, version: 1 });
  });

  it("serves the peer's Calls: Reply / Err with its seq; unknown methods and bad bodies get an Err", async () => {
    const { peer, client } = await dccSide();
    client.register('add', ({ a, b }: { a: number; b: number }) => a + b);
    client.register('fail', () => {
      throw new Error('it broke');
    });
    client.register('nothing', () => undefined);
    client.register('bytes', () => Buffer.from([0xc1, 0xff]));
    peer.send({ type: 'call', seq: U64_MAX, body: json({ method: 'add', params: { a: 40, b: 2 } }) });
    expect(await peer.next()).toEqual({ type: 'reply', seq: U64_MAX, body: Buffer.from('42'), version: 1 });
    peer.send({ type: 'call', seq: 0, body: json({ method: 'fail' }) });
    expect(await peer.next()).toEqual({ type: 'err', seq: 0n, body: Buffer.from('it broke'), version: 1 });
    peer.send({ type: 'call', seq: 1, body: json({ method: 'nope' }) });
    const nf = await peer.next();
    expect(nf).toMatchObject({ type: 'err', seq: 1n });
    expect(nf.body.toString()).toMatch(/method not found: nope/);
    peer.send({ type: 'call', seq: 2, body: Buffer.from('execute_python') });
    const bad = await peer.next();
    expect(bad).toMatchObject({ type: 'err', seq: 2n });
    expect(bad.body.toString()).toMatch(/call body is not UTF-8 JSON .*expected \{"method"/);
    peer.send({ type: 'call', seq: 3, body: json({ method: 'nothing' }) });
    expect(await peer.next()).toEqual({ type: 'reply', seq: 3n, body: Buffer.alloc(0), version: 1 });
    peer.send({ type: 'call', seq: 4, body: json({ method: 'bytes' }) });
    expect(await peer.next()).toEqual({ type: 'reply', seq: 4n, body: Buffer.from([0xc1, 0xff]), version: 1 });
    expect(client.activeCalls).toBe(0);
  });

  it("aborts a handler's ctx.signal on the peer's Cancel and answers nothing for it", async () => {
    const { peer, client } = await dccSide();
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const reason = new Promise<unknown>((resolve) => {
      client.register('wait', (_p: unknown, ctx) => {
        started();
        ctx.signal.addEventListener('abort', () => resolve(ctx.signal.reason));
        return new Promise((r) => setTimeout(() => r('too late'), 200));
      });
    });
    peer.send({ type: 'call', seq: 77, body: json({ method: 'wait' }) });
    await running;
    expect(client.activeCalls).toBe(1);
    peer.send({ type: 'cancel', seq: 77 });
    peer.send({ type: 'cancel', seq: 78 }); // nothing running: ignored
    expect(await reason).toBeInstanceOf(CallCancelled);
    expect(client.activeCalls).toBe(0);
    peer.send({ type: 'ping', seq: 1 });
    await new Promise((r) => setTimeout(r, 250));
    expect(await peer.next()).toMatchObject({ type: 'pong', seq: 1n });
    expect(peer.pending).toBe(0); // no Reply for 77, not even after its handler returned
  });

  it('streams fail with NotSupported; a call over 16 MiB with MessageTooLarge, and nothing is sent', async () => {
    const { peer, client } = await dccSide({ codec: 'msgpack' });
    const stream = client.stream('numbers');
    await expect(stream[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(NotSupported);
    await expect(client.call('big', Buffer.alloc(16 * 1024 * 1024))).rejects.toBeInstanceOf(MessageTooLarge);
    client.notify('small');
    expect(await peer.next()).toMatchObject({ type: 'push' });
    expect(client.pendingCalls).toBe(0);
  });

  it('close() closes the socket with no shutdown frame; the peer closing is a clean close, pending calls fail', async () => {
    const a = await dccSide();
    await a.client.close();
    await a.peer.whenClosed();
    expect(a.peer.received).toBe(0);
    const b = await dccSide();
    const closed = new Promise<TransportError | undefined>((resolve) => b.client.once('close', resolve));
    const pending = b.client.call('never');
    await b.peer.next();
    b.peer.socket.end();
    await expect(pending).rejects.toBeInstanceOf(ConnectionClosed);
    expect(await closed).toBeUndefined();
    expect(b.client.state).toBe('closed');
  });

  it('cuts a peer that sends a bad frame, silently', async () => {
    const { peer, client } = await dccSide();
    const closed = new Promise<TransportError | undefined>((resolve) => client.once('close', resolve));
    // Version 2: the peer's decoder refuses it too; the stream cannot resynchronise.
    peer.socket.write(Buffer.from('0e000000' + '0000000a' + '82' + '07' + '0000000000000001', 'hex'));
    const err = await closed;
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err?.message).toMatch(/unsupported DCC-Link protocol version 2/);
    await peer.whenClosed();
    expect(peer.received).toBe(0);
  });

  it('sends no heartbeat by default (a DCC side need not answer Pings); dccLink.heartbeat turns it on', async () => {
    const quiet = await dccSide({}, { heartbeatInterval: 20 });
    await new Promise((r) => setTimeout(r, 150));
    expect(quiet.client.state).toBe('connected');
    expect(quiet.peer.received).toBe(0);
    const beating = await dccSide({ heartbeat: true }, { heartbeatInterval: 20 });
    expect(await beating.peer.next()).toMatchObject({ type: 'ping', seq: 0n });
    beating.peer.send({ type: 'pong', seq: 0 });
    // Unanswered (the peer stops): cut after 3 intervals of silence.
    const closed = new Promise<TransportError | undefined>((resolve) => beating.client.once('close', resolve));
    expect(String(await closed)).toMatch(/silent/);
  });

  it('dccLinkEndpoint / dccLinkSocketPath: /tmp/<name>.sock, or the name when absolute', () => {
    expect(dccLinkSocketPath('dcc-mcp-maya-12345')).toBe('/tmp/dcc-mcp-maya-12345.sock');
    expect(dccLinkEndpoint('dcc-mcp-maya-12345')).toBe('unix:/tmp/dcc-mcp-maya-12345.sock');
    expect(dccLinkEndpoint('/run/x.sock')).toBe('unix:/run/x.sock');
  });
});

describe('a wirecall server and DCC-Link clients', () => {
  async function serve(options: ServerOptions = {}) {
    const server = scratch.server(createServer({ heartbeatInterval: 0, ...options }));
    server.register('echo', (p: unknown) => p);
    server.register('ask', async (q: unknown, ctx) => `peer said ${String(await ctx.connection.call('question', q))}`);
    const url = await server.listen(`unix:${path.join(scratch.dir(), 's.sock')}`);
    return { server, url, sock: url.slice('unix:'.length) };
  }

  it("tells DCC-Link clients from native ones by their first bytes when dialects lists 'dcc-link'", async () => {
    const { server, url, sock } = await serve({ dialects: ['wirecall', 'dcc-link'] });
    const native = scratch.server(await connect(url, { heartbeatInterval: 0 }));
    const raw = await LinkPeer.dial(sock);
    raw.send({ type: 'call', seq: 1n << 60n, body: json({ method: 'echo', params: [1, 'two'] }) });
    const [viaNative, reply] = await Promise.all([native.call('echo', 'n'), raw.next()]);
    expect(viaNative).toBe('n');
    expect(reply).toEqual({ type: 'reply', seq: 1n << 60n, body: json([1, 'two']), version: 1 });
    const dialects = [...server.connections].map((c) => c.peer?.dialect).sort();
    expect(dialects).toEqual(['dcc-link', 'wirecall']);
    raw.send({ type: 'ping', seq: 3, body: Buffer.from('p') });
    expect(await raw.next()).toEqual({ type: 'pong', seq: 3n, body: Buffer.from('p'), version: 1 });
  });

  it("waits for a DCC-Link client's first message when its prefix arrives alone (dcc-mcp-core writes it apart)", async () => {
    const { sock } = await serve({ dialects: ['wirecall', 'dcc-link'] });
    const raw = await LinkPeer.dial(sock);
    const msg = encodeDccLink({ type: 'call', seq: 5, body: json({ method: 'echo', params: 'split' }) });
    for (const part of [msg.subarray(0, 4), msg.subarray(4, 9), msg.subarray(9)]) {
      raw.socket.write(part);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await raw.next()).toEqual({ type: 'reply', seq: 5n, body: json('split'), version: 1 });
  });

  it('wirecall ⇄ wirecall over DCC-Link: calls both ways, results as JSON, cancel reaches the handler', async () => {
    let aborted: Promise<unknown> | undefined;
    const { server, url } = await serve({ dialects: ['dcc-link'], dccLink: { results: 'json' } });
    server.register('hang', (_p: unknown, ctx) => {
      aborted = new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(ctx.signal.reason)));
      return new Promise(() => {});
    });
    const client = scratch.server(
      await connect(url, { dialect: 'dcc-link', heartbeatInterval: 0, dccLink: { results: 'json' }, handlers: { question: (q: unknown) => `yes to ${String(q)}` } }),
    );
    expect(await client.call('echo', { deep: [1, { x: null }] })).toEqual({ deep: [1, { x: null }] });
    expect(await client.call('ask', 'q?')).toBe('peer said yes to q?');
    const ac = new AbortController();
    const hung = client.call('hang', null, { signal: ac.signal });
    await waitFor('the handler to start', () => aborted !== undefined);
    ac.abort();
    await expect(hung).rejects.toBeInstanceOf(CallCancelled);
    expect(await aborted).toBeInstanceOf(CallCancelled);
    await client.close();
    await waitFor('the server side to close', () => server.connections.size === 0);
  });

  it('cuts a DCC-Link client silently when dialects does not list it (the default)', async () => {
    const { server, sock } = await serve();
    const errors: TransportError[] = [];
    server.on('connectionError', (e) => errors.push(e));
    const raw = await LinkPeer.dial(sock);
    raw.send({ type: 'call', seq: 1, body: json({ method: 'echo' }) });
    await raw.whenClosed();
    expect(raw.received).toBe(0);
    await waitFor('connectionError', () => errors.length === 1);
    expect(errors[0]!.message).toMatch(/peer speaks DCC-Link; this server does not take it/);
  });

  it("takes a silent client for DCC-Link after handshakeTimeout when 'dcc-link' is the only silent dialect", async () => {
    const { server, sock } = await serve({ dialects: ['wirecall', 'dcc-link'], handshakeTimeout: 50 });
    const connected = new Promise<Connection>((resolve) => server.once('connection', resolve));
    const raw = await LinkPeer.dial(sock);
    const c = await connected;
    expect(c.peer?.dialect).toBe('dcc-link');
    c.notify('hello', 1);
    expect(await raw.next()).toMatchObject({ type: 'push', body: json({ method: 'hello', params: 1 }) });
  });
});
