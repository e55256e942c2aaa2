import { afterEach, describe, expect, it } from 'vitest';
import {
  CallCancelled,
  ConnectionLost,
  DeadlineExceeded,
  ProtocolError,
  RemoteError,
  Status,
  StreamClosed,
  connect,
  type Connection,
  type MessageStream,
  type Server,
  type ServerOptions,
  type ConnectOptions,
} from '../index.js';
import { RawPeer, helloBody } from '../test-util/raw-peer.js';
import { startServer as startTestServer, tempSocket } from '../test-util/rpc-server.js';
import { Scratch } from '../test-util/scratch.js';
import { waitFor } from '../test-util/wait.js';

const scratch = new Scratch();
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await scratch.cleanup();
});

interface Probe {
  started: number;
  finallyRan: number;
  aborted: unknown[];
  produced: number;
}

async function startServer(options: ServerOptions = {}): Promise<{ server: Server; url: string; probe: Probe }> {
  const probe: Probe = { started: 0, finallyRan: 0, aborted: [], produced: 0 };
  const { server, url } = await startTestServer(scratch, options, (server) => registerMethods(server, probe));
  return { server, url, probe };
}

function registerMethods(server: Server, probe: Probe): void {
  server.registerStream('count', async function* (p: { n: number; from?: number }) {
    for (let i = 0; i < p.n; i++) yield (p.from ?? 0) + i;
    return 'counted';
  });
  server.registerStream('values', function* (p: unknown[]) {
    yield* p;
  });
  server.registerStream('forever', async function* (p: { size?: number } | null, ctx) {
    probe.started++;
    ctx.signal.addEventListener('abort', () => probe.aborted.push(ctx.signal.reason));
    const chunk = Buffer.alloc(p?.size ?? 8, 7);
    try {
      for (let i = 0; ; i++) {
        probe.produced++;
        yield p?.size === undefined ? i : chunk;
      }
    } finally {
      probe.finallyRan++;
    }
  });
  server.registerStream('slow', async function* (p: { every: number }, ctx) {
    probe.started++;
    ctx.signal.addEventListener('abort', () => probe.aborted.push(ctx.signal.reason));
    try {
      for (let i = 0; ; i++) {
        await sleep(p.every, ctx.signal).catch(() => {});
        yield i;
      }
    } finally {
      probe.finallyRan++;
    }
  });
  server.registerStream('failAfter', async function* (p: { n: number }) {
    for (let i = 0; i < p.n; i++) yield i;
    throw Object.assign(new Error('broke mid-stream'), { code: 'E_MID' });
  });
  server.registerStream('deadline', async function* (_p, ctx) {
    yield ctx.deadline;
  });
  server.registerClientStream('sum', async (messages: MessageStream<number>) => {
    let total = 0;
    for await (const n of messages) total += n;
    return total;
  });
  server.registerClientStream('first', async (messages: MessageStream<unknown>) => {
    for await (const m of messages) return m;
    return 'none';
  });
  server.registerClientStream('collect', async (messages: MessageStream<unknown>, params: unknown) => {
    const all: unknown[] = [];
    for await (const m of messages) all.push(m);
    return { params, all };
  });
  server.registerBidiStream('chat', async function* (messages: MessageStream<unknown>) {
    for await (const m of messages) yield m;
  });
  server.register('echo', (p) => p);
}

async function client(url: string, options: ConnectOptions = {}): Promise<Connection> {
  const c = await connect(url, { heartbeatInterval: 0, ...options });
  cleanups.push(() => c.close({ drainTimeout: 100 }));
  return c;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason);
    });
  });
}

/** Poll `check` every 5 ms until true, for at most `ms`. */
async function until(check: () => boolean, ms = 3000): Promise<void> {
  await waitFor('the condition', check, ms, 5);
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const m of it) out.push(m);
  return out;
}

