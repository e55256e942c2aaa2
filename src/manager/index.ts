/**
 * wirecall/manager: the TransportManager layer (service registry, sessions, pool,
 * routing) and serveRegistered() for the server side. `import … from 'wirecall'`
 * loads none of it, nor the file locking it depends on.
 */
export { TransportManager, type AcquireOptions } from './transport-manager.js';
export type { TransportManagerOptions, ResolvedTransportManagerOptions } from './options.js';
export type { CleanupResult } from './cleanup.js';
export type { ServiceAddress } from './service-address.js';
export type { RouteOptions, RoutingStrategy } from './routing.js';
export type { Session, SessionEvents, SessionInfo } from './session.js';
export type { SessionTarget } from './session-reconnect.js';
export type { SessionState } from './session-state.js';
export type { Lease, PoolStats } from './pool.js';
export type { TransportManagerStats } from './manager-stats.js';
export type { SessionLike, SessionOpenMessage, SessionStateMessage, SessionRebindMessage, SessionReconnectMessage, SessionCloseMessage } from './session-channels.js';
export type { ServiceRegistration } from './registration.js';
export { serveRegistered, type RegisteredServer, type ServeRegisteredOptions } from './serve-registered.js';
export type { RegisterOptions, RegistryEvent, ServiceEntry, ServiceRegistry, ServiceStatus, TransportAddress, WatchOptions } from './registry/types.js';
export { FileRegistry, type FileRegistryOptions } from './registry/file-registry.js';
export { RedisRegistry, type RedisRegistryOptions, type RedisSnapshot } from './registry-redis/redis-registry.js';
export type { RedisClientLike } from './registry-redis/client.js';
export { REGISTRY_ENV, type RegistryOption } from './registry-redis/open.js';
export type { Liveness } from './registry/liveness.js';
export { REGISTRY_DIR_ENV, defaultRegistryDir } from './registry/registry-dir.js';
export { endpointOf } from './registry/address.js';
