/**
 * Sockets for the servers and clients that speak over plain `net` (raw, raw-bytes,
 * vscode-jsonrpc): where a server listens, how its endpoint is written, how a client
 * dials it.
 *
 * Endpoints are `unix:/path` (a fresh socket in a private temporary directory),
 * `tcp:127.0.0.1:port` (a free loopback port) or `tls:127.0.0.1:port` (the same, with
 * mutual TLS over it: certificates from ./tls.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { benchCerts } from './tls.js';

export type TransportKind = 'tcp' | 'unix' | 'tls';

/** The transports of the extra groups (TLS is measured by the spec suite only). */
export const TRANSPORTS: readonly TransportKind[] = ['tcp', 'unix'];

/**
 * A server for `transport`: plain `net`, or `tls` with the bench's certificates, asking
 * for a client certificate. `onConnection` sees a socket ready for frames either way.
 */
export function socketServer(transport: TransportKind, onConnection: (socket: net.Socket) => void): net.Server {
  if (transport !== 'tls') return net.createServer({ noDelay: true }, onConnection);
  const certs = benchCerts();
  const server = tls.createServer({ ...certs.server, ca: certs.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, onConnection);
  server.on('connection', (socket: net.Socket) => socket.setNoDelay(true));
  return server;
}

/** A server that listens: how its clients reach it, and how to stop it. */
export interface Listener {
  endpoint: string;
  close(): Promise<void>;
}

/** A private directory for a Unix socket; removed by the returned cleanup. */
export async function tempSocketPath(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wcbench-'));
  return { path: path.join(dir, 's.sock'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Listen on a fresh Unix socket or a free loopback TCP port; close() also destroys `sockets`. */
export async function listenOn(server: net.Server, transport: TransportKind, sockets: Set<net.Socket>): Promise<Listener> {
  const sock = transport === 'unix' ? await tempSocketPath() : undefined;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (sock) server.listen(sock.path, resolve);
    else server.listen(0, '127.0.0.1', resolve);
  });
  return {
    endpoint: sock ? `unix:${sock.path}` : `${transport}:127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await sock?.cleanup();
    },
  };
}

/** Parse a `unix:/path`, `tcp:host:port` or `tls:host:port` endpoint. */
export function socketAddress(endpoint: string): { path: string } | { host: string; port: number } {
  if (endpoint.startsWith('unix:')) return { path: endpoint.slice('unix:'.length) };
  const rest = endpoint.replace(/^(tcp|tls):/, '');
  const i = rest.lastIndexOf(':');
  return { host: rest.slice(0, i), port: Number(rest.slice(i + 1)) };
}

/** Connect a socket to an endpoint (TLS for `tls:`), TCP_NODELAY on, errors after connect ignored. */
export async function dial(endpoint: string): Promise<net.Socket> {
  const address = socketAddress(endpoint);
  const secure = endpoint.startsWith('tls:');
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s =
      'path' in address
        ? net.connect(address.path)
        : secure
          ? tls.connect({ host: address.host, port: address.port, servername: 'localhost', ca: benchCerts().ca, ...benchCerts().client })
          : net.connect(address.port, address.host);
    s.once(secure ? 'secureConnect' : 'connect', () => {
      s.off('error', reject);
      s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', reject);
  });
  socket.on('error', () => {});
  return socket;
}