describe('server streams', () => {
  it('deliver every message in order, then the end, then the return value as result', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const s = c.stream('count', { n: 5 });
    expect(await collect(s)).toEqual([0, 1, 2, 3, 4]);
    expect(await s.result).toBe('counted');
    expect(s.state).toBe('closed');
    expect(c.openStreams).toBe(0);
  });

  it('carry any value as a message, null and undefined included (the end is its own frame)', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const values = [null, 0, '', false, [], {}, { a: null }, Buffer.from([1, 2]), 'last'];
    const got = await collect(c.stream('values', values));
    expect(got).toEqual([null, 0, '', false, [], {}, { a: null }, Buffer.from([1, 2]), 'last']);
    expect(await collect(c.stream('values', [undefined, undefined]))).toEqual([null, null]);
    expect(await collect(c.stream('values', []))).toEqual([]);
  });

  it('a handler error mid-stream ends the iteration with a RemoteError after the messages already sent', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const got: unknown[] = [];
    const err = await (async () => {
      for await (const m of c.stream('failAfter', { n: 3 })) got.push(m);
    })().catch((e: unknown) => e);
    expect(got).toEqual([0, 1, 2]);
    expect(err).toBeInstanceOf(RemoteError);
    expect(err).toMatchObject({ status: Status.METHOD_ERROR, message: 'broke mid-stream', remoteCode: 'E_MID' });
  });

  it('an unknown method or a method of another kind fails with METHOD_NOT_FOUND naming the right opener', async () => {
    const { url } = await startServer();
    const c = await client(url);
    await expect(collect(c.stream('nope'))).rejects.toMatchObject({ status: Status.METHOD_NOT_FOUND });
    await expect(collect(c.stream('sum'))).rejects.toThrow(/sum is a client-stream method.*clientStream\(\)/);
    await expect(c.call('count', { n: 1 })).rejects.toThrow(/count is a server-stream method.*stream\(\)/);
    await expect(collect(c.stream('echo'))).rejects.toThrow(/echo is a unary method.*call\(\)/);
  });

  it('handler return values that are not iterable fail the stream clearly', async () => {
    const { url, server } = await startServer();
    server.registerStream('notIterable', (() => 42) as never);
    const c = await client(url);
    await expect(collect(c.stream('notIterable'))).rejects.toThrow(/must return an async iterable/);
  });
});

describe('client and bidi streams', () => {
  it('client stream: writes, end, result', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const s = c.clientStream('sum');
    for (let i = 1; i <= 100; i++) await s.write(i);
    expect(s.state).toBe('open');
    s.end();
    expect(s.state).toBe('closing');
    expect(await s.result).toBe(5050);
    expect(s.state).toBe('closed');
  });

  it('client stream with params, and an empty stream', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const s = c.clientStream('collect', { tag: 'x' });
    s.end();
    expect(await s.result).toEqual({ params: { tag: 'x' }, all: [] });
  });

  it('writes after end() or after the handler finished reject with StreamClosed', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const s = c.clientStream('first');
    await s.write('a');
    expect(await s.result).toBe('a');
    await expect(s.write('b')).rejects.toBeInstanceOf(StreamClosed);
    const t = c.clientStream('sum');
    t.end();
    await expect(t.write(1)).rejects.toThrow(/write after end/);
    expect(await t.result).toBe(0);
  });

  it('bidi: messages echo back while the caller keeps writing', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const s = c.bidiStream('chat');
    const it = s[Symbol.asyncIterator]();
    for (const m of ['hi', null, { x: 1 }]) {
      await s.write(m);
      expect((await it.next()).value).toEqual(m);
    }
    s.end();
    expect((await it.next()).done).toBe(true);
    await s.result;
  });

  it('client stream writes wait for credit: the handler window bounds what is in flight', async () => {
    // A handler that never reads: the caller's 5th write waits (window of 4 messages).
    const { url, server } = await startServer({ streamWindow: { messages: 4 } });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    server.registerClientStream('lazy', async (messages: MessageStream<number>) => {
      await gate;
      let n = 0;
      for await (const _ of messages) n++;
      return n;
    });
    const c = await client(url);
    const s = c.clientStream('lazy');
    const writes = Array.from({ length: 10 }, (_, i) => s.write(i));
    let settled = 0;
    for (const w of writes) void w.then(() => settled++);
    await sleep(50);
    expect(settled).toBe(4);
    release();
    await Promise.all(writes);
    s.end();
    expect(await s.result).toBe(10);
  });
});

