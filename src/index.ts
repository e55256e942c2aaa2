/**
 * wirecall: what `import … from 'wirecall'` gives. Named exports only, so that nothing
 * internal becomes public by accident; every type a public signature mentions is here.
 * The TransportManager is the subpath 'wirecall/manager' (src/manager/index.ts).
 * index.test.ts holds the list of runtime exports: a new one is a deliberate change.
 */

// Errors: the whole hierarchy, the manager's included (one `instanceof` for everything).
export {
  WirecallError,
  InvalidEndpoint,
  InvalidOption,
  TransportError,
  ConnectionFailed,
  ConnectionTimeout,
  HandshakeTimeout,
  ConnectionClosed,
  ConnectionLost,
  AddressInUse,
  FrameTooLarge,
  ProtocolError,
  HandshakeRejected,
  LimitExceeded,
  TlsError,
  CertificateUntrusted,
  CertificateNameMismatch,
  CertificateExpired,
  ClientCertificateRequired,
  TlsRequired,
  TlsNotOffered,
  CallError,
  RemoteError,
  DeadlineExceeded,
  CallCancelled,
  InvalidArgument,
  StreamClosed,
  NotSupported,
  MessageTooLarge,
  ManagerError,
  ServiceNotFound,
  ServiceAlreadyRegistered,
  PoolExhausted,
  AcquireTimeout,
  SessionNotFound,
  InvalidSessionState,
  ReconnectionFailed,
  ShutdownError,
  RegistryFileError,
  SerializationError,
  InternalError,
  type WirecallErrorOptions,
  type RemoteErrorOptions,
} from './errors.js';
export { Status, statusName } from './status.js';

// Endpoints.
export { parseEndpoint, formatEndpoint, type Endpoint, type ParseOptions } from './transport/endpoint.js';
export type { TlsOptions, TlsClientOptions, TlsServerOptions, TlsPeer, PemInput } from './transport/tls-options.js';

// The handshake a server's `authenticate` option is shown.
export type { Hello } from './wire/native.js';

// Connections, clients and servers.
export { Connection, type ConnectionEvents } from './rpc/connection.js';
export type { ConnectionOptions, ClientConnectionOptions, ServerConnectionOptions, DialectName, AuthenticatePeer } from './rpc/options.js';
export type { DccMcpOptions, PayloadCodec } from './rpc/dcc-mcp-codec.js';
export { dccLinkEndpoint, type DccLinkOptions, type DccLinkBodyCodec, type DccLinkProgress } from './rpc/dcc-link-codec.js';
export { dccLinkSocketPath } from './wire/dcc-link.js';
export { connect, type ConnectOptions } from './rpc/client.js';
export { createServer, Server, type ServerOptions, type ServerEvents, type ServerStats } from './rpc/server.js';

// Observability: stats() snapshots and the diagnostics_channel payloads (docs/OBSERVABILITY.md).
export type { ConnectionStats, ConnectionCounters, ConnectionLoad, ConnectionTotals } from './rpc/stats.js';
export type { TraceContext, ConnectionStateMessage, ConnectionErrorMessage } from './rpc/tracing.js';
export { HandlerRegistry, type MethodKind, type MethodEntry } from './rpc/handlers.js';

// Contracts, handlers, calls and streams.
export type {
  Contract,
  MethodName,
  ParamsOf,
  ResultOf,
  CallOptions,
  CallArgs,
  NotifyArgs,
  ConnectionState,
  PeerInfo,
  Caller,
  CallContext,
  Handler,
  AnyHandler,
  Implementation,
  StreamOut,
  StreamIn,
  StreamParams,
  StreamArgs,
  StreamState,
  StreamWindow,
  StreamOptions,
  ServerStream,
  ClientStream,
  BidiStream,
  MessageStream,
  ServerStreamHandler,
  ClientStreamHandler,
  BidiStreamHandler,
} from './rpc/contract.js';
