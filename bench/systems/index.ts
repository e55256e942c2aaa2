/** Start any system's server, open any system's client. */
import type { TransportKind } from '../lib/sockets.js';
import type { ServerOptions, SystemClient, SystemName, SystemServer } from './common.js';

export async function startSystemServer(system: SystemName, transport: TransportKind, options: ServerOptions = {}): Promise<SystemServer> {
  // Each system is loaded only where it runs: a wirecall process never loads grpc-js.
  switch (system) {
    case 'raw':
      return (await import('./raw.js')).startRawServer(transport);
    case 'wirecall':
      return (await import('./wirecall.js')).startWirecallServer(transport, options);
    case 'grpc-js':
      return (await import('./grpc.js')).startGrpcServer(transport);
    case 'vscode-jsonrpc':
      return (await import('./jsonrpc.js')).startJsonRpcServer(transport);
  }
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