describe('flow control', () => {
  it('a producer against a consumer that does not read is held to one window', async () => {
    const { url, probe } = await startServer();
    const c = await client(url);
    const s = c.stream('forever', null, { window: { messages: 16 } });
    const it = s[Symbol.asyncIterator]();
    await it.next();
    await sleep(100);
    // 16 messages of credit; the generator may run one step ahead of a send.
    expect(probe.produced).toBeLessThanOrEqual(16 + 2);
    s.cancel();
    await until(() => probe.finallyRan === 1);
  });

  it('byte credit bounds large messages the same way', async () => {
    const { url, probe } = await startServer();
    const c = await client(url);
    const s = c.stream('forever', { size: 64 * 1024 }, { window: { bytes: 256 * 1024 } });
    const it = s[Symbol.asyncIterator]();
    await it.next();
    await sleep(100);
    // 256 KiB of credit = 4 chunks (the 4th overshoots), plus one generator step.
    expect(probe.produced).toBeLessThanOrEqual(4 + 2);
    let read = 1;
    while (read < 40) {
      await it.next();
      read++;
    }
    expect(probe.produced).toBeLessThanOrEqual(read + 4 + 2);
    await it.return!();
    await until(() => probe.finallyRan === 1);
  });

  it('a stalled stream does not delay unary calls or other streams on the same connection', async () => {
    const { url, probe } = await startServer();
    const c = await client(url);
    const stalled = c.stream('forever', { size: 1024 }, { window: { messages: 8 } });
    const it = stalled[Symbol.asyncIterator]();
    await it.next();
    await until(() => probe.produced >= 8);
    const produced = probe.produced;
    for (let i = 0; i < 200; i++) expect(await c.call('echo', i)).toBe(i);
    expect(await collect(c.stream('count', { n: 2000 }))).toHaveLength(2000);
    expect(probe.produced).toBe(produced); // the stalled stream did not move meanwhile
    stalled.cancel();
  });

  it('1,000,000 small messages over one stream arrive complete and in order', async () => {
    const { url } = await startServer();
    const c = await client(url);
    let expected = 0;
    for await (const n of c.stream('count', { n: 1_000_000 })) {
      if (n !== expected) throw new Error(`got ${n}, expected ${expected}`);
      expected++;
    }
    expect(expected).toBe(1_000_000);
  }, 60_000);
});

describe('cancellation and deadlines', () => {
  it('leaving a for-await loop early cancels the stream on both sides', async () => {
    const { url, probe } = await startServer();
    const c = await client(url);
    let n = 0;
    for await (const _ of c.stream('forever')) if (++n === 10) break;
    await until(() => probe.finallyRan === 1);
    expect(probe.aborted[0]).toBeInstanceOf(CallCancelled);
    expect(c.openStreams).toBe(0);
  });

  it('aborting the signal cancels: iteration ends with CallCancelled, the handler signal fires', async () => {
    const { url, probe } = await startServer();
    const c = await client(url);
    const ac = new AbortController();
    const s = c.stream('slow', { every: 5 }, { signal: ac.signal });
    const got: unknown[] = [];
    const done = (async () => {
      for await (const m of s) {
        got.push(m);
        if (got.length === 3) ac.abort(new Error('user gave up'));
      }
    })();
    await expect(done).rejects.toBeInstanceOf(CallCancelled);
    await until(() => probe.finallyRan === 1);
    expect(probe.aborted).toHaveLength(1);
    expect(got).toEqual([0, 1, 2]);
  });

  it('the deadline travels with the stream and expires on both sides', async () => {
    const { url, probe } = await startServer();
    const c = await client(url);
    const [deadline] = await collect(c.stream('deadline', null, { timeout: 5000 }));
    expect(deadline).toBeGreaterThan(Date.now() + 3000);
    const s = c.stream('slow', { every: 20 }, { timeout: 150 });
    await expect(collect(s)).rejects.toBeInstanceOf(DeadlineExceeded);
    await until(() => probe.finallyRan === 1);
    expect(probe.aborted[0]).toBeInstanceOf(DeadlineExceeded);
  });

  it('cancel() on a client stream rejects its result and pending writes', async () => {
    const { url, server } = await startServer({ streamWindow: { messages: 1 } });
    let aborted: unknown;
    server.registerClientStream('never', (_m, _p, ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => {
      aborted = ctx.signal.reason;
      reject(ctx.signal.reason);
    })));
    const c = await client(url);
    const s = c.clientStream('never');
    await s.write(1);
    const blocked = s.write(2);
    s.cancel();
    await expect(blocked).rejects.toBeInstanceOf(CallCancelled);
    await expect(s.result).rejects.toBeInstanceOf(CallCancelled);
    await until(() => aborted !== undefined);
    expect(aborted).toBeInstanceOf(CallCancelled);
  });

  it('the handler side may stop first: a bidi handler that returns early ends the caller iteration cleanly', async () => {
    const { url, server } = await startServer();
    server.registerBidiStream('two', async function* (messages: MessageStream<number>) {
      let n = 0;
      for await (const m of messages) {
        yield m * 10;
        if (++n === 2) return 'enough';
      }
    });
    const c = await client(url);
    const s = c.bidiStream('two');
    const reading = collect(s);
    for (let i = 1; i <= 5; i++) await s.write(i).catch(() => {});
    expect(await reading).toEqual([10, 20]);
    expect(await s.result).toBe('enough');
    await expect(s.write(6)).rejects.toBeInstanceOf(StreamClosed);
  });
});

