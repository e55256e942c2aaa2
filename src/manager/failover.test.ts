/**
 * Real server processes (`wirecall serve --register`, the compiled CLI) killed and
 * restarted under a session.
 */
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FileRegistry } from './registry/file-registry.js';
import { buildIfStale } from '../test-util/build.js';
import { serveChild } from '../test-util/cli-child.js';
import { Scratch } from '../test-util/scratch.js';
import { exited, waitFor } from '../test-util/wait.js';
import { TransportManager } from './transport-manager.js';

const scratch = new Scratch();
const managers: TransportManager[] = [];

beforeAll(buildIfStale, 120_000);

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.shutdown()));
  await scratch.cleanup();
});

function manager(registryDir: string): TransportManager {
  const m = new TransportManager({
    registryDir,
    cleanupInterval: 0,
    reconnectBackoffBase: 50,
    reconnectBackoffMax: 200,
    reconnectMaxRetries: 30,
  });
  managers.push(m);
  return m;
}

describe('failover between server processes', () => {
  it('SIGKILL a registered server: its row is pruned and the session moves to another live instance', async () => {
    const dir = scratch.dir();
    const first = await serveChild(scratch, dir, 'maya', `unix:${path.join(dir, 'a.sock')}`);
    const second = await serveChild(scratch, dir, 'maya', `unix:${path.join(dir, 'b.sock')}`);
    const m = manager(dir);
    const session = await m.getOrCreateSession('maya', undefined, { strategy: 'first_available' });
    // first_available: both are IPC and available, the older registration wins.
    expect(session.instanceId).toBe(first.instanceId);
    expect(await session.call('echo', 'before')).toBe('before');

    first.child.kill('SIGKILL');
    await exited(first.child);
    expect((await m.listInstances('maya')).map((e) => e.instanceId)).toEqual([second.instanceId]);

    expect(await session.call('echo', 'after', { timeout: 10_000 })).toBe('after');
    expect(session.instanceId).toBe(second.instanceId);
    expect(session.info().endpoint).toBe(second.endpoint);

    const cleaned = await m.cleanup();
    expect(cleaned.staleServices).toBe(1);
    const rows = await new FileRegistry({ dir }).listWithLiveness();
    expect(rows.map((r) => r.entry.instanceId)).toEqual([second.instanceId]);
  });

  it('restart a server on the same endpoint: the session reconnects and calls succeed again', async () => {
    const dir = scratch.dir();
    const endpoint = `unix:${path.join(dir, 'a.sock')}`;
    const first = await serveChild(scratch, dir, 'maya', endpoint);
    const m = manager(dir);
    const session = await m.getOrCreateSession('maya');
    expect(await session.call('echo', 1)).toBe(1);

    first.child.kill('SIGKILL');
    await exited(first.child);
    await waitFor('the session to notice', () => session.state === 'reconnecting');
    const restarted = await serveChild(scratch, dir, 'maya', endpoint);
    expect(restarted.endpoint).toBe(first.endpoint);

    expect(await session.call('echo', 2, { timeout: 10_000 })).toBe(2);
    expect(session.state).toBe('connected');
    expect(session.info().endpoint).toBe(first.endpoint);
    // Which instance id the session carries now depends on whether its successful
    // attempt came before or after the restarted server registered (it listens first);
    // the next cleanup settles it.
    expect([first.instanceId, restarted.instanceId]).toContain(session.instanceId);
    await m.cleanup();
    expect(session.instanceId).toBe(restarted.instanceId);
  });

  it('SIGTERM: the server deregisters itself before exiting', async () => {
    const dir = scratch.dir();
    const s = await serveChild(scratch, dir, 'maya', `unix:${path.join(dir, 'a.sock')}`);
    const m = manager(dir);
    expect((await m.listInstances('maya')).map((e) => e.instanceId)).toEqual([s.instanceId]);
    s.child.kill('SIGTERM');
    expect(await exited(s.child)).toEqual({ code: 0, signal: null });
    const rows = await new FileRegistry({ dir }).listWithLiveness();
    expect(rows).toEqual([]);
  });
});

describe('serveRegistered in a process of its own', () => {
  it('SIGTERM deregisters, then the signal ends the process as it would have', async () => {
    const dir = scratch.dir();
    const script = `
      import { createServer } from ${JSON.stringify(new URL('../../dist/src/index.js', import.meta.url).href)};
      import { serveRegistered } from ${JSON.stringify(new URL('../../dist/src/manager/index.js', import.meta.url).href)};
      const service = await serveRegistered(createServer(), { dccType: 'blender', endpoint: 'tcp://127.0.0.1:0', registryDir: process.argv[1] });
      console.log(service.instanceId);
    `;
    const { spawn } = await import('node:child_process');
    const child = scratch.child(spawn(process.execPath, ['--input-type=module', '-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const id = await new Promise<string>((resolve, reject) => {
      child.stdout!.setEncoding('utf8').once('data', (d: string) => resolve(d.trim()));
      child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    const registry = new FileRegistry({ dir });
    expect((await registry.listInstances('blender')).map((e) => e.instanceId)).toEqual([id]);
    child.kill('SIGTERM');
    expect(await exited(child)).toEqual({ code: null, signal: 'SIGTERM' });
    expect(await registry.get('blender', id)).toBeUndefined();
    await registry.close();
  });
});
