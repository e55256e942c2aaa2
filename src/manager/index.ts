/** The TransportManager layer: registry, sessions, pool, routing, server-side registration. */
export { TransportManager, type AcquireOptions } from './transport-manager.js';
export type { CleanupResult } from './cleanup.js';
export type { ServiceRegistration } from './registration.js';
export { MANAGER_DEFAULTS, type TransportManagerOptions } from './options.js';
export type { ServiceAddress } from './service-address.js';
export { Session, type SessionInfo, type SessionEvents } from './session.js';
export type { SessionTarget } from './session-reconnect.js';
export { SESSION_STATES, SESSION_TRANSITIONS, canTransition, type SessionState } from './session-state.js';
export { Lease } from './pool.js';
export { Router, ROUTING_STRATEGIES, rankInstances, isRoutable, type RoutingStrategy, type RouteOptions } from './routing.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export { serveRegistered, type ServeRegisteredOptions, type RegisteredServer } from './serve-registered.js';
export {
  FileRegistry,
  defaultRegistryDir,
  REGISTRY_DIR_ENV,
  SERVICE_STATUSES,
  addressOf,
  endpointOf,
  locality,
  type FileRegistryOptions,
  type ServiceRegistry,
  type ServiceEntry,
  type ServiceStatus,
  type RegisterOptions,
  type TransportAddress,
} from './registry/index.js';
