import { afterEach, describe, expect, it } from 'vitest';
import {
  CallCancelled,
  ConnectionClosed,
  DeadlineExceeded,
  MessageTooLarge,
  HandshakeRejected,
  InvalidArgument,
  InvalidOption,
  RemoteError,
  Status,
  connect,
  createServer,
  type CallContext,
  type Connection,
  type ConnectionState,
  type Server,
  type ServerOptions,
  type ConnectOptions,
} from '../index.js';
import { Scratch } from '../test-util/scratch.js';
import { startServer as startTestServer } from '../test-util/rpc-server.js';

const scratch = new Scratch();
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await scratch.cleanup();
});

function startServer(options: ServerOptions = {}, endpoint?: string): Promise<{ server: Server; url: string }> {
  return startTestServer(scratch, options, registerMethods, endpoint);
}

function registerMethods(server: Server): void {
  server.register('echo', (p) => p);
  server.register('add', (p: { a: number; b: number }) => p.a + p.b);
  server.register('fail', () => {
    throw Object.assign(new TypeError('boom'), { code: 'E_BOOM', data: { why: 'because' } });
  });
  server.register('invalid', () => {
    throw new RemoteError(Status.INVALID_ARGUMENT, 'a must be a number', { remoteCode: 'E_ARG', data: [1, 2] });
  });
  server.register('hang', (_p, ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))));
  server.register('sleep', (p: { ms: number }, ctx) => sleep(p.ms, ctx.signal).then(() => 'slept'));
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

async function client(url: string, options: ConnectOptions = {}): Promise<Connection> {
  const c = await connect(url, { heartbeatInterval: 0, ...options });
  cleanups.push(() => c.close({ drainTimeout: 100 }));
  return c;
}

describe('unary calls', () => {
  for (const kind of ['unix', 'tcp'] as const) {
    it(`round-trips values over ${kind}`, async () => {
      const { url } = await startServer({}, kind === 'tcp' ? 'tcp://127.0.0.1:0' : undefined);
      expect(url.startsWith(kind === 'tcp' ? 'tcp://127.0.0.1:' : 'unix:/')).toBe(true);
      const c = await client(url);
      expect(await c.call('add', { a: 2, b: 3 })).toBe(5);
      const value = { s: 'ü', n: -1.5, big: 2 ** 40, list: [1, null, true], bin: Buffer.from([0, 255]), nested: { a: { b: 'c' } } };
      expect(await c.call('echo', value)).toEqual(value);
      expect(await c.call('echo')).toBeNull();
    });
  }

  it('hands a call or notification without params to its handler as undefined (what its type says)', async () => {
    const { server, url } = await startServer();
    const seen: unknown[] = [];
    server.register('open', ({ path }: { path: string } = { path: '/default' }) => path);
    server.register('kind', (p: unknown) => (p === undefined ? 'undefined' : typeof p));
    server.register('note', (p: unknown) => void seen.push(p));
    const c = await client(url);
    expect(await c.call('open')).toBe('/default');
    expect(await c.call('open', { path: '/x' })).toBe('/x');
    expect(await c.call('kind')).toBe('undefined');
    expect(await c.call('kind', null)).toBe('undefined'); // nil on the wire either way
    c.notify('note');
    await expect.poll(() => seen).toEqual([undefined]);
  });

  it('carries an 8 MiB payload split over many socket reads', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const big = Buffer.alloc(8 * 1024 * 1024, 7);
    const back = (await c.call('echo', big)) as Buffer;
    expect(back.length).toBe(big.length);
    expect(back.equals(big)).toBe(true);
  });

  it('runs handlers concurrently: a slow call does not hold up a fast one', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const order: string[] = [];
    const slow = c.call('sleep', { ms: 300 }).then(() => order.push('slow'));
    const fast = c.call('add', { a: 1, b: 1 }).then(() => order.push('fast'));
    await Promise.all([slow, fast]);
    expect(order).toEqual(['fast', 'slow']);
  });

  it('keeps results apart when many calls are in flight', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const results = await Promise.all(Array.from({ length: 2000 }, (_, i) => c.call('add', { a: i, b: 1 })));
    expect(results).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
  });
});

