/** The service registry: the interface, the services.json backend, and address conversion. */
export type {
  ServiceRegistry,
  ServiceEntry,
  ServiceStatus,
  RegisterOptions,
  LivenessOptions,
  TransportAddress,
} from './types.js';
export { SERVICE_STATUSES } from './types.js';
export {
  FileRegistry,
  defaultRegistryDir,
  REGISTRY_FILE,
  LOCK_FILE,
  DEFAULT_STALE_AFTER_MS,
  type FileRegistryOptions,
} from './file-registry.js';
export { REGISTRY_DIR_ENV } from './registry-dir.js';
export { addressOf, endpointOf, locality, isLocalHost, IPC_HOST, IPC_PORT } from './address.js';
export { livenessOf, isPidAlive, type Liveness } from './liveness.js';
