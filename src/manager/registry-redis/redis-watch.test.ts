/**
 * RedisRegistry.watch() and a TransportManager routed through Redis, against a real
 * redis-server this file starts: events in order, resync after the stream was trimmed
 * past the watch and after the server lost its data, sessions and serveRegistered on a
 * `redis://` registry.
 */
import { createClient, createCluster, createSentinel } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../../index.js';
import { parseEndpoint } from '../../transport/endpoint.js';
import { redisPeer, startRedis, startSentinel, type RedisServer } from '../../test-util/redis.js';
import type { RegistryEvent } from '../registry/types.js';
import { serveRegistered, type RegisteredServer } from '../serve-registered.js';
import { TransportManager } from '../transport-manager.js';
import { RedisRegistry, type RedisRegistryOptions } from './redis-registry.js';

const peer = redisPeer('Redis registry watch tests');
let server: RedisServer;
const cleanups: Array<() => Promise<unknown>> = [];
let prefixes = 0;

beforeAll(async () => {
  if (peer.installed) server = await startRedis();
});
afterAll(async () => server?.stop());
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function registry(options: Partial<RedisRegistryOptions> = {}): RedisRegistry {
  const r = new RedisRegistry({ url: server.url, prefix: `{wc-watch-${process.pid}-${++prefixes}}`, watchIntervalMs: 100, ...options });
  cleanups.push(() => r.close());
  return r;
}

