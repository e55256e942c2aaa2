/**
 * RedisRegistry against a real redis-server the file starts (src/test-util/redis.ts):
 * rows, leases, expiry without a cleaner, atomic scripts under concurrent registrants.
 * Each test uses a prefix of its own on the one server.
 */
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ServiceAlreadyRegistered } from '../../errors.js';
import { parseEndpoint } from '../../transport/endpoint.js';
import { rowOf } from '../registry/row-codec.js';
import { redisPeer, startRedis, type RedisServer } from '../../test-util/redis.js';
import { RedisRegistry, type RedisRegistryOptions } from './redis-registry.js';
import { eventsKey, indexKey, instanceKey, revKey } from './scripts.js';

const peer = redisPeer('Redis registry tests');
let server: RedisServer;
const open: RedisRegistry[] = [];
let prefixes = 0;

beforeAll(async () => {
  if (peer.installed) server = await startRedis();
});
afterAll(async () => server?.stop());
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

function registry(options: Partial<RedisRegistryOptions> = {}): RedisRegistry {
  const r = new RedisRegistry({ url: server.url, prefix: `{wc-test-${process.pid}-${++prefixes}}`, ...options });
  open.push(r);
  return r;
}

const tcp = (port: number) => parseEndpoint(`tcp://127.0.0.1:${port}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.runIf(peer.run)('RedisRegistry', () => {
  it('redis-server is installed', () => peer.requireInstalled());

  it('register, list, get, heartbeat, setStatus, deregister; rows have the services.json fields', async () => {
    const r = registry();
    const a = await r.register('maya', tcp(18812), { version: '2025.1', scene: 'shot010.mb', metadata: { user: 'ana' } });
    const b = await r.register('houdini', parseEndpoint('unix:/tmp/h.sock'));
    expect(a.registeredAt).toBeGreaterThan(Date.now() - 60_000);
    expect((await r.listInstances('maya')).map((e) => e.instanceId)).toEqual([a.instanceId]);
    expect((await r.listAll()).map((e) => e.instanceId).sort()).toEqual([a.instanceId, b.instanceId].sort());

    const got = (await r.get('maya', a.instanceId))!;
    expect(got).toMatchObject({ dccType: 'maya', host: '127.0.0.1', port: 18812, version: '2025.1', scene: 'shot010.mb', status: 'available' });
    expect(got.metadata).toEqual({ user: 'ana' });
    expect(got.transportAddress).toEqual({ type: 'tcp', host: '127.0.0.1', port: 18812 });
    expect(Object.keys(rowOf(got))).toEqual(Object.keys(rowOf(a)));

    await sleep(5);
    expect(await r.heartbeat('maya', a.instanceId)).toBe(true);
    expect((await r.get('maya', a.instanceId))!.lastHeartbeat).toBeGreaterThan(got.lastHeartbeat);
    expect(await r.setStatus('maya', a.instanceId, 'busy')).toBe(true);
    expect((await r.listInstances('maya'))[0]!.status).toBe('busy');

    await expect(r.register('maya', tcp(1), { instanceId: a.instanceId })).rejects.toBeInstanceOf(ServiceAlreadyRegistered);
    expect(await r.deregister('maya', a.instanceId)).toBe(true);
    expect(await r.deregister('maya', a.instanceId)).toBe(false);
    expect(await r.heartbeat('maya', a.instanceId)).toBe(false);
    expect(await r.setStatus('maya', a.instanceId, 'busy')).toBe(false);
    expect(await r.get('maya', a.instanceId)).toBeUndefined();
    expect(await r.listInstances('maya')).toEqual([]);
    // The same id may register again once its row is gone.
    await r.register('maya', tcp(18812), { instanceId: a.instanceId });
  });

  it('a lease not heartbeated vanishes without any cleanup; its heartbeat then answers false and it registers again', async () => {
    const r = registry({ ttlMs: 300 });
    const a = await r.register('maya', tcp(18812));
    const kept = await r.register('maya', tcp(18813));
    const redis = createClient({ url: server.url });
    await redis.connect();
    try {
      for (let i = 0; i < 6; i++) {
        await sleep(100);
        expect(await r.heartbeat('maya', kept.instanceId)).toBe(true);
      }
      // Nobody pruned: readers filter by the deadline, and the hash's own TTL removed it.
      expect((await r.listInstances('maya')).map((e) => e.instanceId)).toEqual([kept.instanceId]);
      expect(await redis.exists(instanceKey(r.prefix, 'maya', a.instanceId))).toBe(0);
      expect(await r.get('maya', a.instanceId)).toBeUndefined();
      expect(await redis.zScore(indexKey(r.prefix, 'maya'), a.instanceId)).not.toBeNull(); // not pruned yet
      expect(await r.heartbeat('maya', a.instanceId)).toBe(false);
      // A lost lease registers again under its id (what Registrations does when a heartbeat says false).
      await r.register('maya', tcp(18812), { instanceId: a.instanceId });
      expect((await r.listInstances('maya')).length).toBe(2);
      const types = ((await redis.xRange(eventsKey(r.prefix), '-', '+')) ?? []).map((e) => e.message['type']);
      expect(types).toEqual(['up', 'up', 'expire', 'up']);
      // prune() removes the index entries of expired leases.
      await sleep(400);
      expect(await r.prune()).toBe(2);
      expect(await redis.zCard(indexKey(r.prefix, 'maya'))).toBe(0);
    } finally {
      redis.destroy();
    }
  });

  it('uses the server clock: deadlines are the server TIME plus the TTL', async () => {
    const r = registry({ ttlMs: 10_000 });
    const a = await r.register('maya', tcp(18812));
    const redis = createClient({ url: server.url });
    await redis.connect();
    try {
      const [secs, micros] = await redis.time().then((t) => [Number(t[0]), Number(t[1])]);
      const serverNow = secs! * 1000 + Math.floor(micros! / 1000);
      const deadline = Number(await redis.zScore(indexKey(r.prefix, 'maya'), a.instanceId));
      expect(deadline - a.registeredAt).toBe(10_000);
      expect(Math.abs(a.registeredAt - serverNow)).toBeLessThan(5_000);
      const pttl = await redis.pTTL(instanceKey(r.prefix, 'maya', a.instanceId));
      expect(pttl).toBeGreaterThan(9_000);
      expect(pttl).toBeLessThanOrEqual(10_000);
    } finally {
      redis.destroy();
    }
  });

  it('scripts are atomic under concurrent registrants: one winner per id, one event per change, no lost rows', async () => {
    const prefix = `{wc-race-${process.pid}}`;
    const racers = Array.from({ length: 8 }, () => new RedisRegistry({ url: server.url, prefix }));
    open.push(...racers);
    const id = '3f2a0000-0000-4000-8000-000000000001';
    for (let round = 0; round < 10; round++) {
      const results = await Promise.allSettled(racers.map((r, i) => r.register('maya', tcp(20000 + i), { instanceId: id })));
      expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
      expect(results.filter((x) => x.status === 'rejected').every((x) => (x as PromiseRejectedResult).reason instanceof ServiceAlreadyRegistered)).toBe(true);
      const results2 = await Promise.all(racers.map((r) => r.deregister('maya', id)));
      expect(results2.filter(Boolean)).toHaveLength(1);
    }
    // Many distinct registrants at once, with heartbeats and status changes interleaved.
    const ids = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const r = racers[i % racers.length]!;
        const e = await r.register(`t${i % 4}`, tcp(21000 + i));
        await Promise.all([r.heartbeat(e.dccType, e.instanceId), r.setStatus(e.dccType, e.instanceId, 'busy')]);
        return e.instanceId;
      }),
    );
    const all = await racers[0]!.listAll();
    expect(all.map((e) => e.instanceId).sort()).toEqual([...ids].sort());
    expect(all.every((e) => e.status === 'busy')).toBe(true);
    const redis = createClient({ url: server.url });
    await redis.connect();
    try {
      const events = (await redis.xRange(eventsKey(prefix), '-', '+')) ?? [];
      const revision = Number(await redis.get(revKey(prefix)));
      // 10 rounds × (up + down), then 200 × (up + status): each change one revision and one entry, in order.
      expect(revision).toBe(20 + 400);
      expect(events.map((e) => e.id)).toEqual(Array.from({ length: revision }, (_, i) => `${i + 1}-0`));
    } finally {
      redis.destroy();
    }
  });

  it('accepts a node-redis client object (not closed by close())', async () => {
    const client = createClient({ url: server.url });
    const r = new RedisRegistry({ client, prefix: `{wc-client-${process.pid}}` });
    const a = await r.register('maya', tcp(18812));
    expect((await r.listInstances('maya'))[0]!.instanceId).toBe(a.instanceId);
    await r.close();
    expect(client.isOpen).toBe(true);
    expect(await client.ping()).toBe('PONG');
    client.destroy();
  });

  it('an unreachable server fails the operation with a typed error', async () => {
    const r = new RedisRegistry({ url: 'redis://127.0.0.1:1', onWarning: () => undefined });
    await expect(r.listAll()).rejects.toThrow(/cannot connect to the Redis registry at redis:\/\/127\.0\.0\.1:1/);
    await r.close();
  });
});
