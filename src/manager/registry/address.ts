/**
 * Endpoint <-> registry address. The registry speaks dcc-mcp-core's vocabulary
 * (transport_address + host/port); the rest of wirecall speaks Endpoint.
 */
import os from 'node:os';
import { InvalidEndpoint } from '../../errors.js';
import { parseEndpoint, pipePath, type Endpoint } from '../../transport/endpoint.js';
import type { ServiceEntry, TransportAddress } from './types.js';

/** IPC rows carry these in host/port, as dcc-mcp-core writes them. */
export const IPC_HOST = '127.0.0.1';
export const IPC_PORT = 0;

/**
 * The address to advertise for an endpoint we listen on. A pipe on POSIX is really a
 * Unix socket in our private runtime dir: advertise that path, so any peer (Python
 * included) can connect to it without knowing wirecall's pipe mapping.
 */
export function addressOf(endpoint: Endpoint): { host: string; port: number; transportAddress: TransportAddress; tls?: true } {
  switch (endpoint.kind) {
    case 'tcp':
      return {
        host: endpoint.host,
        port: endpoint.port,
        transportAddress: { type: 'tcp', host: endpoint.host, port: endpoint.port },
        ...(endpoint.tls === true ? { tls: true as const } : {}),
      };
    case 'unix':
      return { host: IPC_HOST, port: IPC_PORT, transportAddress: { type: 'unix_socket', path: endpoint.path } };
    case 'pipe': {
      const where = pipePath(endpoint.name);
      return process.platform === 'win32'
        ? { host: IPC_HOST, port: IPC_PORT, transportAddress: { type: 'named_pipe', path: where } }
        : { host: IPC_HOST, port: IPC_PORT, transportAddress: { type: 'unix_socket', path: where } };
    }
  }
}

/**
 * Where to connect to reach a registered instance (a `tls://` endpoint for a row with
 * `tls`). Throws InvalidEndpoint for unusable
 * rows: TCP port 0 (an IPC row without its transport_address), a named pipe on a
 * system without named pipes, an unknown transport_address type.
 */
export function endpointOf(entry: Pick<ServiceEntry, 'host' | 'port' | 'transportAddress' | 'tls'>): Endpoint {
  const a = entry.transportAddress;
  if (a === undefined) return tcpEndpointOf(entry.host, entry.port, entry.tls);
  switch (a.type) {
    case 'tcp':
      return tcpEndpointOf(a.host, a.port, entry.tls);
    case 'unix_socket':
      return parseEndpoint(`unix:${a.path}`);
    case 'named_pipe': {
      // On POSIX a pipe:// endpoint maps to *our* private socket dir, which is not where
      // a foreign named_pipe row points: refuse rather than connect somewhere else.
      if (process.platform !== 'win32') {
        throw new InvalidEndpoint(a.path, 'named pipes exist only on Windows');
      }
      const endpoint = parseEndpoint(a.path);
      if (endpoint.kind !== 'pipe') throw new InvalidEndpoint(a.path, String.raw`a named_pipe path must look like \\.\pipe\name`);
      return endpoint;
    }
    default:
      throw new InvalidEndpoint(JSON.stringify(a), 'unknown transport_address type');
  }
}

function tcpEndpointOf(host: string, port: number, tls: true | undefined): Endpoint {
  const scheme = tls === true ? 'tls' : 'tcp';
  const text = host.includes(':') ? `${scheme}://[${host}]:${port}` : `${scheme}://${host}:${port}`;
  if (port === 0) throw new InvalidEndpoint(text, 'port 0 cannot be connected to');
  return parseEndpoint(text);
}

/** Transport preference for routing: IPC (0) before local TCP (1) before remote TCP (2). */
export function locality(entry: Pick<ServiceEntry, 'host' | 'port' | 'transportAddress'>): 0 | 1 | 2 {
  const type = entry.transportAddress?.type ?? 'tcp';
  if (type === 'unix_socket' || type === 'named_pipe') return 0;
  const host = entry.transportAddress?.type === 'tcp' ? entry.transportAddress.host : entry.host;
  return isLocalHost(host) ? 1 : 2;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '0.0.0.0', '::']);

/** True when `host` names this machine (loopback, any-address, our host name or one of our interface addresses). */
export function isLocalHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^::ffff:/, ''); // IPv4-mapped IPv6
  if (LOOPBACK.has(h) || h.startsWith('127.')) return true;
  if (h === os.hostname().toLowerCase()) return true;
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.address.toLowerCase() === h) return true;
  }
  return false;
}
