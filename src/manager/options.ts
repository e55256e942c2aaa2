/**
 * TransportManager options: dcc-mcp-core's constructor arguments and its Rust
 * TransportConfig / PoolConfig / SessionConfig, in TypeScript names, durations in ms.
 */
import { InvalidOption } from '../errors.js';
import type { ClientConnectionOptions } from '../rpc/connection.js';
import type { RegistryOption } from './registry-redis/open.js';
import type { RoutingStrategy } from './routing.js';

export interface TransportManagerOptions {
  /** services.json directory of the default file registry; default $WIRECALL_REGISTRY_DIR, else a per-user temp dir. */
  registryDir?: string;
  /**
   * Use this registry instead of the file registry: a ServiceRegistry (not closed by
   * shutdown()), or a Redis one given as a `redis://host:port/db` URL or a node-redis
   * client (see docs/MANAGER.md, "Redis registry"). Default: $WIRECALL_REGISTRY (a Redis
   * URL) when set and `registryDir` is not given, else the file registry.
   */
  registry?: RegistryOption;
  /** Pool: connections per DCC type, leased or idle. Default 10. */
  maxConnectionsPerDcc?: number;
  /** Sessions unused this long go idle and release their socket. Default 300 000 (300 s). */
  idleTimeout?: number;
  /**
   * Ping interval of the connections the manager opens (unless `connectionOptions` sets
   * its own), and the default of `registryHeartbeatInterval`. Default 5000.
   */
  heartbeatInterval?: number;
  /**
   * Heartbeat of the services this manager registers; the default file registry counts
   * rows stale after 3 intervals. Default `heartbeatInterval`.
   */
  registryHeartbeatInterval?: number;
  /** Connecting and the handshake must finish within this. Default 10 000. */
  connectTimeout?: number;
  /** Failed reconnect attempts before a session closes with ReconnectionFailed. Default 3. */
  reconnectMaxRetries?: number;
  /** Delay before the first reconnect attempt; doubles per attempt. Default 1000. */
  reconnectBackoffBase?: number;
  /** Cap on the reconnect delay. Default 30 000. */
  reconnectBackoffMax?: number;
  /** Spread reconnect delays over [d/2, d]. Default true. */
  reconnectJitter?: boolean;
  /** Pool: idle connections are closed after this. Default 300 000. */
  maxIdleTime?: number;
  /** Pool: connections are retired after this. Default 3 600 000 (1 h). */
  maxLifetime?: number;
  /** Pool: how long acquireConnection waits when every connection is leased. Default 30 000; 0 fails at once (PoolExhausted). */
  acquireTimeout?: number;
  /** Sessions are closed this long after creation. Default 3 600 000 (1 h). */
  maxSessionLifetime?: number;
  /** Background cleanup() period. Default 5000; 0 disables the timer. */
  cleanupInterval?: number;
  /** Default instance choice. Default 'first_available'. */
  routing?: RoutingStrategy;
  /** Options for every connection the manager opens (name, token, handlers for calls from the server, …). */
  connectionOptions?: ClientConnectionOptions;
  /** Where warnings go (background failures, registry file problems). Default process.emitWarning. */
  onWarning?: (message: string) => void;
}

export const MANAGER_DEFAULTS = {
  maxConnectionsPerDcc: 10,
  idleTimeout: 300_000,
  heartbeatInterval: 5000,
  registryHeartbeatInterval: 5000,
  connectTimeout: 10_000,
  reconnectMaxRetries: 3,
  reconnectBackoffBase: 1000,
  reconnectBackoffMax: 30_000,
  reconnectJitter: true,
  maxIdleTime: 300_000,
  maxLifetime: 3_600_000,
  acquireTimeout: 30_000,
  maxSessionLifetime: 3_600_000,
  cleanupInterval: 5000,
  routing: 'first_available' as RoutingStrategy,
} as const;

/** Every option with its value: given, or the default. */
export type ResolvedTransportManagerOptions = { -readonly [K in keyof typeof MANAGER_DEFAULTS]: (typeof MANAGER_DEFAULTS)[K] extends boolean ? boolean : (typeof MANAGER_DEFAULTS)[K] extends number ? number : RoutingStrategy };

/** Defaults filled in; a bad value throws InvalidOption naming the option. */
export function resolveOptions(options: TransportManagerOptions): ResolvedTransportManagerOptions {
  const out: ResolvedTransportManagerOptions = { ...MANAGER_DEFAULTS };
  const ms = (name: keyof ResolvedTransportManagerOptions, min: number, integer = false): void => {
    const value = options[name as keyof TransportManagerOptions];
    if (value === undefined) return;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
      throw new InvalidOption(`${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${String(value)}`);
    }
    (out as Record<string, unknown>)[name] = value;
  };
  ms('maxConnectionsPerDcc', 1, true);
  ms('reconnectMaxRetries', 0, true);
  for (const name of ['idleTimeout', 'heartbeatInterval', 'connectTimeout', 'reconnectBackoffBase', 'reconnectBackoffMax', 'maxIdleTime', 'maxLifetime', 'maxSessionLifetime'] as const) {
    ms(name, 1);
  }
  out.registryHeartbeatInterval = out.heartbeatInterval; // unless given itself:
  ms('registryHeartbeatInterval', 1);
  ms('acquireTimeout', 0);
  ms('cleanupInterval', 0);
  if (options.reconnectJitter !== undefined) out.reconnectJitter = options.reconnectJitter;
  if (options.routing !== undefined) out.routing = options.routing;
  return out;
}

/** Where the manager's background failures go when no onWarning is given. */
export function emitManagerWarning(message: string): void {
  process.emitWarning(message, { type: 'TransportManagerWarning' });
}
