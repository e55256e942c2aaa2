/** TransportManager.watch() on the file registry: a snapshot, then the changes, woken by the file changing. */
import { afterEach, describe, expect, it } from 'vitest';
import { Scratch } from '../../test-util/scratch.js';
import { TransportManager } from '../transport-manager.js';
import type { RegistryEvent } from './types.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

describe('watch on the file registry', () => {
  it('yields a snapshot, then up, status and down in order; changes are seen before the poll interval', async () => {
    // A long interval: the events below arrive through fs.watch on the directory.
    const m = new TransportManager({ registryDir: scratch.dir(), cleanupInterval: 0, registryHeartbeatInterval: 60_000 });
    const existing = await m.registerService('maya', 'tcp://127.0.0.1:18811');
    const stop = new AbortController();
    const it = m.watch('maya', { signal: stop.signal })[Symbol.asyncIterator]();
    const next = async (): Promise<RegistryEvent> => (await it.next()).value as RegistryEvent;
    const snap = await next();
    expect(snap.type === 'snapshot' && snap.entries.map((e) => e.instanceId)).toEqual([existing]);
    const id = await m.registerService('maya', 'tcp://127.0.0.1:18812');
    expect(await next()).toMatchObject({ type: 'up', entry: { instanceId: id } });
    await m.setStatus('maya', id, 'busy');
    expect(await next()).toMatchObject({ type: 'status', entry: { instanceId: id, status: 'busy' } });
    await m.deregisterService('maya', id);
    expect(await next()).toMatchObject({ type: 'down', instanceId: id });
    stop.abort();
    expect((await it.next()).done).toBe(true);
    await m.shutdown();
  }, 10_000);
});
