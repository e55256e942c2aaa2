/** TransportManager's registry API, routing by status, lifecycle, and serveRegistered. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOption, ServiceAlreadyRegistered, ServiceNotFound, ShutdownError } from '../errors.js';
import { connect } from '../rpc/client.js';
import { createServer } from '../rpc/server.js';
import { FileRegistry } from './registry/file-registry.js';
import { serveRegistered } from './serve-registered.js';
import { Scratch } from '../test-util/scratch.js';
import { tagServer } from '../test-util/tag-servers.js';
import { exited, waitFor } from '../test-util/wait.js';
import { TransportManager } from './transport-manager.js';
import type { TransportManagerOptions } from './options.js';

const scratch = new Scratch();
const managers: TransportManager[] = [];

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.shutdown()));
  await scratch.cleanup();
});

function manager(options: TransportManagerOptions = {}): TransportManager {
  const m = new TransportManager({ cleanupInterval: 0, ...options });
  managers.push(m);
  return m;
}

describe('services', () => {
  it('register (endpoint string or host/port), list, heartbeat, set status, deregister', async () => {
    const dir = scratch.dir();
    const m = manager({ registryDir: dir });
    const a = await m.registerService('maya', 'unix:/tmp/wc-a.sock', { version: '2025.1', scene: 'a.mb', metadata: { k: '1' } });
    const b = await m.registerService('maya', { host: '127.0.0.1', port: 18812 });
    const h = await m.registerService('houdini', 'tcp://127.0.0.1:18813');
    for (const id of [a, b, h]) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const maya = await m.listInstances('maya');
    expect(maya.map((e) => e.instanceId).sort()).toEqual([a, b].sort());
    expect(maya.find((e) => e.instanceId === a)).toMatchObject({
      version: '2025.1',
      scene: 'a.mb',
      metadata: { k: '1' },
      transportAddress: { type: 'unix_socket', path: '/tmp/wc-a.sock' },
      pid: process.pid,
      status: 'available',
    });
    expect(maya.find((e) => e.instanceId === b)).toMatchObject({ host: '127.0.0.1', port: 18812 });
    expect((await m.listAllServices()).length).toBe(3);
    expect(m.toString()).toBe('TransportManager(services=3, sessions=0, pool=0)');

    expect(await m.heartbeat('maya', a)).toBe(true);
    expect(await m.setStatus('maya', b, 'busy')).toBe(true);
    expect((await m.listInstances('maya')).find((e) => e.instanceId === b)?.status).toBe('busy');
    await expect(m.registerService('maya', 'tcp://127.0.0.1:1', { instanceId: a })).rejects.toBeInstanceOf(ServiceAlreadyRegistered);

    expect(await m.deregisterService('maya', b)).toBe(true);
    expect(await m.deregisterService('maya', b)).toBe(false);
    expect(await m.heartbeat('maya', b)).toBe(false);
    expect(await m.setStatus('maya', b, 'available')).toBe(false);
  });

  it('routes to available before busy, and never to shutting_down or unreachable instances', async () => {
    const dir = scratch.dir();
    const m = manager({ registryDir: dir });
    const ids: Record<string, string> = {};
    for (const tag of ['busy', 'free']) {
      const s = await tagServer(scratch, tag, `unix:${path.join(dir, `${tag}.sock`)}`);
      ids[tag] = await m.registerService('maya', s.endpoint);
    }
    await m.setStatus('maya', ids['busy']!, 'busy');
    const session = await m.getOrCreateSession('maya');
    expect(await session.call('whoami')).toBe('free');
    await m.closeSession(session.id);

    await m.setStatus('maya', ids['free']!, 'shutting_down');
    expect(await (await m.getOrCreateSession('maya')).call('whoami')).toBe('busy');
    await m.setStatus('maya', ids['busy']!, 'unreachable');
    await expect(m.getOrCreateSession('maya', undefined, { strategy: 'round_robin' })).rejects.toBeInstanceOf(ServiceNotFound);
  });

  it('scene_match routes by the scene an instance advertises', async () => {
    const dir = scratch.dir();
    const m = manager({ registryDir: dir });
    for (const scene of ['a.mb', 'b.mb']) {
      const s = await tagServer(scratch, scene, `unix:${path.join(dir, `${scene}.sock`)}`);
      await m.registerService('maya', s.endpoint, { scene });
    }
    expect(await (await m.getOrCreateSession('maya', undefined, { scene: 'b.mb' })).call('whoami')).toBe('b.mb');
  });

  it('an unreachable registered instance is skipped for the next candidate', async () => {
    const dir = scratch.dir();
    const m = manager({ registryDir: dir, connectTimeout: 2000 });
    // Registered first (so preferred), but nothing listens there.
    await m.registerService('maya', `unix:${path.join(dir, 'nobody.sock')}`);
    const s = await tagServer(scratch, 'real', `unix:${path.join(dir, 'real.sock')}`);
    await m.registerService('maya', s.endpoint);
    expect(await (await m.getOrCreateSession('maya')).call('whoami')).toBe('real');
  });

  it('heartbeats what it registered, and puts back a row that was removed under it', async () => {
    const dir = scratch.dir();
    const m = manager({ registryDir: dir, registryHeartbeatInterval: 50 });
    const id = await m.registerService('maya', 'tcp://127.0.0.1:18812');
    const other = new FileRegistry({ dir });
    const first = (await other.get('maya', id))!.lastHeartbeat;
    await waitFor('a heartbeat', async () => (await other.get('maya', id))!.lastHeartbeat > first);
    expect(await other.deregister('maya', id)).toBe(true);
    await waitFor('the row to come back', async () => (await other.get('maya', id)) !== undefined);
    await other.close();
  });

  it('cleanup prunes rows whose process is dead', async () => {
    const dir = scratch.dir();
    const m = manager({ registryDir: dir });
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await exited(child);
    const registry = new FileRegistry({ dir });
    await registry.register('maya', { kind: 'tcp', host: '127.0.0.1', port: 18812 }, { pid: child.pid! });
    await m.registerService('maya', 'tcp://127.0.0.1:18813');
    expect((await m.listInstances('maya')).length).toBe(1);
    expect(await m.cleanup()).toEqual({ staleServices: 1, closedSessions: 0, evictedConnections: 0, reboundSessions: 0, idledSessions: 0 });
    expect((await registry.listWithLiveness()).length).toBe(1);
    await registry.close();
  });
});

describe('lifecycle', () => {
  it('cleanup gives a session the new id of an instance restarted on its endpoint', async () => {
    const dir = scratch.dir();
    const endpoint = `unix:${path.join(dir, 'maya.sock')}`;
    const m = manager({ registryDir: dir, reconnectBackoffBase: 20, reconnectBackoffMax: 50, reconnectMaxRetries: 100 });
    const first = scratch.server(createServer().register('who', () => 'first'));
    await first.listen(endpoint);
    const oldId = await m.registerService('maya', endpoint);
    const session = await m.getOrCreateSession('maya');
    expect(session.pinned).toBe(false);
    const rebinds: string[] = [];
    session.on('rebind', (previous) => rebinds.push(`${previous} -> ${session.instanceId}`));

    // The process goes away with its row; a new one listens on the same endpoint and
    // takes calls before it registers: the session reconnects there under the old id.
    await m.deregisterService('maya', oldId);
    await first.close();
    const second = scratch.server(createServer().register('who', () => 'second'));
    await second.listen(endpoint);
    expect(await session.call('who', undefined, { timeout: 5000 })).toBe('second');
    expect(session.instanceId).toBe(oldId);
    expect(await m.cleanup()).toMatchObject({ reboundSessions: 0 });

    const newId = await m.registerService('maya', endpoint);
    expect(await m.cleanup()).toMatchObject({ reboundSessions: 1 });
    expect(session.instanceId).toBe(newId);
    expect(rebinds).toEqual([`${oldId} -> ${newId}`]);
    expect(await m.getOrCreateSession('maya', newId)).toBe(session);
    expect(await m.cleanup()).toMatchObject({ reboundSessions: 0 });
    expect(await session.call('who')).toBe('second');
  });

  it('shutdown closes sessions, deregisters its own rows, and refuses mutating calls afterwards', async () => {
    const dir = scratch.dir();
    const m = manager({ registryDir: dir });
    const s = await tagServer(scratch, 'one', `unix:${path.join(dir, 'one.sock')}`);
    await m.registerService('maya', s.endpoint);
    const session = await m.getOrCreateSession('maya');
    const observer = manager({ registryDir: dir });
    const foreign = await observer.registerService('houdini', 'tcp://127.0.0.1:18812');

    const done = m.shutdown();
    expect(m.shutdown()).toBe(done);
    expect(m.isShutdown()).toBe(true);
    await done;
    expect(session.state).toBe('closed');
    expect(session.closeReason).toBeInstanceOf(ShutdownError);
    expect(m.sessionCount()).toBe(0);
    expect((await observer.listAllServices()).map((e) => e.instanceId)).toEqual([foreign]);

    const refused: Array<() => unknown> = [
      () => m.registerService('maya', 'tcp://127.0.0.1:1'),
      () => m.deregisterService('houdini', foreign),
      () => m.listInstances('maya'),
      () => m.heartbeat('houdini', foreign),
      () => m.setStatus('houdini', foreign, 'busy'),
      () => m.getOrCreateSession('maya'),
      () => m.acquireConnection('maya'),
      () => m.cleanup(),
      () => m.recordSuccess(session.id, 1),
    ];
    for (const op of refused) {
      await expect((async () => op())()).rejects.toBeInstanceOf(ShutdownError);
    }
    expect(m.toString()).toMatch(/sessions=0, pool=0\)$/);
  });

  it('a cleanup pass lists the registry only when there are sessions (a list costs O(rows))', async () => {
    const dir = scratch.dir();
    const endpoint = `unix:${path.join(dir, 'maya.sock')}`;
    const registry = new FileRegistry({ dir });
    let lists = 0;
    const listAll = registry.listAll.bind(registry);
    registry.listAll = () => (lists++, listAll());
    const m = manager({ registry });
    const server = scratch.server(createServer().register('who', () => 'maya'));
    await server.listen(endpoint);
    await m.registerService('maya', endpoint);
    await m.cleanup();
    await m.cleanup();
    expect(lists).toBe(0);
    const session = await m.getOrCreateSession('maya');
    expect(await session.call('who')).toBe('maya');
    const before = lists;
    await m.cleanup();
    expect(lists).toBe(before + 1);
    await m.shutdown();
    await registry.close();
  });

  it('an injected registry is used and left open by shutdown', async () => {
    const registry = new FileRegistry({ dir: scratch.dir() });
    const m = manager({ registry });
    const id = await m.registerService('maya', 'tcp://127.0.0.1:18812');
    expect((await registry.listInstances('maya')).map((e) => e.instanceId)).toEqual([id]);
    await m.shutdown();
    expect(await registry.listInstances('maya')).toEqual([]); // deregistered, and still usable
    await registry.close();
  });

  it('rejects nonsensical options', () => {
    expect(() => new TransportManager({ maxConnectionsPerDcc: 0 })).toThrow(InvalidOption);
    expect(() => new TransportManager({ reconnectMaxRetries: 1.5 })).toThrow(InvalidOption);
    expect(() => new TransportManager({ connectTimeout: -1 })).toThrow('connectTimeout must be a number >= 1, got -1');
    expect(() => new TransportManager({ registryHeartbeatInterval: 0 })).toThrow(InvalidOption);
  });

  it('the registry heartbeat is its own option, following heartbeatInterval (connection pings) unless given', () => {
    const registryDir = scratch.dir();
    expect(manager({ registryDir }).options).toMatchObject({ heartbeatInterval: 5000, registryHeartbeatInterval: 5000 });
    expect(manager({ registryDir, heartbeatInterval: 2000 }).options).toMatchObject({ heartbeatInterval: 2000, registryHeartbeatInterval: 2000 });
    expect(manager({ registryDir, registryHeartbeatInterval: 50 }).options).toMatchObject({ heartbeatInterval: 5000, registryHeartbeatInterval: 50 });
  });
});

describe('serveRegistered', () => {
  it('listens, registers, heartbeats, and deregisters on close', async () => {
    const dir = scratch.dir();
    const server = scratch.server(createServer({ name: 'bridge' }).register('ping2', () => 'pong2'));
    const service = await serveRegistered(server, {
      dccType: 'maya',
      endpoint: `unix:${path.join(dir, 'm.sock')}`,
      registryDir: dir,
      heartbeatInterval: 50,
      scene: 'shot.mb',
      handleSignals: false,
    });
    expect(service.endpoint).toBe(`unix:${path.join(dir, 'm.sock')}`);
    const registry = new FileRegistry({ dir });
    const row = (await registry.get('maya', service.instanceId))!;
    expect(row).toMatchObject({ scene: 'shot.mb', pid: process.pid, transportAddress: { type: 'unix_socket', path: path.join(dir, 'm.sock') } });
    await waitFor('a heartbeat', async () => (await registry.get('maya', service.instanceId))!.lastHeartbeat > row.lastHeartbeat);

    const m = manager({ registryDir: dir });
    expect(await (await m.getOrCreateSession('maya')).call('ping2')).toBe('pong2');

    await service.close();
    await service.close(); // idempotent
    expect(await registry.get('maya', service.instanceId)).toBeUndefined();
    await expect(connect(service.endpoint, { connectTimeout: 1000 })).rejects.toMatchObject({ code: 'ERR_CONNECTION_FAILED' });
    await registry.close();
  });

  it('a failed registration closes the server it started', async () => {
    const dir = scratch.dir();
    const first = await serveRegistered(scratch.server(createServer()), { dccType: 'maya', endpoint: 'tcp://127.0.0.1:0', registryDir: dir, handleSignals: false });
    const server = scratch.server(createServer());
    await expect(
      serveRegistered(server, { dccType: 'maya', endpoint: 'tcp://127.0.0.1:0', registryDir: dir, instanceId: first.instanceId, handleSignals: false }),
    ).rejects.toBeInstanceOf(ServiceAlreadyRegistered);
    expect(server.endpoints.length).toBe(1);
    await expect(server.listen('tcp://127.0.0.1:0')).rejects.toThrow('server is closed');
    await first.close();
  });
});
