export * from './errors.js';
export { Status, statusName } from './status.js';
export {
  parseEndpoint,
  formatEndpoint,
  type Endpoint,
} from './transport/index.js';
export { Connection, type ConnectionState, type ConnectionOptions, type ClientConnectionOptions, type ServerConnectionOptions, type ConnectionEvents } from './rpc/connection.js';
export { connect, type ConnectOptions } from './rpc/client.js';
export { createServer, Server, type ServerOptions, type ServerEvents } from './rpc/server.js';
export type { CallContext, PeerInfo } from './rpc/call-context.js';
export type {
  Contract,
  CallOptions,
  Handler,
  Implementation,
  MethodName,
  ParamsOf,
  ResultOf,
  StreamOut,
  StreamIn,
  StreamParams,
  MessageStream,
  ServerStreamHandler,
  ClientStreamHandler,
  BidiStreamHandler,
} from './rpc/contract.js';
export type { ServerStream, ClientStream, BidiStream, StreamOptions, StreamState, StreamWindow } from './rpc/stream.js';
export { HandlerRegistry, type MethodKind, type MethodEntry } from './rpc/registry.js';
