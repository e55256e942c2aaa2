/** The tracing channels (wirecall:call, wirecall:stream), the connection channels and stats(). */
import { channel, subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { CallCancelled, DeadlineExceeded, RemoteError, Status, connect, type Connection, type Server, type TraceContext } from '../index.js';
import { Scratch } from '../test-util/scratch.js';
import { startServer } from '../test-util/rpc-server.js';
import { callTracing, streamTracing, tracingFrom } from './tracing.js';

const scratch = new Scratch();
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await scratch.cleanup();
});

type Event = [name: string, side: string, method: string];

/** Subscribe to every event of `name`; returns what arrived, and the contexts by event. */
function record(name: 'wirecall:call' | 'wirecall:stream'): { events: Event[]; contexts: TraceContext[] } {
  const events: Event[] = [];
  const contexts: TraceContext[] = [];
  const on = (event: string) => (ctx: unknown) => {
    const c = ctx as TraceContext;
    events.push([event, c.side, c.method]);
    if (event === 'asyncEnd') contexts.push(c);
  };
  const handlers = { start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error') };
  const t = tracingChannel(name);
  t.subscribe(handlers);
  cleanups.push(() => t.unsubscribe(handlers));
  return { events, contexts };
}

async function pair(): Promise<{ server: Server; client: Connection }> {
  const { server, url } = await startServer(scratch, {}, (s) => {
    s.register('add', (p: { a: number; b: number }) => p.a + p.b);
    s.register('fail', () => {
      throw new TypeError('boom');
    });
    s.register('slow', (_p, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(0))));
    s.registerStream('count', async function* (p: { n: number }) {
      for (let i = 0; i < p.n; i++) yield i;
      return 'done';
    });
    s.registerClientStream('sum', async (messages: AsyncIterable<number>) => {
      let total = 0;
      for await (const m of messages) total += m;
      return total;
    });
  });
  const client = await connect(url, { heartbeatInterval: 0 });
  cleanups.push(() => client.close({ drainTimeout: 100 }));
  return { server, client };
}

