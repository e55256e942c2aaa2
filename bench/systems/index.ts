/**
 * Start any server, in this process or in a child process of its own, and open any
 * system's client. The servers are the four systems of the spec suite and raw-bytes,
 * the extra groups' unframed echo.
 */
import { Child, exitWhenParentStops, tellParent } from '../lib/processes.js';
import type { TransportKind } from '../lib/sockets.js';
import { SYSTEMS, type ServerOptions, type SystemClient, type SystemName, type SystemServer } from './common.js';

export type ServerName = SystemName | 'raw-bytes';
export const SERVER_NAMES: readonly ServerName[] = [...SYSTEMS, 'raw-bytes'];

/** Start a server in this process. */
export async function startSystemServer(name: ServerName, transport: TransportKind, options: ServerOptions = {}): Promise<SystemServer> {
  // Each system is loaded only where it runs: a wirecall process never loads grpc-js.
  switch (name) {
    case 'raw':
      return (await import('./raw.js')).startRawServer(transport);
    case 'wirecall':
      return (await import('./wirecall.js')).startWirecallServer(transport, options);
    case 'grpc-js':
      return (await import('./grpc.js')).startGrpcServer(transport);
    case 'vscode-jsonrpc':
      return (await import('./jsonrpc.js')).startJsonRpcServer(transport);
    case 'raw-bytes':
      return (await import('./raw-bytes.js')).startRawBytesServer(transport);
  }
}

/** Start a server in a child process of its own (`child.js server <name> <tcp|unix> [maxConcurrentCalls]`). */
export async function startServerProcess(
  name: ServerName,
  transport: TransportKind,
  options: { execArgv?: string[]; maxConcurrentCalls?: number } = {},
): Promise<SystemServer> {
  const args = ['server', name, transport];
  if (options.maxConcurrentCalls !== undefined) args.push(String(options.maxConcurrentCalls));
  const { child, ready } = await Child.start(`${name} server (${transport})`, args, options.execArgv ?? []);
  return { endpoint: ready.endpoint!, close: () => child.stop() };
}

/** In that child process: start the server, report its endpoint, close it when the parent stops. */
export async function serveInChild(name: ServerName, transport: TransportKind, options: ServerOptions): Promise<void> {
  const server = await startSystemServer(name, transport, options);
  exitWhenParentStops(() => server.close());
  await tellParent({ type: 'ready', endpoint: server.endpoint });
}

export async function openSystemClient(system: SystemName, endpoint: string): Promise<SystemClient> {
  switch (system) {
    case 'raw':
      return (await import('./raw.js')).openRawClient(endpoint);
    case 'wirecall':
      return (await import('./wirecall.js')).openWirecallClient(endpoint);
    case 'grpc-js':
      return (await import('./grpc.js')).openGrpcClient(endpoint);
    case 'vscode-jsonrpc':
      return (await import('./jsonrpc.js')).openJsonRpcClient(endpoint);
  }
}
