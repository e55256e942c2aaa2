/**
 * Sentinel failover across hosts (issue 15 §3): on the `redis` host (10.231.0.1) a
 * master (6379), its replica (6380) and three Sentinels (26379–26381, quorum 2); two
 * service hosts register through a node-redis Sentinel client (`createSentinel`, which
 * RedisRegistry accepts as `registry`), and the client host's TransportManager watches
 * through one too. The master is SIGKILLed once the replica's link is up and every
 * Sentinel knows the replica and the two other Sentinels: the Sentinels promote the
 * replica, and the registrations go on with nothing lost — the same instances, still
 * heartbeating, never reported gone — and a service registering after the failover
 * is seen too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/test-util/wait.js';
import { makeHostCerts, type HostCerts } from './support/certs.js';
import { redisCli, startDriver, startRedisOn, startService, type CallRecord, type IpcChild, type RedisProcess, type RegistrySpec, type ServiceProcess, type WatchRecord } from './support/hosts.js';
import { createTopology, netnsPeer, type Topology } from './support/netns.js';

const peer = netnsPeer();
/**
 * Leases of 7.5 s: longer than a failover (down-after 1 s, then the election and the
 * promotion, ~2–3 s here) plus the clients' switch to the new master.
 */
const HEARTBEAT = 2500;
const DCC = 'render';
const MASTER = 6379;
const REPLICA = 6380;
const SENTINELS = [26379, 26380, 26381];

let topo: Topology | undefined;
let certs: HostCerts | undefined;
const redises: RedisProcess[] = [];
let master: RedisProcess;
let registry: RegistrySpec;
const services = new Map<string, ServiceProcess>();
let driver: IpcChild;

const info = async (port: number, section: string[]): Promise<string> => redisCli(topo!, 'redis', 'redis', port, section);
const field = (text: string, name: string): string | undefined => new RegExp(`^${name}:(\\S+)`, 'm').exec(text)?.[1];
/** `SENTINEL MASTER mymaster` as a map (redis-cli prints one field or value per line). */
async function sentinelView(port: number): Promise<Map<string, string>> {
  const lines = (await info(port, ['sentinel', 'master', 'mymaster'])).trim().split('\n');
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i += 2) out.set(lines[i]!, lines[i + 1]!);
  return out;
}

describe.runIf(peer.run)('across hosts: Sentinel failover', () => {
  beforeAll(async () => {
    peer.require();
    topo = createTopology(['redis', 'a', 'b', 'c', 'client']);
    certs = makeHostCerts({ a: topo.addr('a'), b: topo.addr('b'), c: topo.addr('c') });
    const at = topo.addr('redis');
    master = await startRedisOn(topo, 'redis', MASTER);
    redises.push(master);
    redises.push(await startRedisOn(topo, 'redis', REPLICA, { args: ['--replicaof', at, String(MASTER)] }));
    await waitFor('the replica link up', async () => field(await info(REPLICA, ['info', 'replication']), 'master_link_status') === 'up', 15_000, 100);
    for (const port of SENTINELS) {
      const conf = [
        `sentinel monitor mymaster ${at} ${MASTER} 2`,
        'sentinel down-after-milliseconds mymaster 1000',
        'sentinel failover-timeout mymaster 5000',
        'sentinel parallel-syncs mymaster 1',
        '',
      ].join('\n');
      redises.push(await startRedisOn(topo, 'redis', port, { sentinel: conf }));
    }
    // Sentinels find the replica through the master and each other through its hello channel (every 2 s).
    await waitFor(
      'every Sentinel to know the replica and the two other Sentinels',
      async () => {
        for (const port of SENTINELS) {
          const view = await sentinelView(port);
          if (view.get('num-slaves') !== '1' || view.get('num-other-sentinels') !== '2') return false;
        }
        return true;
      },
      20_000,
      200,
    );
    registry = { name: 'mymaster', sentinels: SENTINELS.map((port) => ({ host: at, port })) };
    for (const host of ['a', 'b']) {
      const tls = { ...certs.server(host), caFile: certs.caFile };
      services.set(host, await startService(topo, host, { dccType: DCC, registry, tls, heartbeatInterval: HEARTBEAT }));
    }
    driver = await startDriver(topo, 'client', { dccType: DCC, registry, tls: { ...certs.client, caFile: certs.caFile }, registryHeartbeatInterval: HEARTBEAT });
  });

  afterAll(async () => {
    await topo?.teardown();
    certs?.cleanup();
    for (const r of redises) await r.kill();
  });

  it('the master is killed: the replica takes over and the registrations go on with nothing lost', async () => {
    const ids = [...services.values()].map((s) => s.instanceId).sort();
    const list = (): Promise<Array<{ instanceId: string; lastHeartbeat: number }>> => driver.ask('list', {}, 5000);
    expect((await list()).map((e) => e.instanceId).sort()).toEqual(ids);
    const before = (await driver.ask<WatchRecord[]>('events')).length;

    await master.kill();
    const killedAt = Date.now();
    await waitFor(
      'the Sentinels to name the replica as master',
      async () => (await info(SENTINELS[0]!, ['sentinel', 'get-master-addr-by-name', 'mymaster'])).trim().split('\n')[1] === String(REPLICA),
      20_000,
      100,
    );
    const promoted = Date.now() - killedAt;
    expect(field(await info(REPLICA, ['info', 'replication']), 'role')).toBe('master');

    // Both still registered and heartbeating through the new master.
    const fresh = await waitFor(
      'both heartbeating through the new master',
      async () => {
        const rows = await list().catch(() => []);
        return rows.length === ids.length && rows.every((r) => r.lastHeartbeat > killedAt + promoted) ? rows : undefined;
      },
      3 * HEARTBEAT + 5000,
      100,
    );
    expect(fresh.map((e) => e.instanceId).sort()).toEqual(ids);
    // Nothing lost: the watch never saw them go.
    const evs = (await driver.ask<WatchRecord[]>('events')).slice(before);
    const timeline = evs.map((e) => `${e.type}${e.resync === true ? ' (resync)' : ''} at +${e.t - killedAt} ms`).join(', ') || 'none';
    console.log(`netns: Sentinel promoted the replica ${promoted} ms after the master was killed; watch events since: ${timeline}`);
    expect(evs.filter((e) => e.type === 'down' || e.type === 'expire')).toEqual([]);
    for (const snapshot of evs.filter((e) => e.type === 'snapshot')) expect([...snapshot.ids].sort()).toEqual(ids);

    // Registrations continue: a service that registers now is seen, and calls reach it over mutual TLS.
    const c = await startService(topo!, 'c', { dccType: DCC, registry, tls: { ...certs!.server('c'), caFile: certs!.caFile }, heartbeatInterval: HEARTBEAT });
    await waitFor('the new registration listed', async () => (await list()).some((e) => e.instanceId === c.instanceId), 5000, 100);
    await driver.ask('session');
    expect(await driver.ask<CallRecord>('call', { timeout: 3000 })).toMatchObject({ ok: true, client: 'netns-client' });
  });
});
