/** Starting a net.Server the same way for every transport. */
import net from 'node:net';
import type { TransportError } from '../errors.js';
import { formatEndpoint, type Endpoint } from './endpoint.js';
import type { Listener, ListenOptions } from './transport.js';

/**
 * Listens and resolves once bound; a listen error is passed through `mapError`.
 * Later server errors go to options.onError (default: ignored, so the process survives).
 * If onConnection throws, that socket is destroyed and the error goes to onError.
 */
export function startNetServer(
  listen: net.ListenOptions,
  options: ListenOptions,
  mapError: (err: Error) => TransportError,
): Promise<net.Server> {
  const report = (err: unknown): void => {
    options.onError?.(err instanceof Error ? err : new Error(String(err)));
  };
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.setNoDelay(true);
    try {
      options.onConnection(socket);
    } catch (err) {
      socket.destroy();
      report(err);
    }
  });
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(mapError(err));
    };
    const onListening = (): void => {
      server.off('error', onError);
      server.on('error', report);
      resolve(server);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    try {
      server.listen(listen);
    } catch (err) {
      // Invalid options (e.g. a bad backlog) throw synchronously.
      server.off('error', onError);
      server.off('listening', onListening);
      reject(mapError(err instanceof Error ? err : new Error(String(err))));
    }
  });
}

/**
 * A Listener whose close() runs `stop` once. net.Server#close stops accepting at once;
 * we do not wait for its callback, which only fires after every accepted socket has
 * ended, and those belong to the caller.
 */
export function listenerFor(endpoint: Endpoint, stop: () => void): Listener {
  let closed = false;
  return {
    endpoint,
    url: formatEndpoint(endpoint),
    close: async () => {
      if (closed) return;
      closed = true;
      stop();
    },
  };
}
