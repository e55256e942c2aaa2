/** The connection pool through TransportManager: real servers on Unix sockets, a real services.json. */
import { afterEach, describe, expect, it } from 'vitest';
import { AcquireTimeout, PoolExhausted, ServiceNotFound } from '../errors.js';
import type { Lease } from './pool.js';
import { Scratch } from '../test-util/scratch.js';
import { managedServers } from '../test-util/tag-servers.js';
import { waitFor } from '../test-util/wait.js';
import { TransportManager } from './transport-manager.js';
import type { TransportManagerOptions } from './options.js';

const scratch = new Scratch();
const managers: TransportManager[] = [];

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.shutdown()));
  await scratch.cleanup();
});

/** A manager on a fresh registry with one registered server per tag. */
const setup = (options: TransportManagerOptions, tags?: string[]) => managedServers(scratch, managers, { cleanupInterval: 0, ...options }, tags);

/** Settles to 'pending' if the promise has not settled within a few event-loop turns. */
async function peek<T>(promise: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((r) => setTimeout(() => r('pending'), 50))]);
}

describe('ConnectionPool', () => {
  it('never exceeds maxConnectionsPerDcc; a released connection goes to the waiter', async () => {
    const { manager } = await setup({ maxConnectionsPerDcc: 2 });
    const a = await manager.acquireConnection('maya');
    const b = await manager.acquireConnection('maya');
    expect(a.connection).not.toBe(b.connection);
    expect(manager.poolSize()).toBe(2);
    expect(await a.connection.call('whoami')).toBe('one');

    const third = manager.acquireConnection('maya');
    expect(await peek(third)).toBe('pending');
    expect(manager.poolSize()).toBe(2);
    a.release();
    a.release(); // idempotent: must not hand the connection out twice
    const c = await third;
    expect(c.connection).toBe(a.connection);
    expect(manager.poolSize()).toBe(2);
    expect(await c.connection.call('echo', 7)).toBe(7);
    b.release();
    c.release();
  });

  it('serves waiters first come, first served', async () => {
    const { manager } = await setup({ maxConnectionsPerDcc: 1 });
    const first = await manager.acquireConnection('maya');
    const order: string[] = [];
    const w1 = manager.acquireConnection('maya').then((l) => (order.push('w1'), l));
    const w2 = manager.acquireConnection('maya').then((l) => (order.push('w2'), l));
    expect(await peek(w1)).toBe('pending');
    first.release();
    const l1 = await w1;
    expect(await peek(w2)).toBe('pending');
    l1.release();
    (await w2).release();
    expect(order).toEqual(['w1', 'w2']);
  });

  it('waits acquireTimeout, then AcquireTimeout; timeout 0 fails at once with PoolExhausted', async () => {
    const { manager } = await setup({ maxConnectionsPerDcc: 1, acquireTimeout: 100 });
    const held = await manager.acquireConnection('maya');
    await expect(manager.acquireConnection('maya')).rejects.toBeInstanceOf(AcquireTimeout);
    await expect(manager.acquireConnection('maya', undefined, { timeout: 0 })).rejects.toBeInstanceOf(PoolExhausted);
    // The failed waiters left nothing behind: the next caller gets the connection on release.
    const next = manager.acquireConnection('maya');
    held.release();
    expect((await next).connection).toBe(held.connection);
  });

  it('an aborted wait rejects with the signal reason and leaves the queue', async () => {
    const { manager } = await setup({ maxConnectionsPerDcc: 1 });
    const held = await manager.acquireConnection('maya');
    const ac = new AbortController();
    const waiting = manager.acquireConnection('maya', undefined, { signal: ac.signal });
    ac.abort(new Error('no longer needed'));
    await expect(waiting).rejects.toThrow('no longer needed');
    const next = manager.acquireConnection('maya');
    held.release();
    expect((await next).connection).toBe(held.connection);
  });

  it('evicts idle connections after maxIdleTime', async () => {
    const { manager } = await setup({ maxIdleTime: 200 });
    const lease = await manager.acquireConnection('maya');
    lease.release();
    expect((await manager.cleanup()).evictedConnections).toBe(0);
    await new Promise((r) => setTimeout(r, 250));
    expect((await manager.cleanup()).evictedConnections).toBe(1);
    expect(manager.poolSize()).toBe(0);
    await waitFor('the evicted connection to close', () => lease.connection.state === 'closed');
  });

  it('retires connections after maxLifetime: idle ones at once, leased ones on release', async () => {
    const { manager } = await setup({ maxLifetime: 50 });
    const idle = await manager.acquireConnection('maya');
    const busy = await manager.acquireConnection('maya');
    idle.release();
    await new Promise((r) => setTimeout(r, 80));
    expect((await manager.cleanup()).evictedConnections).toBe(1);
    expect(manager.poolSize()).toBe(1);
    expect(busy.connection.state).toBe('connected'); // never yanked from under its user
    busy.release();
    expect(manager.poolSize()).toBe(0);
    // A new acquire opens a fresh connection.
    const fresh = await manager.acquireConnection('maya');
    expect(fresh.connection).not.toBe(busy.connection);
    fresh.release();
  });

  it('drops broken connections, idle or leased', async () => {
    const { manager, servers } = await setup({});
    const idle = await manager.acquireConnection('maya');
    const leased = await manager.acquireConnection('maya');
    idle.release();
    expect(manager.poolSize()).toBe(2);
    await servers[0]!.server.close({ drainTimeout: 100 });
    await waitFor('the idle connection to leave the pool', () => manager.poolSize() === 1);
    await waitFor('the leased connection to close', () => leased.connection.state === 'closed');
    leased.release();
    expect(manager.poolSize()).toBe(0);
  });

  it('acquires by instance id or prefix, making room by closing an idle connection to another instance', async () => {
    const { manager, servers } = await setup({ maxConnectionsPerDcc: 1 }, ['one', 'two']);
    const [one, two] = servers as [(typeof servers)[0], (typeof servers)[0]];
    const first: Lease = await manager.acquireConnection('maya', one.instanceId);
    expect(await first.connection.call('whoami')).toBe('one');
    first.release();
    const second = await manager.acquireConnection('maya', two.instanceId.slice(0, 8));
    expect(second.instanceId).toBe(two.instanceId);
    expect(await second.connection.call('whoami')).toBe('two');
    expect(manager.poolSize()).toBe(1);
    await waitFor('the idle connection to one to close', () => first.connection.state === 'closed');
    second.release();
    await expect(manager.acquireConnection('maya', 'ffffffff')).rejects.toBeInstanceOf(ServiceNotFound);
  });

  it('shutdown fails waiters and closes every connection', async () => {
    const { manager } = await setup({ maxConnectionsPerDcc: 1 });
    const held = await manager.acquireConnection('maya');
    const waiting = expect(manager.acquireConnection('maya')).rejects.toMatchObject({ code: 'ERR_SHUTDOWN' });
    await manager.shutdown();
    await waiting;
    expect(held.connection.state).toBe('closed');
    expect(manager.poolSize()).toBe(0);
    held.release(); // harmless after shutdown
  });
});
