/**
 * Many hosts, for real (issue 15 §3): five network namespaces on a private subnet —
 * `redis` (10.231.0.1), three service hosts `a`, `b`, `c` (.2–.4) and a `client` (.5).
 * The services serve mutual TLS and register in the Redis registry with 500 ms
 * heartbeats (1.5 s leases); the client host lists and calls them with the `wirecall`
 * CLI and keeps a TransportManager session and a watch (driver-child.mjs).
 *
 * In order: discovery and mutual TLS across hosts; Redis restarted with its data gone
 * (every server registers again within a heartbeat, the watch resynchronises); one host
 * cut off the network and another's process SIGKILLed (the watch reports both gone
 * within the lease, the session fails over to the survivor, calls made meanwhile succeed
 * or fail typed, none hangs), then the cut host plugged back in (it registers again).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/test-util/wait.js';
import { makeHostCerts, type HostCerts } from './support/certs.js';
import { cliOn, startDriver, startRedisOn, startService, type CallRecord, type IpcChild, type RedisProcess, type ServiceProcess, type WatchRecord } from './support/hosts.js';
import { createTopology, netnsPeer, type Topology } from './support/netns.js';

const peer = netnsPeer();
const HEARTBEAT = 500;
const TTL = 3 * HEARTBEAT;
/** A watch prunes expired leases every second (RedisRegistry's watchIntervalMs). */
const WATCH_INTERVAL = 1000;
const REDIS_PORT = 6379;
const DCC = 'render';
/** Errors a call may end with while its host vanishes: each is typed, none is a hang. */
const TYPED = ['ERR_DEADLINE_EXCEEDED', 'ERR_CONNECTION_LOST', 'ERR_CONNECTION_CLOSED', 'ERR_RECONNECTION_FAILED', 'ERR_CONNECTION_FAILED', 'ERR_CONNECTION_TIMEOUT'];

let topo: Topology | undefined;
let certs: HostCerts | undefined;
let redis: RedisProcess | undefined;
let url: string;
const services = new Map<string, ServiceProcess>();
let driver: IpcChild;

const tlsFlags = (): string[] => ['--tls-ca', certs!.caFile, '--tls-cert', certs!.client.certFile, '--tls-key', certs!.client.keyFile];
const events = (): Promise<WatchRecord[]> => driver.ask<WatchRecord[]>('events');
const hostOf = (id: string): string | undefined => [...services.values()].find((s) => s.instanceId === id)?.host;

