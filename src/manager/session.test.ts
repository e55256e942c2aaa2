/** Sessions through TransportManager: real servers on Unix sockets, a real services.json. */
import { afterEach, describe, expect, it } from 'vitest';
import {
  CallCancelled,
  DeadlineExceeded,
  InvalidSessionState,
  ReconnectionFailed,
  RemoteError,
  ServiceNotFound,
  SessionNotFound,
} from '../errors.js';
import type { TransportManagerOptions } from './options.js';
import { Scratch } from '../test-util/scratch.js';
import { managedServers, tagServer } from '../test-util/tag-servers.js';
import { waitFor } from '../test-util/wait.js';
import { TransportManager } from './transport-manager.js';

const scratch = new Scratch();
const managers: TransportManager[] = [];

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.shutdown()));
  await scratch.cleanup();
});

/** Fast reconnects for tests: 20 ms doubling to 100 ms, no jitter, 20 attempts. */
const FAST: TransportManagerOptions = {
  cleanupInterval: 0,
  reconnectBackoffBase: 20,
  reconnectBackoffMax: 100,
  reconnectJitter: false,
  reconnectMaxRetries: 20,
};

const setup = (options: TransportManagerOptions = {}, tags?: string[]) => managedServers(scratch, managers, { ...FAST, ...options }, tags);

