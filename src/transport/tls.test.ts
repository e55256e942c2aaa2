/**
 * The tls transport below the RPC layer: a round trip through listen/connect, the
 * first-byte peek (a plain client, a ClientHello split into one-byte writes), and what
 * the tls option does (and does not do) to other endpoints.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CertificateUntrusted, InvalidOption, TlsNotOffered } from '../errors.js';
import { echoRoundTrip, echoServer } from '../test-util/echo.js';
import { Scratch } from '../test-util/scratch.js';
import { waitFor } from '../test-util/wait.js';
import { makeTestCerts, type TestCerts } from '../test-util/tls-certs.js';
import * as transport from './index.js';

const scratch = new Scratch();
let certs: TestCerts;
beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(() => certs.cleanup());
afterEach(() => scratch.cleanup());

const serverTls = () => ({ cert: certs.server.cert, key: certs.server.key });

describe('tls transport', () => {
  it('listen and connect over TLS: bytes round-trip, the socket is a verified TLSSocket', async () => {
    const listener = await transport.listen('tls://127.0.0.1:0', { onConnection: echoServer(scratch), tls: serverTls() });
    try {
      expect(listener.url).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
      expect(listener.endpoint).toMatchObject({ kind: 'tcp', tls: true });
      const socket = scratch.socket(await transport.connect(listener.url, { tls: { ca: certs.ca } }));
      expect(socket).toBeInstanceOf(tls.TLSSocket);
      expect((socket as tls.TLSSocket).authorized).toBe(true);
      expect(transport.tlsPeerOf(socket)?.subject?.['CN']).toBe('localhost');
      expect(transport.tlsPeerOf(new net.Socket())).toBeUndefined();
      expect((await echoRoundTrip(socket, Buffer.from('over tls'))).toString()).toBe('over tls');
    } finally {
      await listener.close();
    }
  });

  it('a ClientHello trickled one byte at a time still gets through the peek', async () => {
    const listener = await transport.listen('tls://127.0.0.1:0', { onConnection: echoServer(scratch), tls: serverTls() });
    try {
      const raw = net.connect((listener.endpoint as { port: number }).port, '127.0.0.1');
      scratch.socket(raw);
      // A Duplex in between that forwards every write byte by byte, on later ticks.
      const slow = new Duplex({
        read() {},
        write(chunk: Buffer, _enc, done) {
          let i = 0;
          const next = (): void => {
            if (i >= chunk.length) return done();
            raw.write(chunk.subarray(i, ++i));
            setImmediate(next);
          };
          next();
        },
      });
      raw.on('data', (d) => slow.push(d));
      const socket = tls.connect({ socket: slow, ca: certs.ca, servername: 'localhost' });
      scratch.socket(socket as unknown as net.Socket);
      await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
      expect(socket.authorized).toBe(true);
    } finally {
      await listener.close();
    }
  });

  it('without onPlaintext a plain client is just dropped; onPlaintext gets the socket otherwise', async () => {
    const listener = await transport.listen('tls://127.0.0.1:0', { onConnection: () => {}, tls: serverTls() });
    const port = (listener.endpoint as { port: number }).port;
    try {
      const plain = scratch.socket(net.connect(port, '127.0.0.1'));
      plain.on('error', () => {});
      plain.write(Buffer.from([0, 0, 0, 5, 1, 2, 3, 4, 5]));
      await new Promise((r) => plain.once('close', r));
    } finally {
      await listener.close();
    }
    const told: net.Socket[] = [];
    const second = await transport.listen('tls://127.0.0.1:0', {
      onConnection: () => {},
      tls: serverTls(),
      onPlaintext: (s) => {
        told.push(s);
        s.end('use TLS\n');
      },
    });
    try {
      const plain = scratch.socket(net.connect((second.endpoint as { port: number }).port, '127.0.0.1'));
      plain.write('hello\n');
      let got = '';
      plain.setEncoding('utf8').on('data', (d: string) => (got += d));
      await new Promise((r) => plain.once('end', r));
      expect(got).toBe('use TLS\n');
      expect(told).toHaveLength(1);
    } finally {
      await second.close();
    }
  });

  it('TLS 1.2 is the floor by default (1.3 preferred); minVersion TLSv1.3 refuses a 1.2-only client', async () => {
    const handshake = (port: number, maxVersion: tls.SecureVersion) =>
      new Promise<string | null>((resolve, reject) => {
        const socket = tls.connect({ port, host: '127.0.0.1', ca: certs.ca, maxVersion }, () => {
          resolve(socket.getProtocol());
          socket.destroy();
        });
        socket.once('error', reject);
      });
    const open = await transport.listen('tls://127.0.0.1:0', { onConnection: echoServer(scratch), tls: serverTls() });
    const strict = await transport.listen('tls://127.0.0.1:0', { onConnection: echoServer(scratch), tls: { ...serverTls(), minVersion: 'TLSv1.3' } });
    try {
      const port = (l: transport.Listener) => (l.endpoint as { port: number }).port;
      expect(await handshake(port(open), 'TLSv1.3')).toBe('TLSv1.3');
      expect(await handshake(port(open), 'TLSv1.2')).toBe('TLSv1.2');
      await expect(handshake(port(strict), 'TLSv1.2')).rejects.toThrow(/alert|version/i);
      await expect(transport.listen('tls://127.0.0.1:0', { onConnection: () => {}, tls: { ...serverTls(), minVersion: 'TLSv1' as never } })).rejects.toBeInstanceOf(InvalidOption);
    } finally {
      await open.close();
      await strict.close();
    }
  });

  it('connect errors are typed: an unknown CA, a plain port', async () => {
    const listener = await transport.listen('tls://127.0.0.1:0', { onConnection: echoServer(scratch), tls: serverTls() });
    const plain = await transport.listen('tcp://127.0.0.1:0', { onConnection: (s) => s.end('not tls at all') });
    try {
      await expect(transport.connect(listener.url, { tls: { ca: certs.otherCa } })).rejects.toBeInstanceOf(CertificateUntrusted);
      await expect(transport.connect(plain.url, { tls: { ca: certs.ca } })).rejects.toBeInstanceOf(TlsNotOffered);
    } finally {
      await listener.close();
      await plain.close();
    }
  });

  it('the tls option: tcp:// becomes TLS, Unix sockets stay plain; a tls:// listener needs cert and key', async () => {
    const tcp = await transport.listen('tcp://127.0.0.1:0', { onConnection: echoServer(scratch), tls: serverTls() });
    await tcp.close();
    expect(tcp.url).toMatch(/^tls:\/\//);
    if (process.platform !== 'win32') {
      const file = path.join(scratch.dir(), 't.sock');
      const unix = await transport.listen(`unix:${file}`, { onConnection: echoServer(scratch), tls: serverTls() });
      try {
        expect(unix.url).toBe(`unix:${file}`);
        const socket = scratch.socket(await transport.connect(unix.url));
        expect((await echoRoundTrip(socket, Buffer.from('plain'))).toString()).toBe('plain');
      } finally {
        await unix.close();
      }
    }
    await expect(transport.listen('tls://127.0.0.1:0', { onConnection: () => {} })).rejects.toBeInstanceOf(InvalidOption);
    await expect(transport.connect('tls://127.0.0.1:0')).rejects.toThrow(/port 0/);
  });

  it.skipIf(process.platform === 'win32')('tls.unixSockets: TLS over a Unix socket (mode 0600 kept, name checked as localhost, mutual TLS, a plain client told)', async () => {
    const file = path.join(scratch.dir(), 'tls.sock');
    let plain = 0;
    const unix = await transport.listen(`unix:${file}`, {
      onConnection: echoServer(scratch),
      onPlaintext: (s) => (plain++, s.destroy()),
      tls: { ...serverTls(), ca: certs.ca, requestCert: true, unixSockets: true },
    });
    try {
      expect(unix.url).toBe(`unix:${file}`);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      const client = { ca: certs.ca, cert: certs.client.cert, key: certs.client.key, unixSockets: true };
      const socket = scratch.socket(await transport.connect(unix.url, { tls: client }));
      expect(socket).toBeInstanceOf(tls.TLSSocket);
      expect(transport.tlsPeerOf(socket)?.subject?.['CN']).toBe('localhost');
      expect((await echoRoundTrip(socket, Buffer.from('tls on unix'))).toString()).toBe('tls on unix');
      await expect(transport.connect(unix.url, { tls: { ...client, servername: 'elsewhere.example' } })).rejects.toThrow(/does not name/);
      await expect(transport.connect(unix.url, { tls: { ...client, ca: certs.otherCa } })).rejects.toBeInstanceOf(CertificateUntrusted);
      // The tls option without unixSockets leaves a Unix socket plain: its bytes are not TLS.
      scratch.socket(await transport.connect(unix.url, { tls: { ca: certs.ca } })).write('plain bytes');
      await waitFor('the plain client', () => plain === 1);
    } finally {
      await unix.close();
    }
    expect(fs.existsSync(file)).toBe(false);
  });

  it.skipIf(process.platform === 'win32')('tls.unixSockets without an endpoint: the fresh private Unix socket speaks TLS too (never silently plain)', async () => {
    let plain = 0;
    const listener = await transport.listen(undefined, { onConnection: echoServer(scratch), onPlaintext: (s) => (plain++, s.destroy()), tls: { ...serverTls(), unixSockets: true } });
    try {
      expect(listener.url).toMatch(/^unix:\//);
      const socket = scratch.socket(await transport.connect(listener.url, { tls: { ca: certs.ca, unixSockets: true } }));
      expect((await echoRoundTrip(socket, Buffer.from('private tls'))).toString()).toBe('private tls');
      scratch.socket(await transport.connect(listener.url)).write('plain bytes');
      await waitFor('the plain client', () => plain === 1);
    } finally {
      await listener.close();
    }
  });
});
