/**
 * The `registry` option of TransportManager and serveRegistered: a ServiceRegistry, a
 * Redis URL (`redis://host:port/db`, `rediss://…`) or a node-redis client (standalone,
 * Cluster or Sentinel). Without one, `$WIRECALL_REGISTRY` may name a Redis URL; else the
 * file registry is the default. Nothing here loads the `redis` package: a RedisRegistry
 * imports it on its first operation, and only when it was given a URL.
 */
import { InvalidOption } from '../../errors.js';
import type { ServiceRegistry } from '../registry/types.js';
import { isRedisClient, isRedisUrl, type RedisClientLike } from './client.js';
import { RedisRegistry } from './redis-registry.js';

/** The environment variable naming the registry (a Redis URL) when no option does. */
export const REGISTRY_ENV = 'WIRECALL_REGISTRY';

export type RegistryOption = ServiceRegistry | string | RedisClientLike;

export interface RegistryOptionContext {
  /** Leases last 3 heartbeats. */
  heartbeatInterval: number;
  onWarning: (message: string) => void;
}

/**
 * A registry for the option, with `owned` (made here: the caller closes it); undefined
 * when the option (and, if `useEnv`, $WIRECALL_REGISTRY) names none, for the file default.
 */
export function registryFromOption(
  option: RegistryOption | undefined,
  context: RegistryOptionContext,
  useEnv: boolean,
): { registry: ServiceRegistry; owned: boolean } | undefined {
  let spec = option;
  if (spec === undefined && useEnv) {
    const env = process.env[REGISTRY_ENV];
    if (env !== undefined && env !== '') spec = env;
  }
  if (spec === undefined) return undefined;
  const redisOptions = { ttlMs: 3 * context.heartbeatInterval, onWarning: context.onWarning };
  if (typeof spec === 'string') {
    if (!isRedisUrl(spec)) throw new InvalidOption(`registry must be a redis:// or rediss:// URL, got ${JSON.stringify(spec)}`);
    return { registry: new RedisRegistry({ url: spec, ...redisOptions }), owned: true };
  }
  if (isRegistry(spec)) return { registry: spec, owned: false };
  if (isRedisClient(spec)) return { registry: new RedisRegistry({ client: spec, ...redisOptions }), owned: true };
  throw new InvalidOption('registry must be a ServiceRegistry, a redis:// URL or a node-redis client');
}

function isRegistry(value: object): value is ServiceRegistry {
  const r = value as Partial<ServiceRegistry>;
  return typeof r.register === 'function' && typeof r.listInstances === 'function' && typeof r.heartbeat === 'function';
}