describe.runIf(peer.run)('across hosts: Redis registry, mutual TLS, failures', () => {
  beforeAll(async () => {
    peer.require();
    topo = createTopology(['redis', 'a', 'b', 'c', 'client']);
    certs = makeHostCerts({ a: topo.addr('a'), b: topo.addr('b'), c: topo.addr('c') });
    redis = await startRedisOn(topo, 'redis', REDIS_PORT);
    url = `redis://${topo.addr('redis')}:${REDIS_PORT}/0`;
    // One after the other: registration order is the routing order (oldest first).
    for (const host of ['a', 'b', 'c']) {
      const tls = { ...certs.server(host), caFile: certs.caFile };
      services.set(host, await startService(topo, host, { dccType: DCC, registry: url, tls, heartbeatInterval: HEARTBEAT }));
    }
    driver = await startDriver(topo, 'client', {
      dccType: DCC,
      registry: url,
      tls: { ...certs.client, caFile: certs.caFile },
      registryHeartbeatInterval: HEARTBEAT,
    });
  });

  afterAll(async () => {
    await topo?.teardown();
    certs?.cleanup();
    await redis?.kill();
  });

  it('the client host lists the services of three other hosts with `wirecall services` and calls them over mutual TLS', async () => {
    const env = { WIRECALL_REGISTRY: url };
    const listed = await cliOn(topo!, 'client', ['services', '--json'], env);
    expect(listed.stderr).toBe('');
    const rows = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
    expect(rows.map((r) => [r['instanceId'], r['endpoint'], r['tls']])).toEqual(
      ['a', 'b', 'c'].map((h) => [services.get(h)!.instanceId, `tls://${topo!.addr(h)}:7443`, true]),
    );
    const table = (await cliOn(topo!, 'client', ['services', DCC], env)).stdout.trimEnd().split('\n');
    expect(table).toHaveLength(4);
    expect(table[1]).toMatch(new RegExp(`^${DCC} +${services.get('a')!.instanceId}  tls://10\\.231\\.0\\.2:7443 +available `));

    for (const host of ['a', 'b']) {
      const call = await cliOn(topo!, 'client', ['call', DCC, 'whoami', '--instance', services.get(host)!.instanceId, ...tlsFlags()], env);
      expect(call).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(call.stdout)).toEqual({ host, client: 'netns-client' });
    }
    // Mutual TLS across hosts: no client certificate, no call.
    const refused = await cliOn(topo!, 'client', ['call', DCC, 'whoami', '--tls-ca', certs!.caFile], env);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/^error: ERR_TLS_CLIENT_CERT_REQUIRED: /);

    // The manager's first view: one snapshot with all three.
    const first = (await events())[0]!;
    expect(first).toMatchObject({ type: 'snapshot', resync: false });
    expect(first.ids.sort()).toEqual([...services.values()].map((s) => s.instanceId).sort());
  });

  it('Redis restarted with its data gone: every live server registers again within a heartbeat, the watch resynchronises', async () => {
    const ids = [...services.values()].map((s) => s.instanceId).sort();
    const before = (await events()).length;
    await redis!.kill();
    redis = await startRedisOn(topo!, 'redis', REDIS_PORT);
    const restarted = Date.now();
    // node-redis reconnects (backoff capped at 2 s), then the next heartbeat finds its lease gone and registers.
    await waitFor(
      'all three registered again',
      async () => {
        const live = (await driver.ask<Array<{ instanceId: string }>>('list').catch(() => [])).map((e) => e.instanceId).sort();
        return JSON.stringify(live) === JSON.stringify(ids);
      },
      HEARTBEAT + 2000 + 1000,
      50,
    );
    const took = Date.now() - restarted;
    // The watch: a resync snapshot after the restart, then ups; what it ends up knowing is all three.
    const after = await waitFor(
      'the watch to know all three again',
      async () => {
        const evs = (await events()).slice(before);
        const resync = evs.findIndex((e) => e.type === 'snapshot' && e.resync === true);
        if (resync < 0) return undefined;
        const known = new Set(evs[resync]!.ids);
        for (const e of evs.slice(resync + 1)) {
          if (e.type === 'up' || e.type === 'status') e.ids.forEach((id) => known.add(id));
          else if (e.type === 'down' || e.type === 'expire') e.ids.forEach((id) => known.delete(id));
        }
        return [...known].sort().join() === ids.join() ? evs : undefined;
      },
      5000,
      50,
    );
    expect(after.some((e) => e.type === 'snapshot' && e.resync === true)).toBe(true);
    expect(took).toBeLessThan(HEARTBEAT + 2500);
    console.log(`netns: re-registered in Redis ${took} ms after it came back empty`);
  });

  it('one host cut off, another killed: the watch reports both gone within the lease, the session fails over, no call hangs', async () => {
    const session = await driver.ask<{ instanceId: string }>('session');
    const first = hostOf(session.instanceId)!;
    expect(first).toBeDefined();
    // The session's own host is cut off (its calls have nowhere to go), another is killed.
    const cut = first;
    const [killed, survivor] = ['a', 'b', 'c'].filter((h) => h !== first) as [string, string];
    expect(await driver.ask<CallRecord>('call', { timeout: 3000 })).toMatchObject({ ok: true, host: cut });

    const before = (await events()).length;
    await driver.ask('startCalls', { every: 100, timeout: 2000 });
    const t0 = Date.now();
    topo!.cut(cut);
    services.get(killed)!.child.kill('SIGKILL');

    const gone = await waitFor(
      'the watch to report both gone',
      async () => {
        const evs = (await events()).slice(before).filter((e) => e.type === 'expire' || e.type === 'down');
        const ids = new Set(evs.flatMap((e) => e.ids));
        return ids.has(services.get(cut)!.instanceId) && ids.has(services.get(killed)!.instanceId) ? evs : undefined;
      },
      TTL + WATCH_INTERVAL + 3000,
      50,
    );
    for (const e of gone) expect(e.t - t0, `${e.type} of ${hostOf(e.ids[0]!)}`).toBeLessThanOrEqual(TTL + WATCH_INTERVAL + 1000);

    const moved = await waitFor(
      'the session on the survivor',
      async () => {
        const r = await driver.ask<CallRecord>('call', { timeout: 2000 });
        return r.ok && r.host === survivor ? r : undefined;
      },
      10_000,
      100,
    );
    expect(moved.host).toBe(survivor);
    await new Promise((r) => setTimeout(r, 300));
    const calls = await driver.ask<CallRecord[]>('stopCalls', {}, 15_000);
    expect(calls.length).toBeGreaterThan(10);
    for (const c of calls) {
      if (c.ok) expect([cut, survivor]).toContain(c.host);
      else expect(TYPED, c.message).toContain(c.code);
      expect(c.end - c.start, `call ${c.ok ? c.host : c.code}`).toBeLessThanOrEqual(2000 + 1000);
    }
    const failed = calls.filter((c) => !c.ok);
    console.log(
      `netns: failover: ${gone.map((e) => `${e.type} ${hostOf(e.ids[0]!)} after ${e.t - t0} ms`).join(', ')}; ` +
        `${calls.length} calls meanwhile, ${calls.length - failed.length} ok, failed: ${JSON.stringify(failed.map((c) => c.code))}`,
    );
    expect(calls.at(-1)).toMatchObject({ ok: true, host: survivor });

    // Plugged back in: its heartbeat finds its lease gone and registers it again.
    topo!.reconnect(cut);
    await waitFor(
      'the cut host back in the registry',
      async () => (await driver.ask<Array<{ instanceId: string }>>('list')).some((e) => e.instanceId === services.get(cut)!.instanceId),
      HEARTBEAT + 2000 + 2000,
      100,
    );
  });
});
