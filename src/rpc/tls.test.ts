/**
 * TLS and mutual TLS end to end: real certificates made by openssl for this run, real
 * sockets on 127.0.0.1. Every failure is asserted by class and code, on the side that
 * sees it (and the server's connectionError where it has one).
 */
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CertificateExpired,
  CertificateNameMismatch,
  CertificateUntrusted,
  ClientCertificateRequired,
  HandshakeTimeout,
  InvalidOption,
  TlsError,
  TlsNotOffered,
  TlsRequired,
  connect,
  createServer,
  type ConnectOptions,
  type Server,
  type ServerOptions,
  type TransportError,
} from '../index.js';
import { makeTestCerts, type TestCerts } from '../test-util/tls-certs.js';

let certs: TestCerts;
beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(() => certs.cleanup());

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function serve(options: ServerOptions, endpoint = 'tls://127.0.0.1:0'): Promise<{ server: Server; url: string; errors: TransportError[] }> {
  const server = createServer({ heartbeatInterval: 0, ...options });
  server.register('echo', (p) => p);
  server.register('whoami', (_p, ctx) => ctx.peer.tls?.subject?.CN ?? null);
  const errors: TransportError[] = [];
  server.on('connectionError', (err) => errors.push(err));
  const url = await server.listen(endpoint);
  cleanups.push(() => server.close({ drainTimeout: 0 }));
  return { server, url, errors };
}

async function open(url: string, options: ConnectOptions = {}) {
  const connection = await connect(url, { heartbeatInterval: 0, ...options });
  cleanups.push(() => connection.close({ drainTimeout: 0 }));
  return connection;
}

async function failure(p: Promise<unknown>): Promise<TransportError> {
  try {
    await p;
  } catch (err) {
    return err as TransportError;
  }
  throw new Error('expected a failure');
}

