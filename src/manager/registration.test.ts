/** Registrations against an in-memory registry whose calls the test can hold back. */
import { describe, expect, it } from 'vitest';
import { ShutdownError } from '../errors.js';
import type { Endpoint } from '../transport/endpoint.js';
import { Registrations } from './registration.js';
import type { RegisterOptions, ServiceEntry, ServiceRegistry } from './registry/types.js';
import { waitFor } from '../test-util/wait.js';

const ENDPOINT: Endpoint = { kind: 'tcp', host: '127.0.0.1', port: 18812 };

/** Rows in a Map; `hold` makes the next register() wait until the returned function is called. */
function memoryRegistry() {
  const rows = new Map<string, ServiceEntry>();
  const log: string[] = [];
  let held: Promise<void> | undefined;
  let ids = 0;
  const registry: ServiceRegistry = {
    async register(dccType: string, _endpoint: Endpoint, options: RegisterOptions = {}) {
      const instanceId = options.instanceId ?? `id-${++ids}`;
      log.push(`register ${instanceId}`);
      if (held !== undefined) {
        const wait = held;
        held = undefined;
        await wait;
      }
      const entry = { dccType, instanceId } as ServiceEntry;
      rows.set(instanceId, entry);
      return entry;
    },
    async deregister(_dccType: string, instanceId: string) {
      log.push(`deregister ${instanceId}`);
      return rows.delete(instanceId);
    },
    async heartbeat(_dccType: string, instanceId: string) {
      log.push(`heartbeat ${instanceId}`);
      return rows.has(instanceId);
    },
    listInstances: async () => [...rows.values()],
    listAll: async () => [...rows.values()],
    get: async (_dccType: string, instanceId: string) => rows.get(instanceId),
    setStatus: async () => true,
    prune: async () => 0,
    close: async () => {},
  };
  const hold = (): (() => void) => {
    let release!: () => void;
    held = new Promise<void>((resolve) => (release = resolve));
    return release;
  };
  return { registry, rows, log, hold };
}

describe('Registrations', () => {
  it('heartbeats its rows and registers again a row that vanished', async () => {
    const { registry, rows, log } = memoryRegistry();
    const registrations = new Registrations(registry, { heartbeatInterval: 10, onWarning: () => {} });
    const { instanceId } = await registrations.register('maya', ENDPOINT, { scene: 'a.mb' });
    await waitFor('a heartbeat', () => log.includes(`heartbeat ${instanceId}`));
    rows.clear(); // pruned while we were stalled
    await waitFor('the row to come back', () => rows.has(instanceId));
    await registrations.close();
    expect(rows.size).toBe(0);
  });

  it('a row deregistered while a heartbeat round puts it back stays gone', async () => {
    const { registry, rows, log, hold } = memoryRegistry();
    const registrations = new Registrations(registry, { heartbeatInterval: 10, onWarning: () => {} });
    const { instanceId } = await registrations.register('maya', ENDPOINT);
    const release = hold();
    rows.clear();
    await waitFor('the round to register the row again', () => log.filter((l) => l === `register ${instanceId}`).length === 2);
    const deregistered = registrations.deregister('maya', instanceId);
    release();
    await deregistered;
    expect(rows.has(instanceId)).toBe(false);
    expect(log.at(-1)).toBe(`deregister ${instanceId}`);
    await registrations.close();
  });

  it('close deregisters every row, reports failures, and refuses later registrations', async () => {
    const { registry, rows } = memoryRegistry();
    const warnings: string[] = [];
    const registrations = new Registrations(registry, { heartbeatInterval: 1000, onWarning: (m) => warnings.push(m) });
    await registrations.register('maya', ENDPOINT);
    await registrations.register('houdini', ENDPOINT);
    registry.deregister = async (_dccType, instanceId) => {
      if (instanceId === 'id-2') throw new Error('disk full');
      return rows.delete(instanceId);
    };
    await registrations.close();
    expect([...rows.keys()]).toEqual(['id-2']);
    expect(warnings).toEqual(['deregistering on shutdown failed: disk full']);
    await expect(registrations.register('maya', ENDPOINT)).rejects.toBeInstanceOf(ShutdownError);
  });
});
