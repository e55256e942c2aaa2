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
    // The signal covers connecting and the handshake.
    const connection = await connect(endpoint, clientOptions(flags, controller.signal));
    try {
      return await use(connection, endpoint, controller.signal);
    } finally {
      await connection.close();
    }
  } finally {
    removeHandlers();
  }
}

/** The connection options of call, ping and notify. */
export function clientFlags<C extends Command>(command: C): C {
  return command
    .option('--token <token>', 'token for the handshake, if the server requires one')
    .option('--connect-timeout <ms>', 'give up connecting (and shaking hands) after this long (default 10000)', parsePositiveMs);
}