describe('connection loss and both directions', () => {
  it('a connection killed mid-stream ends every open stream with ConnectionLost', async () => {
    const { url, server } = await startServer();
    const c = await client(url);
    const a = c.stream('slow', { every: 5 });
    const b = c.clientStream('sum');
    const first = await a[Symbol.asyncIterator]().next();
    expect(first.value).toBe(0);
    for (const conn of server.connections) conn.destroy();
    await expect(collect(a)).rejects.toBeInstanceOf(ConnectionLost);
    await expect(b.result).rejects.toBeInstanceOf(ConnectionLost);
    await expect(b.write(1)).rejects.toBeInstanceOf(ConnectionLost);
  });

  it('the server can open streams to the client, while handling the client call', async () => {
    const { url, server } = await startServer();
    server.register('pullFromClient', async (p: { n: number }, ctx) => {
      const got = await collect(ctx.connection.stream('clientCount', p));
      const s = ctx.connection.clientStream('clientSum');
      for (const n of got) await s.write(n as number);
      s.end();
      return s.result;
    });
    const c = await client(url);
    c.registerStream('clientCount', async function* (p: { n: number }) {
      for (let i = 1; i <= p.n; i++) yield i;
    });
    c.registerClientStream('clientSum', async (messages: MessageStream<number>) => {
      let t = 0;
      for await (const m of messages) t += m;
      return t;
    });
    expect(await c.call('pullFromClient', { n: 10 })).toBe(55);
  });

  it('a stream the server opened to the client is cancelled from either side', async () => {
    const { url, server } = await startServer();
    server.register('takeThree', async (_p, ctx) => {
      const got: unknown[] = [];
      for await (const m of ctx.connection.stream('ticks')) if (got.push(m) === 3) break;
      return got;
    });
    const c = await client(url);
    let finallyRan = 0;
    let aborted: unknown;
    c.registerStream('ticks', async function* (_p, ctx) {
      ctx.signal.addEventListener('abort', () => (aborted = ctx.signal.reason));
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        finallyRan++;
      }
    });
    expect(await c.call('takeThree')).toEqual([0, 1, 2]);
    await until(() => finallyRan === 1);
    expect(aborted).toBeInstanceOf(CallCancelled);
    // And the handler side (here the client) failing ends the server's iteration with a RemoteError.
    c.registerStream('broken', async function* () {
      yield 1;
      throw new Error('client handler broke');
    });
    server.register('readBroken', async (_p, ctx) => {
      const got: unknown[] = [];
      try {
        for await (const m of ctx.connection.stream('broken')) got.push(m);
      } catch (err) {
        return { got, error: (err as RemoteError).message, status: (err as RemoteError).status };
      }
      return { got };
    });
    expect(await c.call('readBroken')).toEqual({ got: [1], error: 'client handler broke', status: Status.METHOD_ERROR });
  });

  it('100 concurrent streams of every kind, in both directions, on one connection', async () => {
    const { url, server } = await startServer();
    server.register('openOnClient', async (p: { i: number }, ctx) => {
      const got = await collect(ctx.connection.stream('clientCount', { n: 50, from: p.i }));
      return got.length === 50 && got[0] === p.i && got[49] === p.i + 49;
    });
    const c = await client(url);
    c.registerStream('clientCount', async function* (p: { n: number; from: number }) {
      for (let i = 0; i < p.n; i++) yield p.from + i;
    });
    const jobs: Array<Promise<unknown>> = [];
    for (let i = 0; i < 100; i++) {
      switch (i % 4) {
        case 0:
          jobs.push(collect(c.stream('count', { n: 300, from: i })).then((v) => v.length === 300 && v[0] === i));
          break;
        case 1:
          jobs.push(
            (async () => {
              const s = c.clientStream('sum');
              for (let k = 0; k < 100; k++) await s.write(k);
              s.end();
              return (await s.result) === 4950;
            })(),
          );
          break;
        case 2:
          jobs.push(
            (async () => {
              const s = c.bidiStream('chat');
              const reading = collect(s);
              for (let k = 0; k < 100; k++) await s.write(`${i}:${k}`);
              s.end();
              const got = await reading;
              return got.length === 100 && got[99] === `${i}:99`;
            })(),
          );
          break;
        default:
          jobs.push(c.call('openOnClient', { i }));
      }
    }
    const results = await Promise.all(jobs);
    expect(results.every((r) => r === true)).toBe(true);
    expect(c.openStreams).toBe(0);
  });

  it('close() lets open streams finish before the connection closes', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const s = c.stream('count', { n: 1000 });
    const reading = collect(s);
    await c.close({ drainTimeout: 5000 });
    expect(await reading).toHaveLength(1000);
  });
});