describe('wirecall:call', () => {
  it('is off while nobody subscribes, on while anyone does (any one of its five channels)', () => {
    expect(callTracing.hasSubscribers).toBe(false);
    expect(streamTracing.hasSubscribers).toBe(false);
    const fn = (): void => {};
    channel('tracing:wirecall:call:asyncEnd').subscribe(fn);
    expect(callTracing.hasSubscribers).toBe(true);
    channel('tracing:wirecall:call:asyncEnd').unsubscribe(fn);
    expect(callTracing.hasSubscribers).toBe(false);
  });

  it('feature detection: a TracingChannel without hasSubscribers (Node < 20.13) gets one; no tracingChannel at all, tracing stays off', () => {
    const old = (name: string) => {
      const t = tracingChannel(name);
      const { start, end, asyncStart, asyncEnd, error } = t;
      return { start, end, asyncStart, asyncEnd, error, tracePromise: t.tracePromise.bind(t) };
    };
    const t = tracingFrom(old, 'wirecall:test-old');
    expect(t.hasSubscribers).toBe(false);
    const fn = (): void => {};
    channel('tracing:wirecall:test-old:error').subscribe(fn);
    expect(t.hasSubscribers).toBe(true);
    channel('tracing:wirecall:test-old:error').unsubscribe(fn);
    expect(t.hasSubscribers).toBe(false);
    expect(tracingFrom(undefined, 'wirecall:test-none').hasSubscribers).toBe(false);
  });

  it('traces both sides of a call: start, end, then asyncStart and asyncEnd, with the result and status', async () => {
    const { client } = await pair();
    const { events, contexts } = record('wirecall:call');
    expect(await client.call('add', { a: 2, b: 3 })).toBe(5);
    const client_ = events.filter(([, side]) => side === 'client').map(([e]) => e);
    const server_ = events.filter(([, side]) => side === 'server').map(([e]) => e);
    expect(client_).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    expect(server_).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    const c = contexts.find((x) => x.side === 'client')!;
    const s = contexts.find((x) => x.side === 'server')!;
    expect(c).toMatchObject({ kind: 'unary', method: 'add', params: { a: 2, b: 3 }, result: 5, status: Status.OK });
    expect(s).toMatchObject({ kind: 'unary', method: 'add', params: { a: 2, b: 3 }, result: 5, status: Status.OK });
    expect(c.id).toBeGreaterThan(0);
    expect(s.id).toBe(c.id);
    expect(c.connection).toBe(client);
    expect(s.connection).not.toBe(client);
    expect('error' in c).toBe(false);
  });

  it('publishes error with the status: a handler that throws, an unknown method, a deadline, a cancelled call', async () => {
    const { client } = await pair();
    const { events, contexts } = record('wirecall:call');
    await expect(client.call('fail')).rejects.toBeInstanceOf(RemoteError);
    await expect(client.call('nope')).rejects.toBeInstanceOf(RemoteError);
    await expect(client.call('slow', undefined, { timeout: 30 })).rejects.toBeInstanceOf(DeadlineExceeded);
    const ac = new AbortController();
    const cancelled = client.call('slow', undefined, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(cancelled).rejects.toBeInstanceOf(CallCancelled);
    await new Promise((r) => setTimeout(r, 50)); // the server hears the CANCEL
    const byKey = (side: string, method: string) => contexts.filter((c) => c.side === side && c.method === method).map((c) => c.status);
    expect(byKey('client', 'fail')).toEqual([Status.METHOD_ERROR]);
    expect(byKey('server', 'fail')).toEqual([Status.METHOD_ERROR]);
    expect(byKey('client', 'nope')).toEqual([Status.METHOD_NOT_FOUND]);
    expect(byKey('server', 'nope')).toEqual([Status.METHOD_NOT_FOUND]);
    expect(byKey('client', 'slow')).toEqual([Status.DEADLINE_EXCEEDED, Status.CANCELLED]);
    expect(byKey('server', 'slow').sort()).toEqual([Status.CANCELLED, Status.DEADLINE_EXCEEDED].sort());
    const serverFail = contexts.find((c) => c.side === 'server' && c.method === 'fail')!;
    expect(serverFail.error).toBeInstanceOf(TypeError);
    for (const c of contexts) expect(events.filter(([e, side, m]) => e === 'error' && side === c.side && m === c.method).length).toBeGreaterThan(0);
  });

  it('traces a call on a connection that is not open (rejected at once)', async () => {
    const { client } = await pair();
    await client.close();
    const { contexts } = record('wirecall:call');
    await expect(client.call('add', { a: 1, b: 1 })).rejects.toThrow();
    expect(contexts).toHaveLength(1);
    expect(contexts[0]).toMatchObject({ side: 'client', method: 'add', id: 0 });
  });
});

describe('wirecall:stream', () => {
  it('traces a server stream and a client stream on both sides, from open to result', async () => {
    const { client } = await pair();
    const { events, contexts } = record('wirecall:stream');
    const got: unknown[] = [];
    const s = client.stream('count', { n: 3 });
    for await (const m of s) got.push(m);
    expect(got).toEqual([0, 1, 2]);
    const cs = client.clientStream('sum');
    await cs.write(4);
    await cs.write(5);
    cs.end();
    expect(await cs.result).toBe(9);
    await new Promise((r) => setTimeout(r, 10));
    const count = contexts.filter((c) => c.method === 'count');
    expect(count.map((c) => c.side).sort()).toEqual(['client', 'server']);
    for (const c of count) expect(c).toMatchObject({ kind: 'server-stream', status: Status.OK, result: 'done' });
    const sum = contexts.filter((c) => c.method === 'sum');
    for (const c of sum) expect(c).toMatchObject({ kind: 'client-stream', status: Status.OK, result: 9 });
    expect(events.filter(([, side, m]) => side === 'client' && m === 'count').map(([e]) => e)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
  });

  it('traces a stream that fails before it opens, and one refused as unknown', async () => {
    const { client } = await pair();
    const { contexts } = record('wirecall:stream');
    const bad = client.stream('count', { f: () => 1 } as never);
    await expect(bad.result).rejects.toThrow();
    const unknown = client.stream('missing' as never);
    await expect(unknown.result).rejects.toBeInstanceOf(RemoteError);
    await new Promise((r) => setTimeout(r, 10));
    expect(contexts.find((c) => c.method === 'count')).toMatchObject({ side: 'client', id: 0 });
    expect(contexts.filter((c) => c.method === 'missing').map((c) => [c.side, c.status]).sort()).toEqual([
      ['client', Status.METHOD_NOT_FOUND],
      ['server', Status.METHOD_NOT_FOUND],
    ]);
  });
});

describe('connection channels', () => {
  it('publishes state changes and the error a connection fails with', async () => {
    const states: string[] = [];
    const errors: unknown[] = [];
    const onState = (m: unknown): void => void states.push((m as { state: string }).state);
    const onError = (m: unknown): void => void errors.push((m as { error: unknown }).error);
    subscribe('wirecall:connection:state', onState);
    subscribe('wirecall:connection:error', onError);
    cleanups.push(() => unsubscribe('wirecall:connection:state', onState));
    cleanups.push(() => unsubscribe('wirecall:connection:error', onError));
    const { client } = await pair();
    client.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(states).toEqual(expect.arrayContaining(['pending', 'connected', 'closing', 'closed']));
    expect(errors.length).toBeGreaterThan(0);
  });
});

describe('stats()', () => {
  it('counts calls, errors, streams, notifications and bytes on both sides, and the server keeps closed connections in its totals', async () => {
    const { server, client } = await pair();
    for (let i = 0; i < 5; i++) await client.call('add', { a: i, b: 1 });
    await expect(client.call('fail')).rejects.toThrow();
    await expect(client.call('nope')).rejects.toThrow();
    for await (const _ of client.stream('count', { n: 2 })) void _;
    client.notify('add', { a: 1, b: 2 });
    await client.call('add', { a: 0, b: 0 });
    const c = client.stats();
    expect(c).toMatchObject({
      state: 'connected',
      callsMade: 8,
      callsMadeFailed: 2,
      callsReceived: 0,
      streamsOpened: 1,
      notificationsSent: 1,
      callsInFlight: 0,
      streamsOpen: 0,
      readingPaused: false,
    });
    expect(c.bytesIn).toBeGreaterThan(0);
    expect(c.bytesOut).toBeGreaterThan(0);
    const s = server.stats();
    expect(s).toMatchObject({ connections: 1, pendingHandshakes: 0, accepted: 1, refused: 0, callsReceived: 8, errorsSent: 2, streamsAccepted: 1, notificationsReceived: 1 });
    expect(s.bytesIn).toBe(c.bytesOut);
    await client.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(server.stats()).toMatchObject({ connections: 0, accepted: 1, callsReceived: 8, errorsSent: 2 });
  });

  it('shows calls in flight while they run', async () => {
    const { server, client } = await pair();
    const ac = new AbortController();
    const pending = client.call('slow', undefined, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 20));
    expect(client.stats().callsInFlight).toBe(1);
    expect(server.stats().callsActive).toBe(1);
    ac.abort();
    await pending.catch(() => {});
  });
});