describe('calls in both directions', () => {
  it('lets the server call back into the client while handling a call', async () => {
    const { server, url } = await startServer();
    server.register('greet', async (p: { name: string }, ctx: CallContext) => {
      const title = await ctx.connection.call('title', p.name);
      return `hello ${title} ${p.name}`;
    });
    const c = await client(url, { handlers: { title: (name) => (name === 'ada' ? 'countess' : 'citizen') } });
    expect(await c.call('greet', { name: 'ada' })).toBe('hello countess ada');
  });

  it('delivers notifications both ways', async () => {
    const { server, url } = await startServer();
    const got: unknown[] = [];
    server.register('log', (p) => {
      got.push(p);
    });
    server.register('poke', (_p, ctx) => {
      ctx.connection.notify('poked', { n: 1 });
      return 'ok';
    });
    const poked = new Promise((resolve) => {
      void client(url, { handlers: { poked: (p) => resolve(p) } }).then(async (c) => {
        c.notify('log', 'line 1');
        c.notify('log', 'line 2');
        expect(await c.call('poke')).toBe('ok');
      });
    });
    expect(await poked).toEqual({ n: 1 });
    await expect.poll(() => got).toEqual(['line 1', 'line 2']);
  });

  it('gives handlers the peer info', async () => {
    const { server, url } = await startServer({ name: 'srv', version: '9.9' });
    server.register('whoami', (_p, ctx) => ({ name: ctx.peer.name, version: ctx.peer.version, id: ctx.peer.connectionId }));
    const c = await client(url, { name: 'cli', version: '1.2' });
    const who = (await c.call('whoami')) as { name: string; version: string; id: string };
    expect(who).toEqual({ name: 'cli', version: '1.2', id: c.peer!.connectionId });
    expect(c.peer!.name).toBe('srv');
    expect(c.peer!.version).toBe('9.9');
  });
});

describe('errors', () => {
  it('reports a handler throw as METHOD_ERROR with name, message, code and data', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const err = (await c.call('fail').catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.status).toBe(Status.METHOD_ERROR);
    expect(err.statusName).toBe('METHOD_ERROR');
    expect(err.message).toBe('boom');
    expect(err.remoteName).toBe('TypeError');
    expect(err.remoteCode).toBe('E_BOOM');
    expect(err.data).toEqual({ why: 'because' });
    expect(err.code).toBe('ERR_REMOTE');
    expect(err.remoteStack).toBeUndefined();
  });

  it('sends stacks only when the server opts in', async () => {
    const { url } = await startServer({ exposeStack: true });
    const c = await client(url);
    const err = (await c.call('fail').catch((e: unknown) => e)) as RemoteError;
    expect(err.remoteStack).toContain('boom');
  });

  it('passes a chosen status through', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const err = (await c.call('invalid').catch((e: unknown) => e)) as RemoteError;
    expect(err.status).toBe(Status.INVALID_ARGUMENT);
    expect(err.remoteCode).toBe('E_ARG');
    expect(err.data).toEqual([1, 2]);
  });

  it('answers unknown methods with METHOD_NOT_FOUND', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const err = (await c.call('nope').catch((e: unknown) => e)) as RemoteError;
    expect(err.status).toBe(Status.METHOD_NOT_FOUND);
    expect(err.message).toContain('nope');
  });

  it('refuses params it cannot encode without touching the connection', async () => {
    const { url } = await startServer();
    const c = await client(url);
    await expect(c.call('echo', { s: Symbol('x') })).rejects.toBeInstanceOf(InvalidArgument);
    // A function anywhere in the params is refused, not sent as nil.
    const fn = (await c.call('echo', { nested: [{ onDone: function onDone() {} }] }).catch((e: unknown) => e)) as Error;
    expect(fn).toBeInstanceOf(InvalidArgument);
    expect(fn.message).toContain('a function (onDone) cannot be sent');
    expect(() => c.notify('echo', () => 1)).toThrow(InvalidArgument);
    expect(await c.call('add', { a: 1, b: 2 })).toBe(3);
  });

  it('answers a handler whose result holds a function with an error, not nil', async () => {
    const { server, url } = await startServer();
    server.register('leaky', () => ({ ok: true, close: () => {} }));
    const c = await client(url);
    const err = (await c.call('leaky').catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toContain('cannot be sent');
  });

  it('fails a call over the peer frame limit locally and keeps the connection', async () => {
    const { url } = await startServer({ maxFrameSize: 1024 });
    const c = await client(url);
    const err = await c.call('echo', Buffer.alloc(4096)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MessageTooLarge);
    expect(await c.call('add', { a: 1, b: 2 })).toBe(3);
  });

  it('answers RESOURCE_EXHAUSTED when a result is over the caller frame limit', async () => {
    const { server, url } = await startServer();
    server.register('big', () => Buffer.alloc(4096));
    const c = await client(url, { maxFrameSize: 1024 });
    const err = (await c.call('big').catch((e: unknown) => e)) as RemoteError;
    expect(err.status).toBe(Status.RESOURCE_EXHAUSTED);
    expect(await c.call('add', { a: 1, b: 2 })).toBe(3);
  });

  it('answers RESOURCE_EXHAUSTED beyond the concurrent call limit', async () => {
    const { url } = await startServer({ maxConcurrentCalls: 2 });
    const c = await client(url);
    const a = c.call('sleep', { ms: 200 });
    const b = c.call('sleep', { ms: 200 });
    const err = (await c.call('sleep', { ms: 200 }).catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.status).toBe(Status.RESOURCE_EXHAUSTED);
    expect(await Promise.all([a, b])).toEqual(['slept', 'slept']);
    expect(await c.call('sleep', { ms: 1 })).toBe('slept');
  });
});