/** Pulls events one at a time, each within `ms`. */
function reader(events: AsyncIterable<RegistryEvent>) {
  const it = events[Symbol.asyncIterator]();
  cleanups.push(async () => it.return?.());
  return async (ms = 5000): Promise<RegistryEvent> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no watch event within ${ms} ms`)), ms)));
    try {
      const next = await Promise.race([it.next(), timeout]);
      if (next.done === true) throw new Error('the watch ended');
      return next.value;
    } finally {
      clearTimeout(timer);
    }
  };
}

const tcp = (port: number) => parseEndpoint(`tcp://127.0.0.1:${port}`);
/** On an empty registry: a watch sees one instance come up and go, heartbeats and lists in between. */
async function registerWatchAndLeave(r: RedisRegistry): Promise<void> {
  cleanups.push(() => r.close());
  const next = reader(r.watch());
  expect(await next()).toMatchObject({ type: 'snapshot', entries: [] });
  const a = await r.register('maya', tcp(18812));
  expect(await next()).toMatchObject({ type: 'up', entry: { instanceId: a.instanceId } });
  expect(await r.heartbeat('maya', a.instanceId)).toBe(true);
  expect((await r.listAll()).map((e) => e.instanceId)).toEqual([a.instanceId]);
  expect(await r.deregister('maya', a.instanceId)).toBe(true);
  expect(await next()).toMatchObject({ type: 'down', instanceId: a.instanceId });
}

const idOf = (e: RegistryEvent): string | undefined => ('entry' in e && e.entry !== undefined ? e.entry.instanceId : 'instanceId' in e ? e.instanceId : undefined);

describe.runIf(peer.run)('RedisRegistry.watch', () => {
  it('redis-server is installed', () => peer.requireInstalled());

  it('a snapshot, then up / status / down / expire in order, with consecutive revisions', async () => {
    const r = registry({ ttlMs: 400 });
    const before = await r.register('maya', tcp(18811));
    await r.register('houdini', tcp(18900)); // another type: not in a 'maya' watch
    const next = reader(r.watch('maya'));
    const snap = await next();
    expect(snap).toMatchObject({ type: 'snapshot', resync: false });
    expect(snap.type === 'snapshot' && snap.entries.map((e) => e.instanceId)).toEqual([before.instanceId]);

    const a = await r.register('maya', tcp(18812));
    const b = await r.register('maya', tcp(18813));
    await r.register('houdini', tcp(18901));
    await r.setStatus('maya', a.instanceId, 'busy');
    await r.deregister('maya', b.instanceId);
    const seen: RegistryEvent[] = [];
    // `before`, then `a`, run out of lease (nobody heartbeats): the watch prunes them itself.
    while (seen.filter((e) => e.type === 'expire').length < 2) seen.push(await next());
    expect(seen.map((e) => [e.type, idOf(e)])).toEqual([
      ['up', a.instanceId],
      ['up', b.instanceId],
      ['status', a.instanceId],
      ['down', b.instanceId],
      ['expire', before.instanceId],
      ['expire', a.instanceId],
    ]);
    const status = seen[2]!;
    expect(status.type === 'status' && status.entry.status).toBe('busy');
    const revisions = seen.map((e) => e.revision);
    expect(revisions.slice(0, 4)).toEqual([snap.revision + 1, snap.revision + 2, snap.revision + 4, snap.revision + 5]);
    expect([...revisions].sort((x, y) => x - y)).toEqual(revisions);
  });

  it('resynchronises from a new snapshot when the stream was trimmed past the watch', async () => {
    const admin = createClient({ url: server.url });
    await admin.connect();
    cleanups.push(async () => admin.destroy());
    await admin.configSet('stream-node-max-entries', '2'); // so MAXLEN ~ trims in small steps
    cleanups.push(() => admin.configSet('stream-node-max-entries', '100'));
    const r = registry({ streamMaxLen: 4 });
    const next = reader(r.watch());
    expect(await next()).toMatchObject({ type: 'snapshot', entries: [], resync: false });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await r.register('maya', tcp(19000 + i))).instanceId);
    // The watch has read nothing since its snapshot: the first 26 changes are trimmed away.
    const resync = await next();
    expect(resync.type).toBe('snapshot');
    if (resync.type !== 'snapshot') return;
    expect(resync.resync).toBe(true);
    expect(resync.revision).toBe(30);
    expect(resync.entries.map((e) => e.instanceId).sort()).toEqual([...ids].sort());
    const later = await r.register('maya', tcp(19100));
    expect(await next()).toMatchObject({ type: 'up', revision: 31, entry: { instanceId: later.instanceId } });
  });

  it('a TransportManager routes sessions through a redis:// registry; serveRegistered heartbeats there', async () => {
    const served: RegisteredServer[] = [];
    for (const name of ['one', 'two']) {
      const s = createServer({ name });
      s.register('whoami', () => name);
      const service = await serveRegistered(s, {
        dccType: 'maya',
        endpoint: 'tcp://127.0.0.1:0',
        registry: server.url,
        heartbeatInterval: 100,
        handleSignals: false,
        onWarning: () => undefined,
      });
      served.push(service);
      cleanups.push(() => service.close());
    }
    const m = new TransportManager({ registry: server.url, cleanupInterval: 0, reconnectBackoffBase: 20, reconnectBackoffMax: 50, onWarning: () => undefined });
    cleanups.push(() => m.shutdown());
    const live = await m.listInstances('maya');
    expect(live.map((e) => e.instanceId).sort()).toEqual(served.map((s) => s.instanceId).sort());
    expect(live.every((e) => e.transportAddress?.type === 'tcp' && e.port > 0)).toBe(true);

    const next = reader(m.watch('maya'));
    expect(await next()).toMatchObject({ type: 'snapshot' });
    const session = await m.getOrCreateSession('maya');
    const first = served.find((s) => s.instanceId === session.instanceId)!;
    const other = served.find((s) => s !== first)!;
    expect(await session.call('whoami', undefined)).toBe(first === served[0] ? 'one' : 'two');

    // Heartbeats keep the rows past several lease lengths (ttl 300 ms = 3 × 100 ms).
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect((await m.listInstances('maya')).length).toBe(2);

    await first.close();
    expect(await next()).toMatchObject({ type: 'down', instanceId: first.instanceId });
    expect(await session.call('whoami', undefined, { timeout: 10_000 })).toBe(other === served[0] ? 'one' : 'two');
    expect(session.instanceId).toBe(other.instanceId);
  });

  it('sessions follow the watch: an instance deregistered while its server still answers loses its unpinned sessions at once', async () => {
    const served: RegisteredServer[] = [];
    for (const name of ['one', 'two']) {
      const s = createServer({ name });
      s.register('whoami', () => name);
      const service = await serveRegistered(s, { dccType: 'blender', endpoint: 'tcp://127.0.0.1:0', registry: server.url, heartbeatInterval: 100, handleSignals: false });
      served.push(service);
      cleanups.push(() => service.close());
    }
    const m = new TransportManager({ registry: server.url, cleanupInterval: 0, reconnectBackoffBase: 20, reconnectBackoffMax: 50, reconnectJitter: false });
    cleanups.push(() => m.shutdown());
    const session = await m.getOrCreateSession('blender');
    const first = served.find((s) => s.instanceId === session.instanceId)!;
    const other = served.find((s) => s !== first)!;
    await new Promise((resolve) => setTimeout(resolve, 200)); // the session watch has its snapshot
    const moved = new Promise((resolve) => session.once('rebind', resolve));
    await first.deregister(); // the server keeps serving: only the registry says it is gone
    await moved;
    expect(session.instanceId).toBe(other.instanceId);
    expect(await session.call('whoami', undefined)).toBe(other === served[0] ? 'one' : 'two');
  });

  it('the server loses its data: the heartbeat registers again and the watch resynchronises', async () => {
    const s = createServer({ name: 'flush' });
    const service = await serveRegistered(s, { dccType: 'nuke', endpoint: 'tcp://127.0.0.1:0', registry: server.url, heartbeatInterval: 100, handleSignals: false, onWarning: () => undefined });
    cleanups.push(() => service.close());
    const r = registry({ prefix: '{wirecall}' });
    const next = reader(r.watch('nuke'));
    const snap = await next();
    expect(snap.type === 'snapshot' && snap.entries.map((e) => e.instanceId)).toEqual([service.instanceId]);
    const admin = createClient({ url: server.url });
    await admin.connect();
    cleanups.push(async () => admin.destroy());
    await admin.flushAll();
    // Within a heartbeat or two the row is back, and the watch says so from a new snapshot.
    let event = await next();
    while (!(event.type === 'snapshot' && event.entries.length === 1)) event = await next();
    expect(event).toMatchObject({ type: 'snapshot', resync: true });
    expect(event.type === 'snapshot' && event.entries[0]!.instanceId).toBe(service.instanceId);
  });
});