describe('window growth (raw peer as the caller of a client stream)', () => {
  // Each [33, 1, <100 letters>] is 105 payload bytes; five of them pass half of 1000.
  const message = 'x'.repeat(100);
  async function grantAfterFive(options: ServerOptions): Promise<unknown[]> {
    const { url, server } = await startServer({ streamWindow: { bytes: 1000 }, ...options });
    server.registerClientStream('length', async (messages: AsyncIterable<string>) => {
      let n = 0;
      for await (const m of messages) n += m.length; // waits for every message
      return n;
    });
    const raw = await RawPeer.connect(url.slice('unix:'.length));
    cleanups.push(() => raw.socket.destroy());
    raw.send([1, helloBody()]);
    expect(((await raw.next()) as unknown[])[0]).toBe(2);
    raw.send([32, 1, 'length', null, null, 2, 16, 1024]);
    for (let i = 0; i < 5; i++) raw.send([33, 1, message]);
    const credit = (await raw.next()) as unknown[];
    // Five more fit in what the grant gave back (and the stream ends cleanly).
    for (let i = 0; i < 5; i++) raw.send([33, 1, message]);
    raw.send([34, 1]);
    let last: unknown[];
    do last = (await raw.next()) as unknown[];
    while (last[0] === 37);
    return [credit, last];
  }

  it('a handler that waited for messages grows its byte window: the grant doubles it', async () => {
    const [credit, result] = await grantAfterFive({});
    expect(credit).toEqual([37, 1, 5, 525 + 1000]);
    expect(result).toEqual([17, 1, 1000]);
  });

  it('with no growth budget (maxStreamWindowGrowth 0) the window stays fixed', async () => {
    const [credit, result] = await grantAfterFive({ maxStreamWindowGrowth: 0 });
    expect(credit).toEqual([37, 1, 5, 525]);
    expect(result).toEqual([17, 1, 1000]);
  });

  it('maxStreamWindow equal to streamWindow keeps it fixed: the grant is what was consumed', async () => {
    const [credit, result] = await grantAfterFive({ maxStreamWindow: { bytes: 1000 } });
    expect(credit).toEqual([37, 1, 5, 525]);
    expect(result).toEqual([17, 1, 1000]);
  });
});

