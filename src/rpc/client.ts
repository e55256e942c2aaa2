import { ConnectionLost, HandshakeRejected } from '../errors.js';
import { connect as connectTransport, formatEndpoint, parseEndpoint, tlsFailure, tlsPeerOf, tlsRejection, type Endpoint } from '../transport/index.js';
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
  const parsed = typeof endpoint === 'string' ? parseEndpoint(endpoint) : endpoint;
  // The tls option turns TLS on for a tcp:// endpoint: the connection's address says so.
  const target = parsed.kind === 'tcp' && options.tls !== undefined ? { ...parsed, tls: true as const } : parsed;
  const socket = await connectTransport(target, {
    ...(options.connectTimeout === undefined ? {} : { timeout: options.connectTimeout }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.handshakeTimeout === undefined ? {} : { handshakeTimeout: options.handshakeTimeout }),
  });
  const { handlers, tls: _tls, ...rest } = options;
  const address = formatEndpoint(target);
  const tlsPeer = tlsPeerOf(socket);
  const ready = Connection.client<Remote, Local>(socket, {
    ...rest,
    ...(handlers === undefined ? {} : { handlers: handlers as Record<string, AnyHandler> }),
    ...(tlsPeer === undefined ? {} : { tlsPeer: () => tlsPeer }),
    address,
  }).catch((err: unknown) => Promise.reject(tlsError(err, address)));
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

/**
 * A handshake that failed because of TLS, said as such: a TLS server telling a plain
 * client it needs TLS (a REJECT), or the server refusing our certificate after the TLS
 * handshake (TLS 1.3 checks a client certificate only then: its alert ends the socket).
 */
function tlsError(err: unknown, address: string): unknown {
  if (err instanceof HandshakeRejected) {
    const typed = tlsRejection(err.reason, err.message.replace(/^handshake rejected \([^)]*\): /, ''), address);
    if (typed !== undefined) return Object.assign(typed, { cause: err });
  }
  if (err instanceof ConnectionLost) return tlsFailure(err.cause, 'client', address) ?? err;
  return err;
}
