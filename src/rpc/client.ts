import { connect as connectTransport, formatEndpoint, parseEndpoint, type Endpoint } from '../transport/index.js';
import { Connection, type ClientConnectionOptions } from './connection.js';
import type { AnyHandler, Contract, Implementation } from './contract.js';

export interface ConnectOptions<Local = Contract, Remote = Contract> extends Omit<ClientConnectionOptions, 'handlers'> {
  /**
   * Handlers for calls from the server, typed by our own contract (`Local`): registered
   * before the handshake, so a call arriving right behind it finds them.
   */
  handlers?: Partial<Implementation<Local, Remote>>;
  /** Milliseconds to establish the socket. Default 10 000. The handshake has its own `handshakeTimeout`. */
  connectTimeout?: number;
  /** Abort the connection attempt (socket connect and handshake); rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Connect to a wirecall server and shake hands. Resolves to a connection typed by the
 * server's contract (`Remote`) and, for calls from the server, our own (`Local`).
 */
export async function connect<Remote = Contract, Local = Contract>(
  endpoint: string | Endpoint,
  options: ConnectOptions<NoInfer<Local>, NoInfer<Remote>> = {},
): Promise<Connection<Remote, Local>> {
  const target = typeof endpoint === 'string' ? parseEndpoint(endpoint) : endpoint;
  const socket = await connectTransport(target, {
    ...(options.connectTimeout === undefined ? {} : { timeout: options.connectTimeout }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const { handlers, ...rest } = options;
  const ready = Connection.client<Remote, Local>(socket, {
    ...rest,
    ...(handlers === undefined ? {} : { handlers: handlers as Record<string, AnyHandler> }),
    address: formatEndpoint(target),
  });
  const signal = options.signal;
  if (signal === undefined) return ready;
  // The signal covers the handshake too: abort hangs up and rejects with its reason.
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      socket.destroy();
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    ready.then(
      (connection) => {
        signal.removeEventListener('abort', onAbort);
        resolve(connection);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