describe('protocol violations on streams', () => {
  it('a peer that sends beyond its credit is cut off with ProtocolError; other clients are unaffected', async () => {
    const { url, server } = await startServer({ streamWindow: { messages: 2 } });
    // A handler that never reads, so no credit comes back.
    server.registerClientStream('ignore', (_m, _p, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(0))));
    const path = url.slice('unix:'.length);
    const good = await client(url);
    const raw = await RawPeer.connect(path);
    cleanups.push(() => raw.socket.destroy());
    raw.send([1, helloBody()]);
    expect(((await raw.next()) as unknown[])[0]).toBe(2);
    raw.send([32, 1, 'ignore', null, null, 2, 16, 1024]);
    for (let i = 0; i < 5; i++) raw.send([33, 1, i]);
    let last: unknown[];
    do last = (await raw.next()) as unknown[];
    while (last[0] !== 50);
    expect(last[0]).toBe(50); // SHUTDOWN with the reason
    expect(String(last[1])).toMatch(/beyond the credit/);
    await until(() => raw.closed);
    expect(await collect(good.stream('count', { n: 3 }))).toEqual([0, 1, 2]);
  });

  it('a message against the stream kind (CALLER_MESSAGE on a server stream) is fatal and says so', async () => {
    const { url } = await startServer();
    const raw = await RawPeer.connect(url.slice('unix:'.length));
    cleanups.push(() => raw.socket.destroy());
    // nil window keys mean "the defaults", like an absent key.
    raw.send([1, helloBody({ streamWindowMessages: null, streamWindowBytes: null })]);
    expect(((await raw.next()) as unknown[])[0]).toBe(2);
    raw.send([32, 1, 'slow', { every: 1000 }, null, 1, 16, 1024]);
    raw.send([33, 1, 'not for a server stream']);
    let last: unknown[];
    do last = (await raw.next()) as unknown[];
    while (last[0] !== 50);
    expect(String(last[1])).toMatch(/CALLER_MESSAGE on stream 1, whose kind carries no messages/);
    expect(ProtocolError.code).toBe('ERR_PROTOCOL');
  });

  it('a handler message the caller cannot take fails the stream like an oversized result', async () => {
    const { url, server } = await startServer();
    server.registerStream('huge', async function* () {
      yield 'small';
      yield Buffer.alloc(2 * 1024 * 1024);
    });
    server.registerStream('unencodable', async function* () {
      yield 1;
      yield 2n ** 70n; // too large for MessagePack
    });
    const c = await client(url, { maxFrameSize: 1024 * 1024 });
    const got: unknown[] = [];
    const err = await (async () => {
      for await (const m of c.stream('huge')) got.push(m);
    })().catch((e: unknown) => e);
    expect(got).toEqual(['small']);
    expect(err).toMatchObject({ status: Status.RESOURCE_EXHAUSTED, remoteName: 'FrameTooLarge' });
    const err2 = await collect(c.stream('unencodable')).catch((e: unknown) => e);
    expect(err2).toMatchObject({ status: Status.SERVER_ERROR, remoteName: 'EncodeError' });
  });
});

describe('backpressure across processes', () => {
  it('a producer process facing a consumer that reads every 10 ms stays within a window of memory', async () => {
    const { spawn } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const sock = tempSocket(scratch);
    const script = fileURLToPath(new URL('../test-util/stream-producer.mjs', import.meta.url));
    const child = scratch.child(spawn(process.execPath, ['--expose-gc', script, sock.path], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(/listening on (\S+)/.exec(d.toString())![1]!));
      child.once('exit', (code) => reject(new Error(`producer exited with ${code}`)));
    });
    const c = await client(url);
    type Stats = { produced: number; heapUsed: number; external: number; arrayBuffers: number };
    const before = (await c.call('stats')) as Stats;
    const chunk = 64 * 1024;
    const s = c.stream('flood', { size: chunk }); // default window: 256 KiB
    let read = 0;
    for await (const m of s) {
      expect((m as Buffer).length).toBe(chunk);
      if (++read === 100) break;
      await sleep(10);
    }
    const after = (await c.call('stats')) as Stats;
    // Unbounded, the producer would have made hundreds of MB in the second this took.
    // Bounded: what was read, plus one window (4 chunks of 64 KiB) and a generator step or two.
    expect(after.produced).toBeLessThanOrEqual(read + 4 + 2);
    const grown = after.heapUsed + after.external - (before.heapUsed + before.external);
    expect(grown).toBeLessThan(16 * 1024 * 1024);
  }, 30_000);
});
