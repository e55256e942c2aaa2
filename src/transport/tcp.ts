/** TCP transport. Host names are resolved by net (dns.lookup) at listen/connect time. */
import net from 'node:net';
import { AddressInUse, InvalidEndpoint, TransportError } from '../errors.js';
import { connectSocket } from './connect.js';
import { formatEndpoint, validateEndpoint, type Endpoint } from './endpoint.js';
import { errorCode } from '../util/error-code.js';
import { errorMessage } from '../util/error-message.js';
import { listenerFor, startNetServer } from './net-server.js';
import type { ConnectOptions, Listener, ListenOptions, Transport } from './transport.js';

type TcpEndpoint = Extract<Endpoint, { kind: 'tcp' }>;

export class TcpTransport implements Transport {
  readonly kind = 'tcp' as const;

  async listen(endpoint: Endpoint, options: ListenOptions): Promise<Listener> {
    const ep = asTcp(endpoint);
    const url = formatEndpoint(ep);
    const server = await startNetServer(
      { host: ep.host, port: ep.port, backlog: options.backlog },
      options,
      (err) => listenError(err, url, ep.host),
    );
    // Advertise what was really bound: the real port, and the address a name resolved to.
    const address = server.address() as net.AddressInfo;
    const bound: Endpoint = { kind: 'tcp', host: address.address, port: address.port };
    return listenerFor(bound, () => server.close());
  }

  connect(endpoint: Endpoint, options?: ConnectOptions): Promise<net.Socket> {
    let ep: TcpEndpoint;
    try {
      ep = asTcp(endpoint);
      if (ep.port === 0) throw new InvalidEndpoint(formatEndpoint(ep), 'cannot connect to port 0 (it only means "any free port" when listening)');
    } catch (err) {
      return Promise.reject(err);
    }
    return connectSocket({ host: ep.host, port: ep.port, noDelay: true }, formatEndpoint(ep), options);
  }
}

function asTcp(endpoint: Endpoint): TcpEndpoint {
  const ep = validateEndpoint(endpoint);
  if (ep.kind !== 'tcp') throw new InvalidEndpoint(formatEndpoint(ep), 'the tcp transport only handles tcp:// endpoints');
  return ep;
}

export function listenError(err: Error, url: string, host: string): TransportError {
  const cause = { cause: err };
  switch (errorCode(err)) {
    case 'EADDRINUSE':
      return new AddressInUse(`cannot listen on ${url}: the address is already in use`, cause);
    case 'EADDRNOTAVAIL':
      return new TransportError(`cannot listen on ${url}: ${host} is not an address of this machine`, cause);
    case 'EACCES':
    case 'EPERM':
      return new TransportError(`cannot listen on ${url}: permission denied (ports below 1024 need privileges)`, cause);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
      return new TransportError(`cannot listen on ${url}: cannot resolve host "${host}"`, cause);
    default:
      return new TransportError(`cannot listen on ${url}: ${errorMessage(err)}`, cause);
  }
}

export const tcpTransport: Transport = new TcpTransport();