describe.runIf(peer.run)('RedisRegistry on a Redis Cluster client', () => {
  it('every script runs in the one slot of its hash tag; watch works through the cluster client', async () => {
    peer.requireInstalled();
    const node = await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf']);
    cleanups.push(() => node.stop());
    const admin = createClient({ url: node.url });
    await admin.connect();
    await admin.sendCommand(['CLUSTER', 'ADDSLOTSRANGE', '0', '16383']); // a one-node cluster owning every slot
    for (let i = 0; i < 100 && !String(await admin.sendCommand(['CLUSTER', 'INFO'])).includes('cluster_state:ok'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    admin.destroy();
    const cluster = createCluster({ rootNodes: [{ url: node.url }] });
    await cluster.connect();
    cleanups.push(() => cluster.close());
    await registerWatchAndLeave(new RedisRegistry({ client: cluster, watchIntervalMs: 100 }));
  });
});

describe.runIf(peer.run)('RedisRegistry on a Sentinel client', () => {
  it('register, heartbeat, list, watch and deregister through the master the Sentinel names', async () => {
    peer.requireInstalled();
    const sentinel = await startSentinel(server.port);
    cleanups.push(() => sentinel.stop());
    const client = createSentinel({ name: 'mymaster', sentinelRootNodes: [{ host: '127.0.0.1', port: sentinel.port }] });
    client.on('error', () => undefined);
    await client.connect();
    cleanups.push(() => client.close());
    await registerWatchAndLeave(new RedisRegistry({ client, prefix: `{wc-sentinel-${process.pid}}`, watchIntervalMs: 100 }));
  });
});