/** The server's connectionError list once it has `n` entries. */
async function serverErrors(errors: TransportError[], n = 1): Promise<TransportError[]> {
  for (let i = 0; i < 200 && errors.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  return errors;
}

const serverTls = () => ({ cert: certs.server.cert, key: certs.server.key });
const mutual = () => ({ ...serverTls(), ca: certs.ca, requestCert: true });
const clientTls = () => ({ ca: certs.ca, cert: certs.client.cert, key: certs.client.key });

describe('TLS', () => {
  it('tls:// serves and calls; the URL says tls; peer.tls tells the server certificate', async () => {
    const { url } = await serve({ tls: serverTls() });
    expect(url).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    const c = await open(url, { tls: { ca: certs.ca } });
    expect(await c.call('echo', { hi: 1 })).toEqual({ hi: 1 });
    const tls = c.peer!.tls!;
    expect(tls.protocol).toBe('TLSv1.3');
    expect(tls.authorized).toBe(true);
    expect(tls.subject).toMatchObject({ CN: 'localhost', O: 'wirecall tests' });
    expect(tls.issuer).toMatchObject({ CN: 'wirecall test CA' });
    expect(tls.subjectAltNames).toEqual(['DNS:localhost', 'IP Address:127.0.0.1']);
    expect(tls.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    // Without a client certificate the server sees TLS but no identity.
    expect(await c.call('whoami')).toBe(null);
  });

  it('the server name is checked by default: localhost by name, 127.0.0.1 by IP SAN', async () => {
    const { url } = await serve({ tls: serverTls() });
    const port = new URL(url.replace('tls:', 'http:')).port;
    const byName = await open(`tls://localhost:${port}`, { tls: { ca: certs.ca } });
    expect(await byName.call('echo', 1)).toBe(1);
  });

  it('a tls option on a tcp:// endpoint turns TLS on, both sides', async () => {
    const { url } = await serve({ tls: serverTls() }, 'tcp://127.0.0.1:0');
    expect(url).toMatch(/^tls:\/\//);
    const c = await open(url.replace('tls://', 'tcp://'), { tls: { ca: certs.ca } });
    expect(c.peer?.address).toMatch(/^tls:\/\//);
    expect(await c.call('echo', 'x')).toBe('x');
  });

  it('mutual TLS: the client certificate reaches ctx.peer.tls and authenticate', async () => {
    const seen: unknown[] = [];
    const { url } = await serve({
      tls: mutual(),
      authenticate: (_hello, address, peer) => {
        seen.push({ address, cn: peer.tls?.subject?.CN, fp: peer.tls?.fingerprint256, sans: peer.tls?.subjectAltNames });
        return peer.tls?.subject?.CN === 'render-07';
      },
    });
    const c = await open(url, { tls: clientTls() });
    expect(await c.call('whoami')).toBe('render-07');
    expect(seen).toEqual([{ address: expect.stringMatching(/^tcp:\/\/127\.0\.0\.1:\d+$/), cn: 'render-07', fp: expect.stringMatching(/^[0-9A-F:]{95}$/), sans: ['DNS:render-07.studio'] }]);
  });

  it('a TLS server serves several clients at once', async () => {
    const { server, url } = await serve({ tls: mutual() });
    const clients = await Promise.all(Array.from({ length: 8 }, () => open(url, { tls: clientTls() })));
    const results = await Promise.all(clients.flatMap((c, i) => Array.from({ length: 50 }, (_, j) => c.call('echo', i * 1000 + j))));
    expect(results).toHaveLength(400);
    expect(results.slice(0, 3)).toEqual([0, 1, 2]);
    expect(server.stats().connections).toBe(8);
    expect(new Set(clients.map((c) => c.peer?.connectionId)).size).toBe(8);
  });

  it('a large message survives TLS records (1 MiB each way)', async () => {
    const { url } = await serve({ tls: serverTls() });
    const c = await open(url, { tls: { ca: certs.ca } });
    const big = Buffer.alloc(1024 * 1024, 7);
    expect(Buffer.compare(Buffer.from((await c.call('echo', big)) as Uint8Array), big)).toBe(0);
  });
});

describe('TLS failures: typed, explained, on both sides', () => {
  it('untrusted server certificate: CertificateUntrusted', async () => {
    const { url } = await serve({ tls: { cert: certs.stranger.cert, key: certs.stranger.key } });
    const err = await failure(open(url, { tls: { ca: certs.ca } }));
    expect(err).toBeInstanceOf(CertificateUntrusted);
    expect(err).toBeInstanceOf(TlsError);
    expect(err.code).toBe('ERR_TLS_CERT_UNTRUSTED');
    expect(err.message).toMatch(/not signed by a trusted CA/);
    // No CA at all: the system's CAs do not know ours either.
    expect((await failure(open(url))).code).toBe('ERR_TLS_CERT_UNTRUSTED');
  });

  it('wrong name: CertificateNameMismatch (and tls.servername fixes it)', async () => {
    const { url } = await serve({ tls: { cert: certs.wrongName.cert, key: certs.wrongName.key } });
    const err = await failure(open(url, { tls: { ca: certs.ca } }));
    expect(err).toBeInstanceOf(CertificateNameMismatch);
    expect(err.code).toBe('ERR_TLS_CERT_NAME_MISMATCH');
    expect(err.message).toMatch(/does not name the host/);
    const c = await open(url, { tls: { ca: certs.ca, servername: 'elsewhere.example' } });
    expect(await c.call('echo', 2)).toBe(2);
  });

  it('expired server certificate: CertificateExpired', async () => {
    const { url } = await serve({ tls: { cert: certs.expired.cert, key: certs.expired.key } });
    const err = await failure(open(url, { tls: { ca: certs.ca } }));
    expect(err).toBeInstanceOf(CertificateExpired);
    expect(err.code).toBe('ERR_TLS_CERT_EXPIRED');
    expect((err as TlsError).tlsCode).toBe('CERT_HAS_EXPIRED');
  });

  it('expired client certificate: CertificateExpired on both sides', async () => {
    const { url, errors } = await serve({ tls: mutual() });
    const err = await failure(open(url, { tls: { ca: certs.ca, cert: certs.expired.cert, key: certs.expired.key } }));
    expect(err).toBeInstanceOf(CertificateExpired);
    expect(err.code).toBe('ERR_TLS_CERT_EXPIRED');
    const [seen] = await serverErrors(errors);
    expect(seen).toBeInstanceOf(CertificateExpired);
    expect(seen!.code).toBe('ERR_TLS_CERT_EXPIRED');
  });

  it('missing client certificate: ClientCertificateRequired on both sides', async () => {
    const { url, errors } = await serve({ tls: mutual() });
    const err = await failure(open(url, { tls: { ca: certs.ca } }));
    expect(err).toBeInstanceOf(ClientCertificateRequired);
    expect(err.code).toBe('ERR_TLS_CLIENT_CERT_REQUIRED');
    expect(err.message).toMatch(/requires a client certificate/);
    const [seen] = await serverErrors(errors);
    expect(seen).toBeInstanceOf(ClientCertificateRequired);
    expect(seen!.code).toBe('ERR_TLS_CLIENT_CERT_REQUIRED');
  });

  it('untrusted client certificate: CertificateUntrusted on both sides', async () => {
    const { url, errors } = await serve({ tls: mutual() });
    const err = await failure(open(url, { tls: { ca: certs.ca, cert: certs.strangerClient.cert, key: certs.strangerClient.key } }));
    expect(err).toBeInstanceOf(CertificateUntrusted);
    expect(err.code).toBe('ERR_TLS_CERT_UNTRUSTED');
    expect(err.message).toMatch(/does not trust our client certificate/);
    const [seen] = await serverErrors(errors);
    expect(seen).toBeInstanceOf(CertificateUntrusted);
    expect(seen!.code).toBe('ERR_TLS_CERT_UNTRUSTED');
  });

  it('a plain client on a TLS port: TlsRequired, told in a REJECT', async () => {
    const { url, errors } = await serve({ tls: serverTls() });
    const err = await failure(open(url.replace('tls://', 'tcp://')));
    expect(err).toBeInstanceOf(TlsRequired);
    expect(err.code).toBe('ERR_TLS_REQUIRED');
    expect(err.message).toMatch(/requires TLS; connect with tls:\/\//);
    const [seen] = await serverErrors(errors);
    expect(seen).toBeInstanceOf(TlsRequired);
    expect(seen!.code).toBe('ERR_TLS_REQUIRED');
  });

  it('a TLS client on a plain port: TlsNotOffered', async () => {
    const { url } = await serve({}, 'tcp://127.0.0.1:0');
    const err = await failure(open(url.replace('tcp://', 'tls://'), { tls: { ca: certs.ca }, handshakeTimeout: 2000 }));
    expect(err).toBeInstanceOf(TlsNotOffered);
    expect(err.code).toBe('ERR_TLS_NOT_OFFERED');
    expect(err.message).toMatch(/not a TLS port|does not speak TLS/);
  });

  it('the handshake timeout covers the TLS handshake (a server that never answers)', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => silent.close(r)));
    const sockets: net.Socket[] = [];
    silent.on('connection', (s) => sockets.push(s));
    cleanups.push(() => sockets.forEach((s) => s.destroy()));
    const port = (silent.address() as net.AddressInfo).port;
    const started = Date.now();
    const err = await failure(open(`tls://127.0.0.1:${port}`, { tls: { ca: certs.ca }, handshakeTimeout: 200 }));
    expect(err).toBeInstanceOf(HandshakeTimeout);
    expect(err.message).toMatch(/TLS handshake/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a silent socket, or one that starts TLS and stalls, is dropped after the handshake timeout: HandshakeTimeout', async () => {
    const { url, errors, server } = await serve({ tls: serverTls(), handshakeTimeout: 150 });
    const port = Number(url.slice(url.lastIndexOf(':') + 1));
    for (const first of [undefined, Buffer.from([0x16, 0x03, 0x01])]) {
      const socket = net.connect(port, '127.0.0.1');
      cleanups.push(() => socket.destroy());
      if (first !== undefined) socket.write(first);
      await new Promise<void>((resolve) => socket.once('close', () => resolve()).on('error', () => {}));
    }
    const seen = await serverErrors(errors, 2);
    expect(seen.map((e) => e.code)).toEqual(['ERR_HANDSHAKE_TIMEOUT', 'ERR_HANDSHAKE_TIMEOUT']);
    expect(seen[1]!.message).toMatch(/TLS handshake/);
    expect(server.stats().handshakesFailed).toBe(2);
  });

  it('sockets in their TLS handshake count toward maxConnections: stalled ones cannot crowd the server past it', async () => {
    const { url, errors, server } = await serve({ tls: serverTls(), maxConnections: 3, handshakeTimeout: 1500 });
    const port = Number(url.slice(url.lastIndexOf(':') + 1));
    const good = await open(url, { tls: { ca: certs.ca } });
    // Two sockets start TLS and stall: with the good connection, the server is full.
    const stalled = [0, 1].map(() => {
      const socket = net.connect(port, '127.0.0.1');
      cleanups.push(() => socket.destroy());
      socket.on('error', () => {}).on('connect', () => socket.write(Buffer.from([0x16, 0x03, 0x01])));
      return socket;
    });
    await Promise.all(stalled.map((s) => new Promise((resolve) => s.once('connect', resolve))));
    await new Promise((resolve) => setTimeout(resolve, 100));
    // A fourth is refused at once, before any TLS (the limit counts the stalled ones).
    const refused = await failure(open(url, { tls: { ca: certs.ca }, handshakeTimeout: 1000 }));
    expect(refused).toBeInstanceOf(TlsError);
    expect(errors.some((e) => /connection limit/.test(e.message))).toBe(true);
    expect(await good.call('echo', 'still here')).toBe('still here');
    // Once the stalled ones time out, there is room again.
    await Promise.all(stalled.map((s) => new Promise((resolve) => (s.destroyed ? resolve(undefined) : s.once('close', resolve)))));
    const later = await open(url, { tls: { ca: certs.ca } });
    expect(await later.call('echo', 'room again')).toBe('room again');
    expect(server.stats().refused).toBeGreaterThanOrEqual(1);
  });

  it('bad TLS settings are InvalidOption before anything is sent', async () => {
    await expect(serve({ tls: { cert: certs.server.cert } as never })).rejects.toBeInstanceOf(InvalidOption);
    await expect(serve({ tls: { ...serverTls(), requestCert: true } })).rejects.toThrow(/needs tls.ca/);
    await expect(serve({ tls: { cert: 'not a pem', key: 'nope' } })).rejects.toBeInstanceOf(InvalidOption);
    await expect(serve({ tls: { ...serverTls(), minVersion: 'TLSv1.1' as never } })).rejects.toBeInstanceOf(InvalidOption);
    await expect(open('tls://127.0.0.1:1', { tls: { cert: certs.client.cert } })).rejects.toBeInstanceOf(InvalidOption);
    await expect(serve({}, 'tls://127.0.0.1:0')).rejects.toThrow(/needs tls.cert and tls.key/);
  });
});