describe('registering and options', () => {
  it('refuses a bad method name, a non-function handler and a second handler for a name with InvalidOption', () => {
    const server = createServer({ heartbeatInterval: 0 });
    server.register('taken', () => 1);
    for (const register of [
      () => server.register('', () => 1),
      () => server.register('x', 42 as never),
      () => server.register('taken', () => 2),
    ]) {
      expect(register).toThrow(InvalidOption);
    }
    expect(() => server.register('taken', () => 2)).toThrow('method "taken" is already registered');
  });

  it('refuses a server limit that is not a positive integer with InvalidOption', () => {
    expect(() => createServer({ maxConnections: 0 })).toThrow(InvalidOption);
    expect(() => createServer({ maxPendingHandshakes: 1.5 })).toThrow(InvalidOption);
  });
});

describe('deadlines and cancellation', () => {
  it('fails locally with DeadlineExceeded and the handler sees the deadline and the abort', async () => {
    const { server, url } = await startServer();
    let seen: { deadline: number | undefined; reason?: unknown } | undefined;
    const aborted = new Promise<void>((resolve) => {
      server.register('watch', (_p, ctx) => {
        seen = { deadline: ctx.deadline };
        return new Promise((_r, reject) =>
          ctx.signal.addEventListener('abort', () => {
            seen!.reason = ctx.signal.reason;
            resolve();
            reject(ctx.signal.reason);
          }),
        );
      });
    });
    const c = await client(url);
    const before = Date.now();
    const err = await c.call('watch', null, { timeout: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineExceeded);
    expect((err as DeadlineExceeded).status).toBe(Status.DEADLINE_EXCEEDED);
    await aborted;
    expect(seen!.deadline).toBeGreaterThanOrEqual(before + 100);
    expect(seen!.deadline).toBeLessThan(before + 5000);
    // The server's own deadline timer and the caller's CANCEL race; either ends the handler.
    expect(seen!.reason instanceof DeadlineExceeded || seen!.reason instanceof CallCancelled).toBe(true);
    expect(c.pendingCalls).toBe(0);
    expect(await c.call('add', { a: 1, b: 1 })).toBe(2);
  });

  it('cancels through an AbortSignal: the handler signal fires and no result follows', async () => {
    const { server, url } = await startServer();
    let resolveHandler!: (v: string) => void;
    const handlerAborted = new Promise<unknown>((resolve) => {
      server.register('slow', (_p, ctx) => {
        ctx.signal.addEventListener('abort', () => resolve(ctx.signal.reason));
        return new Promise<string>((r) => (resolveHandler = r));
      });
    });
    const c = await client(url);
    const ac = new AbortController();
    const p = c.call('slow', null, { signal: ac.signal });
    await expect.poll(() => resolveHandler).toBeDefined();
    ac.abort(new Error('user gave up'));
    const err = (await p.catch((e: unknown) => e)) as CallCancelled;
    expect(err).toBeInstanceOf(CallCancelled);
    expect((err.cause as Error).message).toBe('user gave up');
    expect(await handlerAborted).toBeInstanceOf(CallCancelled);
    resolveHandler('too late'); // dropped quietly by the server
    expect(await c.call('add', { a: 2, b: 2 })).toBe(4);
    expect(c.pendingCalls).toBe(0);
  });

  it('does not send a call whose signal is already aborted', async () => {
    const { server, url } = await startServer();
    let called = false;
    server.register('touch', () => {
      called = true;
    });
    const c = await client(url);
    await expect(c.call('touch', null, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(CallCancelled);
    await c.call('echo', 1);
    expect(called).toBe(false);
  });

  it('applies defaultTimeout to calls that set none', async () => {
    const { url } = await startServer();
    const c = await client(url, { defaultTimeout: 50 });
    await expect(c.call('hang')).rejects.toBeInstanceOf(DeadlineExceeded);
  });
});

describe('handshake', () => {
  it('admits the right token and rejects a wrong or missing one', async () => {
    const { url } = await startServer({ token: 's3cret' });
    const good = await client(url, { token: 's3cret' });
    expect(await good.call('add', { a: 1, b: 2 })).toBe(3);
    const wrong = await connect(url, { token: 'nope', heartbeatInterval: 0 }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(HandshakeRejected);
    expect((wrong as HandshakeRejected).reason).toBe('UNAUTHENTICATED');
    const missing = await connect(url, { heartbeatInterval: 0 }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(HandshakeRejected);
  });

  it('runs a custom authenticate hook', async () => {
    const { url } = await startServer({ authenticate: (hello) => hello.peerName === 'trusted' });
    await expect(connect(url, { name: 'stranger', heartbeatInterval: 0 })).rejects.toBeInstanceOf(HandshakeRejected);
    const ok = await client(url, { name: 'trusted' });
    expect(await ok.call('echo', 1)).toBe(1);
  });
});

describe('closing', () => {
  it('walks the states and closes idempotently', async () => {
    const { server, url } = await startServer();
    const serverStates: ConnectionState[] = [];
    server.on('connection', (conn) => conn.on('state', (s) => serverStates.push(s)));
    const c = await client(url);
    const states: ConnectionState[] = [c.state];
    c.on('state', (s) => states.push(s));
    await c.call('echo', 1);
    const first = c.close();
    expect(c.close()).toBe(first);
    await first;
    expect(states).toEqual(['connected', 'closing', 'closed']);
    await expect.poll(() => serverStates).toEqual(['closing', 'closed']);
    await expect(c.call('echo', 1)).rejects.toBeInstanceOf(ConnectionClosed);
    expect(() => c.notify('echo', 1)).toThrow(ConnectionClosed);
  });

  it('lets in-flight calls finish, refuses new ones, then closes', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const inflight = c.call('sleep', { ms: 150 });
    await new Promise((r) => setTimeout(r, 20));
    const closed = c.close({ drainTimeout: 2000 });
    await expect(c.call('echo', 1)).rejects.toBeInstanceOf(ConnectionClosed);
    expect(await inflight).toBe('slept');
    await closed;
    expect(c.state).toBe('closed');
  });

  it('rejects what is left with ConnectionClosed when the drain timeout passes', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const stuck = c.call('hang').catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    await c.close({ drainTimeout: 50 });
    expect(await stuck).toBeInstanceOf(ConnectionClosed);
  });

  it('server close drains calls in flight and then the client sees ConnectionClosed', async () => {
    const { server, url } = await startServer();
    const c = await client(url);
    const closeEvent = new Promise((resolve) => c.once('close', resolve));
    const inflight = c.call('sleep', { ms: 100 });
    await new Promise((r) => setTimeout(r, 20));
    const serverClosed = server.close({ drainTimeout: 2000 });
    expect(await inflight).toBe('slept');
    await serverClosed;
    expect(await closeEvent).toBeUndefined();
    await expect(c.call('echo', 1)).rejects.toBeInstanceOf(ConnectionClosed);
  });

  it('a closed server refuses to listen again with ConnectionClosed', async () => {
    const { server } = await startServer();
    await server.close();
    const err = await server.listen('tcp://127.0.0.1:0').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionClosed);
    expect((err as Error).message).toBe('server is closed');
  });

  it('fails pending calls with ConnectionLost when the peer vanishes', async () => {
    const { server, url } = await startServer();
    const c = await client(url);
    const p = c.call('hang').catch((e: unknown) => e);
    await expect.poll(() => server.connections.size).toBe(1);
    for (const conn of server.connections) conn.destroy();
    const err = await p;
    expect((err as Error).name).toBe('ConnectionLost');
  });
});

describe('ping', () => {
  it('measures a round trip', async () => {
    const { url } = await startServer();
    const c = await client(url);
    const ms = await c.ping();
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(5000);
  });
});

describe('notification backpressure', () => {
  it('slows the reader when too many notification handlers run, and loses nothing', async () => {
    const { server, url } = await startServer({ maxConcurrentCalls: 4 });
    let running = 0;
    let maxRunning = 0;
    const seen: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    server.register('work', async (n: number) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await gate;
      seen.push(n);
      running--;
    });
    const c = await client(url);
    for (let i = 0; i < 30; i++) {
      c.notify('work', i);
      await new Promise((r) => setImmediate(r)); // one frame per socket read
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(maxRunning).toBeLessThanOrEqual(6);
    release();
    await expect.poll(() => seen.length).toBe(30);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });
});
