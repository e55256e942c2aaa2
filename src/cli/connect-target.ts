/** Connecting for call, ping and notify: one place for targets, signals, options and closing. */
import { Option, type Command } from 'commander';
import { CallCancelled, InvalidEndpoint, ServiceNotFound, connect, formatEndpoint, type Connection } from '../index.js';
import { endpointOf } from '../manager/index.js';
import { Router } from '../manager/routing.js';
import { bareHost, canonicalEndpoint, clientOptions, isServiceName, onInterrupt, parsePositiveMs, type ClientFlags } from './common.js';
import { readRegistry } from './registry-read.js';
import { clientTlsOptions, tlsFlags } from './tls-flags.js';
import { resolveToken, tokenFlags } from './token.js';

/** Where a command-line target leads: the endpoint, and whether it came from a registry row. */
export interface ResolvedTarget {
  endpoint: string;
  /** Found in the registry: its row says whether to use TLS (a tls:// endpoint). */
  fromRegistry: boolean;
}

/**
 * Resolves a command-line target to an endpoint. A bare word (no ':' or '/') is a DCC
 * type: the service registry (a services.json directory, or Redis with
 * $WIRECALL_REGISTRY; registry-read.ts) picks a live instance of it (IPC before TCP,
 * available before busy; `--instance` pins one by id or id prefix). The registry is
 * only read, never changed. A host without a port (127.0.0.1, localhost, example.com)
 * is neither: a usage error that says what to add. Anything else is an endpoint.
 */
export async function resolveTarget(target: string, flags: ClientFlags): Promise<ResolvedTarget> {
  const host = bareHost(target);
  if (host !== undefined) {
    const socket = /\.sock$/.test(target) && isServiceName(target) ? ` (or ./${target} for a Unix socket in this directory)` : '';
    throw new InvalidEndpoint(target, `a host without a port, not a DCC type: did you mean ${host}:PORT?${socket}`);
  }
  if (!isServiceName(target)) return { endpoint: canonicalEndpoint(target), fromRegistry: false };
  const { where, rows } = await readRegistry(flags, (message) => process.stderr.write(`warning: ${message}\n`));
  const live = rows.filter((r) => r.liveness === 'live' && r.entry.dccType === target).map((r) => r.entry);
  try {
    const entry = new Router().pick(target, live, flags.instance === undefined ? {} : { instanceId: flags.instance });
    return { endpoint: formatEndpoint(endpointOf(entry)), fromRegistry: true };
  } catch (err) {
    if (err instanceof ServiceNotFound) throw new ServiceNotFound(`${err.message} (registry ${where})`);
    throw err;
  }
}

/**
 * Connects to `target` (an endpoint or a DCC type), runs `use`, then closes the
 * connection gracefully. The first SIGINT/SIGTERM aborts `signal` with CallCancelled
 * (while connecting too); a second one exits at once.
 */
export async function withConnection<T>(
  target: string,
  flags: ClientFlags,
  use: (connection: Connection, endpoint: string, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  // Before anything else: a refused token file is a usage error, whatever the target.
  const token = resolveToken(flags);
  const { endpoint, fromRegistry } = await resolveTarget(target, flags);
  const controller = new AbortController();
  const removeHandlers = onInterrupt((signal) => controller.abort(new CallCancelled(`interrupted by ${signal}`)));
  try {
    // The signal covers connecting and the handshake.
    // A registry row says whether its instance serves TLS (tls:// or not); the --tls-*
    // flags then only supply the CA and client certificate, and a plain row is dialled plain.
    const tls = fromRegistry && !/^tls:/i.test(endpoint) ? undefined : clientTlsOptions(flags, endpoint);
    const connection = await connect(endpoint, { ...clientOptions(flags, token, controller.signal), ...(tls === undefined ? {} : { tls }) });
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
  return tlsFlags(
    tokenFlags(
      registryFlag(command).option('--instance <id>', 'with a DCC type as target: use the instance with this id (or unique id prefix)'),
      'token for the handshake, if the server requires one',
    ),
    'client',
  )
    .option('--connect-timeout <ms>', 'give up connecting (and shaking hands) after this long (default 10000)', parsePositiveMs)
    .addOption(
      new Option(
        '--dialect <name>',
        "protocol: wirecall's own; dcc-mcp-core's envelope (a 0.12.3-0.13.6 IpcListener); or its DCC-Link (>= 0.14, an IpcChannelAdapter at unix:/tmp/<name>.sock)",
      )
        .choices(['wirecall', 'dcc-mcp', 'dcc-link'])
        .default('wirecall'),
    );
}

/** `--registry-dir`, for every command that reads or writes the service registry. */
export function registryFlag<C extends Command>(command: C): C {
  return command.option(
    '--registry-dir <dir>',
    'service registry directory (default: the Redis registry of $WIRECALL_REGISTRY=redis://host:port/db if set, else $WIRECALL_REGISTRY_DIR, else $DCC_MCP_REGISTRY_DIR, else <tmpdir>/dcc-mcp-registry, shared with dcc-mcp-core)',
  );
}
