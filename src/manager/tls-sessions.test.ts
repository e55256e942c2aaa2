/**
 * Rows advertise TLS: a server registered with a tls:// endpoint (or the tls option on
 * tcp://) writes `"extras": {"wirecall": {"tls": true}}`, and the manager's sessions and pooled connections use
 * TLS for it without being told; `connectionOptions.tls` only gives the CA and client
 * certificate, and a plain row is dialled plain with the same options.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../index.js';
import { readServicesJson } from '../test-util/registry-files.js';
import { Scratch } from '../test-util/scratch.js';
import { makeTestCerts, type TestCerts } from '../test-util/tls-certs.js';
import { serveRegistered, type RegisteredServer } from './serve-registered.js';
import type { ServiceAddress } from './service-address.js';
import { TransportManager } from './transport-manager.js';

const scratch = new Scratch();
let certs: TestCerts;
const closing: Array<{ close(): Promise<unknown> }> = [];

beforeAll(() => void (certs = makeTestCerts()));
afterAll(() => certs.cleanup());
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c.close();
  await scratch.cleanup();
});

async function serve(registryDir: string, dccType: string, endpoint: string, tls: boolean, advertise?: ServiceAddress): Promise<RegisteredServer> {
  const server = createServer({
    name: dccType,
    ...(tls ? { tls: { cert: certs.server.cert, key: certs.server.key, ca: certs.ca, requestCert: true } } : {}),
  });
  server.register('whoami', (_p, ctx) => ({ over: ctx.peer.tls?.protocol ?? 'plain', client: ctx.peer.tls?.subject?.['CN'] ?? null }));
  const service = await serveRegistered(server, { dccType, endpoint, registryDir, handleSignals: false, ...(advertise === undefined ? {} : { advertise }) });
  closing.push(service);
  return service;
}

describe('rows advertise tls', () => {
  it('a TLS server’s row says so; sessions and the pool use TLS for it and plain TCP for a plain row', async () => {
    const dir = scratch.dir();
    const secure = await serve(dir, 'maya', 'tls://127.0.0.1:0', true);
    const byOption = await serve(dir, 'houdini', 'tcp://127.0.0.1:0', true); // the tls option on tcp:// serves TLS too
    const plain = await serve(dir, 'nuke', 'tcp://127.0.0.1:0', false);
    expect([secure.endpoint, byOption.endpoint, plain.endpoint].map((e) => e.split(':')[0])).toEqual(['tls', 'tls', 'tcp']);
    expect([secure.entry.tls, byOption.entry.tls, plain.entry.tls]).toEqual([true, true, undefined]);
    const rows = await readServicesJson(dir);
    expect(rows.map((r) => [r['dcc_type'], r['extras']])).toEqual([
      ['maya', { wirecall: { tls: true } }],
      ['houdini', { wirecall: { tls: true } }],
      ['nuke', undefined],
    ]);

    const manager = new TransportManager({
      registryDir: dir,
      cleanupInterval: 0,
      connectionOptions: { tls: { ca: certs.ca, cert: certs.client.cert, key: certs.client.key } },
    });
    closing.push({ close: () => manager.shutdown() });
    for (const dccType of ['maya', 'houdini']) {
      const session = await manager.getOrCreateSession(dccType);
      expect(session.info().endpoint).toMatch(/^tls:\/\//);
      expect(await session.call('whoami')).toEqual({ over: expect.stringMatching(/^TLSv1\.[23]$/), client: 'render-07' });
      expect(session.connection?.peer?.tls?.authorized).toBe(true);
    }
    const nuke = await manager.getOrCreateSession('nuke');
    expect(await nuke.call('whoami')).toEqual({ over: 'plain', client: null });
    expect(nuke.connection?.peer?.tls).toBeUndefined();

    const lease = await manager.acquireConnection('maya');
    expect(await lease.connection.call('whoami')).toMatchObject({ client: 'render-07' });
    lease.release();
  });

  it('a TLS server advertised by host and port, or by a tcp:// URL, is still registered with tls', async () => {
    const dir = scratch.dir();
    const byHostPort = await serve(dir, 'maya', 'tls://0.0.0.0:0', true, { host: '127.0.0.1', port: 1 });
    const byUrl = await serve(dir, 'houdini', 'tls://127.0.0.1:0', true, 'tcp://localhost:2');
    expect([byHostPort.entry.tls, byUrl.entry.tls]).toEqual([true, true]);
    expect((await readServicesJson(dir)).map((r) => [r['port'], r['extras']])).toEqual([
      [1, { wirecall: { tls: true } }],
      [2, { wirecall: { tls: true } }],
    ]);
  });

  it('without the CA the TLS row still means TLS: the session fails with a typed TLS error, not a plain connection', async () => {
    const dir = scratch.dir();
    await serve(dir, 'maya', 'tls://127.0.0.1:0', true);
    const manager = new TransportManager({ registryDir: dir, cleanupInterval: 0, connectTimeout: 5000 });
    closing.push({ close: () => manager.shutdown() });
    await expect(manager.getOrCreateSession('maya')).rejects.toMatchObject({ code: 'ERR_TLS_CERT_UNTRUSTED' });
  });
});