describe('sessions', () => {
  it('get-or-create returns the one live session per instance, with the reference info fields', async () => {
    const { manager, servers } = await setup();
    const [a, b] = await Promise.all([manager.getOrCreateSession('maya'), manager.getOrCreateSession('maya')]);
    expect(a).toBe(b);
    expect(await manager.getOrCreateSession('maya', servers[0]!.instanceId)).toBe(a);
    expect(manager.sessionCount()).toBe(1);
    expect(manager.size).toBe(1);
    expect(manager.getSession(a.id)).toMatchObject({
      id: a.id,
      dccType: 'maya',
      instanceId: servers[0]!.instanceId,
      host: '127.0.0.1',
      port: 0,
      endpoint: servers[0]!.endpoint,
      state: 'connected',
      requestCount: 0,
      errorCount: 0,
      avgLatencyMs: 0,
      errorRate: 0,
      reconnectAttempts: 0,
    });
    expect(manager.listSessions().map((s) => s.id)).toEqual([a.id]);
    expect(manager.toString()).toMatch(/^TransportManager\(services=\d+, sessions=1, pool=0\)$/);
  });

  it('session.call records successes, errors and latency by itself', async () => {
    const { manager } = await setup();
    const session = await manager.getOrCreateSession('maya');
    expect(await session.call('whoami')).toBe('one');
    expect(await session.call('echo', { x: 1 })).toEqual({ x: 1 });
    await expect(session.call('nope')).rejects.toBeInstanceOf(RemoteError);
    const info = session.info();
    expect(info).toMatchObject({ requestCount: 3, errorCount: 1, inFlight: 0 });
    expect(info.errorRate).toBeCloseTo(1 / 3);
    expect(info.avgLatencyMs).toBeGreaterThan(0);
    expect(info.lastError).toMatch(/method not found: nope/);
    manager.recordSuccess(session.id, 10);
    manager.recordError(session.id, 20, new Error('by hand'));
    expect(manager.getSession(session.id)).toMatchObject({ requestCount: 5, errorCount: 2, lastError: 'by hand' });
    expect(() => manager.recordSuccess('no-such-session', 1)).toThrow(SessionNotFound);
    expect(() => manager.beginReconnect('no-such-session')).toThrow(SessionNotFound);
  });

  it('pins an instance by id prefix; an unknown id is ServiceNotFound', async () => {
    const { manager, servers } = await setup({}, ['one', 'two']);
    const session = await manager.getOrCreateSession('maya', servers[1]!.instanceId.slice(0, 6));
    expect(session.pinned).toBe(true);
    expect(await session.call('whoami')).toBe('two');
    await expect(manager.getOrCreateSession('maya', 'ffffffff-dead')).rejects.toBeInstanceOf(ServiceNotFound);
    await expect(manager.getOrCreateSession('houdini')).rejects.toBeInstanceOf(ServiceNotFound);
  });

  it('a closed session is forgotten and replaced by a new one', async () => {
    const { manager } = await setup();
    const first = await manager.getOrCreateSession('maya');
    expect(await manager.closeSession(first.id)).toBe(true);
    expect(first.state).toBe('closed');
    expect(manager.getSession(first.id)).toBeUndefined();
    expect(await manager.closeSession(first.id)).toBe(false);
    await expect(first.call('whoami')).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
    const second = await manager.getOrCreateSession('maya');
    expect(second.id).not.toBe(first.id);
    expect(await second.call('whoami')).toBe('one');
  });

  it('server restarted on the same endpoint: the session reconnects, and a call made meanwhile waits and succeeds', async () => {
    const { manager, servers } = await setup();
    const session = await manager.getOrCreateSession('maya');
    const states: string[] = [];
    session.on('state', (s) => states.push(s));
    await servers[0]!.server.close({ drainTimeout: 100 });
    await waitFor('the session to start reconnecting', () => session.state === 'reconnecting');
    const pending = session.call('whoami', undefined, { timeout: 10_000 });
    await waitFor('a failed attempt', () => session.info().reconnectAttempts >= 2);
    await tagServer(scratch, 'one again', servers[0]!.endpoint);
    expect(await pending).toBe('one again');
    expect(session.state).toBe('connected');
    expect(session.info().reconnectAttempts).toBe(0);
    expect(states).toEqual(['reconnecting', 'connected']);
    expect(await session.call('whoami')).toBe('one again');
  });

  it('streams go over the session, wait while it reconnects, and count as requests', async () => {
    const { manager, servers } = await setup();
    const session = await manager.getOrCreateSession('maya');
    const got: unknown[] = [];
    for await (const m of session.stream('count', { n: 3 })) got.push(m);
    expect(got).toEqual(['one:0', 'one:1', 'one:2']);
    const sum = session.clientStream('sum');
    for (const n of [1, 2, 3]) await sum.write(n);
    sum.end();
    expect(await sum.result).toBe(6);
    await waitFor('stats', () => session.info().requestCount === 2);
    expect(session.info().errorCount).toBe(0);

    await servers[0]!.server.close({ drainTimeout: 100 });
    await waitFor('the session to start reconnecting', () => session.state === 'reconnecting');
    // Opened while reconnecting: the writes and the end queue up until the stream opens.
    const early = session.clientStream('sum', undefined, { timeout: 10_000 });
    const writes = [early.write(10), early.write(20)];
    early.end();
    const reading = (async () => {
      const out: unknown[] = [];
      for await (const m of session.stream('count', { n: 2 }, { timeout: 10_000 })) out.push(m);
      return out;
    })();
    await tagServer(scratch, 'back', servers[0]!.endpoint);
    await Promise.all(writes);
    expect(await early.result).toBe(30);
    expect(await reading).toEqual(['back:0', 'back:1']);

    // A stream that cannot open fails like a call would, and counts as an error.
    const before = session.info().errorCount;
    await expect(session.stream('nope').result).rejects.toBeInstanceOf(RemoteError);
    await waitFor('error recorded', () => session.info().errorCount === before + 1);
  });

  it('gives up after reconnectMaxRetries: closed with ReconnectionFailed, waiting calls fail with it', async () => {
    const { manager, servers } = await setup({ reconnectMaxRetries: 2, reconnectBackoffBase: 10 });
    const session = await manager.getOrCreateSession('maya');
    const closed = new Promise<Error>((resolve) => session.once('close', resolve));
    await servers[0]!.server.close({ drainTimeout: 100 });
    await waitFor('reconnecting', () => session.state === 'reconnecting');
    const waiting = session.call('whoami');
    await expect(waiting).rejects.toBeInstanceOf(ReconnectionFailed);
    const error = await closed;
    expect(error).toBeInstanceOf(ReconnectionFailed);
    expect(error.message).toMatch(/gave up after 2 reconnect attempts \(last error: ERR_CONNECTION_FAILED: /);
    expect(session.state).toBe('closed');
    expect(manager.getSession(session.id)).toBeUndefined();
  });

  it('a call waiting for a reconnect honours its timeout and its signal', async () => {
    const { manager, servers } = await setup();
    const session = await manager.getOrCreateSession('maya');
    await servers[0]!.server.close({ drainTimeout: 100 });
    await waitFor('reconnecting', () => session.state === 'reconnecting');
    await expect(session.call('whoami', undefined, { timeout: 50 })).rejects.toBeInstanceOf(DeadlineExceeded);
    const ac = new AbortController();
    const cancelled = session.call('whoami', undefined, { signal: ac.signal });
    ac.abort();
    await expect(cancelled).rejects.toBeInstanceOf(CallCancelled);
    expect(session.info()).toMatchObject({ errorCount: 2, inFlight: 0 });
  });

  it('idle timeout: the session goes idle and releases its socket; the next call wakes it', async () => {
    const { manager } = await setup({ idleTimeout: 200 });
    const session = await manager.getOrCreateSession('maya');
    const first = session.connection!;
    expect((await manager.cleanup()).idledSessions).toBe(0);
    await new Promise((r) => setTimeout(r, 250));
    expect(await manager.cleanup()).toMatchObject({ idledSessions: 1, closedSessions: 0 });
    expect(session.state).toBe('idle');
    expect(session.connection).toBeUndefined();
    await waitFor('the idle socket to close', () => first.state === 'closed');
    expect(await session.call('whoami')).toBe('one');
    expect(session.state).toBe('connected');
    expect(session.connection).not.toBe(first);
    // get-or-create wakes an idle session too.
    await new Promise((r) => setTimeout(r, 250));
    await manager.cleanup();
    expect(session.state).toBe('idle');
    expect(await manager.getOrCreateSession('maya')).toBe(session);
    expect(session.state).toBe('connected');
  });

  it('max session lifetime: cleanup closes the session', async () => {
    const { manager } = await setup({ maxSessionLifetime: 50 });
    const session = await manager.getOrCreateSession('maya');
    await new Promise((r) => setTimeout(r, 80));
    expect(await manager.cleanup()).toMatchObject({ closedSessions: 1 });
    expect(session.state).toBe('closed');
    expect(session.closeReason?.message).toMatch(/max lifetime of 50 ms/);
    expect(manager.sessionCount()).toBe(0);
  });

  it('the background cleanup timer applies the idle timeout by itself', async () => {
    const { manager } = await setup({ idleTimeout: 30, cleanupInterval: 20 });
    const session = await manager.getOrCreateSession('maya');
    await waitFor('the session to go idle', () => session.state === 'idle');
  });

  it('beginReconnect by hand: base × 2^(n-1) without jitter, ReconnectionFailed past the limit', async () => {
    const { manager } = await setup({ reconnectBackoffBase: 1000, reconnectBackoffMax: 30_000, reconnectMaxRetries: 3 });
    const session = await manager.getOrCreateSession('maya');
    expect(() => manager.reconnectSuccess(session.id)).toThrow(InvalidSessionState); // connected → connected
    expect([1, 2, 3].map(() => manager.beginReconnect(session.id))).toEqual([1000, 2000, 4000]);
    expect(session.state).toBe('reconnecting');
    expect(session.info().reconnectAttempts).toBe(3);
    expect(() => manager.beginReconnect(session.id)).toThrow(ReconnectionFailed);
    expect(session.state).toBe('closed');
    expect(() => session.transition('connected')).toThrow(InvalidSessionState); // closed is terminal
    expect(() => manager.beginReconnect(session.id)).toThrow(SessionNotFound);
  });

  it('reconnectSuccess by hand ends a reconnect; calls then work again', async () => {
    const { manager } = await setup({ reconnectBackoffBase: 50, reconnectMaxRetries: 3 });
    const session = await manager.getOrCreateSession('maya');
    expect(manager.beginReconnect(session.id)).toBe(50);
    manager.reconnectSuccess(session.id);
    expect(session.info()).toMatchObject({ state: 'connected', reconnectAttempts: 0 });
    expect(await session.call('whoami', undefined, { timeout: 5000 })).toBe('one');
    expect(session.state).toBe('connected');
  });

  it('an unpinned session whose instance is gone moves to another live instance', async () => {
    const { manager, servers } = await setup({}, ['one', 'two']);
    const session = await manager.getOrCreateSession('maya');
    const [one, two] = servers as [(typeof servers)[0], (typeof servers)[0]];
    expect(session.instanceId).toBe(one.instanceId);
    await manager.deregisterService('maya', one.instanceId);
    await one.server.close({ drainTimeout: 100 });
    expect(await session.call('whoami', undefined, { timeout: 5000 })).toBe('two');
    expect(session.instanceId).toBe(two.instanceId);
    expect(await manager.getOrCreateSession('maya', two.instanceId)).toBe(session);
    expect(manager.sessionCount()).toBe(1);
  });

  it('a pinned session does not move: it waits for its own instance', async () => {
    const { manager, servers } = await setup({ reconnectMaxRetries: 3, reconnectBackoffBase: 10 }, ['one', 'two']);
    const [one] = servers as [(typeof servers)[0]];
    const session = await manager.getOrCreateSession('maya', one.instanceId);
    await one.server.close({ drainTimeout: 100 });
    await expect(session.call('whoami')).rejects.toBeInstanceOf(ReconnectionFailed);
    expect(session.instanceId).toBe(one.instanceId);
  });
});
