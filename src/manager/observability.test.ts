/** The session lifecycle channels and TransportManager.stats(). */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Scratch } from '../test-util/scratch.js';
import { managedServers, tagServer } from '../test-util/tag-servers.js';
import { waitFor } from '../test-util/wait.js';
import { TransportManager } from './transport-manager.js';
import type { SessionCloseMessage, SessionOpenMessage, SessionReconnectMessage, SessionStateMessage } from './session-channels.js';

const scratch = new Scratch();
const managers: TransportManager[] = [];
const cleanups: Array<() => void> = [];

afterEach(async () => {
  while (cleanups.length > 0) cleanups.pop()!();
  await Promise.all(managers.splice(0).map((m) => m.shutdown()));
  await scratch.cleanup();
});

function listen(name: string, into: unknown[]): void {
  const fn = (m: unknown): void => void into.push(m);
  subscribe(name, fn);
  cleanups.push(() => unsubscribe(name, fn));
}

async function managerWithMaya(): Promise<TransportManager> {
  const dir = scratch.dir();
  const m = new TransportManager({ registryDir: dir, cleanupInterval: 0 });
  managers.push(m);
  const s = await tagServer(scratch, 'a', `unix:${path.join(dir, 'a.sock')}`);
  await m.registerService('maya', s.endpoint);
  return m;
}

describe('session channels', () => {
  it('publish open, state changes and close', async () => {
    const opened: SessionOpenMessage[] = [];
    const states: SessionStateMessage[] = [];
    const closed: SessionCloseMessage[] = [];
    listen('wirecall:session:open', opened);
    listen('wirecall:session:state', states);
    listen('wirecall:session:close', closed);
    const m = await managerWithMaya();
    const session = await m.getOrCreateSession('maya');
    expect(opened.map((o) => o.session)).toEqual([session]);
    expect(session.sweep(Date.now() + m.options.idleTimeout + 1)).toBe('idled');
    await session.wake();
    await m.closeSession(session.id);
    expect(states.map((s) => [s.previous, s.state])).toEqual([
      ['connected', 'idle'],
      ['idle', 'connected'],
      ['connected', 'closed'],
    ]);
    expect(closed).toHaveLength(1);
    expect(closed[0]!.session).toBe(session);
    expect(closed[0]!.error).toBeInstanceOf(Error);
  });

  it('publish every reconnect attempt, failed ones with their error', async () => {
    const attempts: SessionReconnectMessage[] = [];
    listen('wirecall:session:reconnect', attempts);
    const fast = { cleanupInterval: 0, reconnectBackoffBase: 20, reconnectBackoffMax: 50, reconnectJitter: false, reconnectMaxRetries: 20 };
    const { manager, servers } = await managedServers(scratch, managers, fast);
    const session = await manager.getOrCreateSession('maya');
    await servers[0]!.server.close({ drainTimeout: 100 });
    await waitFor('two failed attempts', () => attempts.length >= 2);
    await tagServer(scratch, 'again', servers[0]!.endpoint);
    await waitFor('the session to reconnect', () => session.state === 'connected');
    expect(attempts.at(-1)).toEqual({ session, attempt: attempts.at(-1)!.attempt });
    const failed = attempts.slice(0, -1);
    expect(failed.every((a) => a.session === session && a.error instanceof Error)).toBe(true);
    expect(failed.map((a) => a.attempt)).toEqual(failed.map((_, i) => i + 1));
  });
});

describe('TransportManager.stats()', () => {
  it('counts sessions by state, requests (closed sessions included), the pool and the connections under them', async () => {
    const m = await managerWithMaya();
    const session = await m.getOrCreateSession('maya');
    for (let i = 0; i < 3; i++) await session.call('whoami');
    await expect(session.call('nope' as never)).rejects.toThrow();
    const lease = await m.acquireConnection('maya');
    await lease.connection.call('echo', 1);
    let s = m.stats();
    expect(s).toMatchObject({
      sessions: 1,
      sessionsByState: { connected: 1, idle: 0, reconnecting: 0, closed: 0 },
      requests: 4,
      requestErrors: 1,
      requestsInFlight: 0,
      waitingCalls: 0,
      pool: { connections: 1, leased: 1, idle: 0, opening: 0, waiters: 0 },
    });
    expect(s.connections).toMatchObject({ open: 2, callsMade: 5, callsMadeFailed: 1, callsInFlight: 0 });
    expect(s.connections.bytesOut).toBeGreaterThan(0);
    lease.release();
    await m.closeSession(session.id);
    s = m.stats();
    expect(s).toMatchObject({ sessions: 0, requests: 4, requestErrors: 1, pool: { connections: 1, leased: 0, idle: 1 } });
    expect(s.connections.open).toBe(1);
  });
});
