/** Connecting for call, ping and notify: one place for signals, options and closing. */
import type { Command } from 'commander';
import { CallCancelled, connect, type Connection } from '../index.js';
import { canonicalEndpoint, clientOptions, onInterrupt, parsePositiveMs, type ClientFlags } from './common.js';

/**
 * Connects to `endpointText`, runs `use`, then closes the connection gracefully.
 * The first SIGINT/SIGTERM aborts `signal` with CallCancelled (while connecting too);
 * a second one exits at once.
 */
export async function withConnection<T>(
  endpointText: string,
  flags: ClientFlags,
  use: (connection: Connection, endpoint: string, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const endpoint = canonicalEndpoint(endpointText);
  const controller = new AbortController();
  const removeHandlers = onInterrupt((signal) => controller.abort(new CallCancelled(`interrupted by ${signal}`)));
  try {
    const connection = await connectAbortably(endpoint, flags, controller.signal);
    try {
      return await use(connection, endpoint, controller.signal);
    } finally {
      await connection.close();
    }
  } finally {
    removeHandlers();
  }
}

let abandoned = false;

/**
 * True once a connection attempt was given up in the middle of its handshake: its
 * socket is out of our reach until the handshake ends, so the caller should exit
 * explicitly instead of waiting for the event loop to drain.
 */
export function abandonedConnection(): boolean {
  return abandoned;
}

/**
 * connect() honours `signal` while the socket connects, not during the handshake; stop
 * waiting for the handshake too, and close the connection if it still completes.
 */
function connectAbortably(endpoint: string, flags: ClientFlags, signal: AbortSignal): Promise<Connection> {
  const connecting = connect(endpoint, clientOptions(flags, signal));
  return new Promise<Connection>((resolve, reject) => {
    const onAbort = (): void => {
      abandoned = true;
      connecting.then((c) => c.destroy(), () => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    connecting.then(
      (c) => {
        signal.removeEventListener('abort', onAbort);
        resolve(c);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** The connection options of call, ping and notify. */
export function clientFlags<C extends Command>(command: C): C {
  return command
    .option('--token <token>', 'token for the handshake, if the server requires one')
    .option('--connect-timeout <ms>', 'give up connecting (and shaking hands) after this long (default 10000)', parsePositiveMs);
}
