/**
 * wirecall transports: TCP, Unix sockets and named pipes behind one Endpoint grammar.
 */
import type { Socket } from 'node:net';
import { InvalidOption } from '../errors.js';
import { parseEndpoint, validateEndpoint, type Endpoint } from './endpoint.js';
import { tcpTransport } from './tcp.js';
import { tlsTransport } from './tls.js';
import type { ConnectOptions, Listener, ListenOptions, Transport } from './transport.js';
import { pipeTransport, unixTransport } from './unix.js';

export * from './endpoint.js';
export * from './transport.js';
export { TcpTransport, tcpTransport } from './tcp.js';
export { TlsTransport, tlsTransport } from './tls.js';
export * from './tls-options.js';
export { UnixTransport, unixTransport, pipeTransport } from './unix.js';
export { privateRuntimeDir, runtimeDirPath, checkPrivateDir } from './runtime-dir.js';
export { PROBE_TIMEOUT_MS } from './stale.js';

export function transportFor(kind: Endpoint['kind']): Transport {
  switch (kind) {
    case 'tcp':
      return tcpTransport;
    case 'unix':
      return unixTransport;
    case 'pipe':
      return pipeTransport;
    default:
      throw new InvalidOption(`unknown transport kind ${JSON.stringify(kind)}`);
  }
}

/**
 * Listens on `endpoint`. `undefined` listens on a fresh private Unix socket (a random
 * named pipe on Windows), the usual choice for a plugin or tool process that advertises
 * its address to a parent.
 */
export async function listen(endpoint: string | Endpoint | undefined, options: ListenOptions): Promise<Listener> {
  if (endpoint === undefined) return options.tls?.unixSockets === true ? tlsTransport.listenPrivate(options) : unixTransport.listenPrivate(options);
  const ep = typeof endpoint === 'string' ? parseEndpoint(endpoint) : validateEndpoint(endpoint);
  if (usesTls(ep, options.tls)) return tlsTransport.listen(ep, options);
  return transportFor(ep.kind).listen(ep, options);
}

export async function connect(endpoint: string | Endpoint, options?: ConnectOptions): Promise<Socket> {
  const ep = typeof endpoint === 'string' ? parseEndpoint(endpoint) : validateEndpoint(endpoint);
  if (usesTls(ep, options?.tls)) return tlsTransport.connect(ep, options);
  return transportFor(ep.kind).connect(ep, options);
}

/** TLS on tls://, on tcp:// with the tls option, and on unix: when the tls option says `unixSockets: true`. */
function usesTls(ep: Endpoint, tls: { unixSockets?: boolean } | undefined): boolean {
  if (ep.kind === 'tcp') return ep.tls === true || tls !== undefined;
  return ep.kind === 'unix' && tls?.unixSockets === true;
}
