/**
 * TransportManager: dcc-mcp-core's transport facade over wirecall, with real
 * behaviour behind its bookkeeping. One object gives a process
 *
 * - service discovery through a ServiceRegistry (services.json by default), and its
 *   own services kept registered (registration.ts),
 * - sessions: self-healing connections to one instance each (sessions.ts, session.ts),
 * - a connection pool with leases and a true per-DCC-type limit (pool.ts),
 * - instance routing (routing.ts),
 * - lifecycle: background cleanup (cleanup.ts), shutdown.
 *
 * This class is the front end: it checks that the manager is open and hands each call
 * to the part that does the work.
 */
import { SessionNotFound, ShutdownError } from '../errors.js';
import { connect } from '../rpc/client.js';
import type { Connection } from '../rpc/connection.js';
import type { Contract } from '../rpc/contract.js';
import { formatEndpoint, type Endpoint } from '../transport/endpoint.js';
import { Cleanup, type CleanupResult } from './cleanup.js';
import { managerStats, type TransportManagerStats } from './manager-stats.js';
import { emitManagerWarning, resolveOptions, type ResolvedTransportManagerOptions, type TransportManagerOptions } from './options.js';
import { ConnectionPool, type Lease, type OpenedConnection } from './pool.js';
import { Registrations, openRegistry, type ServiceRegistration } from './registration.js';
import { endpointOf } from './registry/address.js';
import type { RegistryEvent, ServiceEntry, ServiceRegistry, ServiceStatus, WatchOptions } from './registry/types.js';
import { registryFromOption } from './registry-redis/open.js';
import { pollWatch } from './registry/poll-watch.js';
import { Router, matchInstanceId, type RouteOptions } from './routing.js';
import { toEndpoint, type ServiceAddress } from './service-address.js';
import type { Session, SessionInfo } from './session.js';
import { SessionTable } from './sessions.js';
import { SessionWatch } from './session-watch.js';

export interface AcquireOptions {
  /** ms to wait when the pool is full; default `acquireTimeout`. */
  timeout?: number;
  signal?: AbortSignal;
}

const SHUTDOWN_MESSAGE = 'the transport manager is shut down';

export class TransportManager {
  readonly options: Readonly<ResolvedTransportManagerOptions>;
  readonly registry: ServiceRegistry;
  private readonly ownsRegistry: boolean;
  private readonly router: Router;
  private readonly registrations: Registrations;
  private readonly sessions: SessionTable;
  private readonly pool: ConnectionPool;
  private readonly cleaner: Cleanup;
  /** Sessions drop instances the registry's watch reports gone (registries with a watch of their own). */
  private readonly sessionWatch: SessionWatch;
  private readonly connectionOptions: TransportManagerOptions['connectionOptions'];
  /** Aborted on shutdown: connection attempts in progress give up. */
  private readonly lifetime = new AbortController();
  private shuttingDown: Promise<void> | undefined;
  /** Live services as of the last registry listing, for toString(). */
  private knownServices = 0;

  constructor(options: TransportManagerOptions = {}) {
    const resolved = resolveOptions(options);
    this.options = resolved;
    const warn = options.onWarning ?? emitManagerWarning;
    this.connectionOptions = options.connectionOptions;
    const heartbeatInterval = resolved.registryHeartbeatInterval;
    const { registry, owned } =
      registryFromOption(options.registry, { heartbeatInterval, onWarning: warn }, options.registryDir === undefined) ??
      openRegistry({ registryDir: options.registryDir, heartbeatInterval, onWarning: warn });
    this.registry = registry;
    this.ownsRegistry = owned;
    this.registrations = new Registrations(registry, { heartbeatInterval, onWarning: warn });
    this.router = new Router({ strategy: resolved.routing });
    this.sessions = new SessionTable({
      registry,
      router: this.router,
      config: {
        idleTimeout: resolved.idleTimeout,
        maxLifetime: resolved.maxSessionLifetime,
        reconnectMaxRetries: resolved.reconnectMaxRetries,
        backoff: { base: resolved.reconnectBackoffBase, max: resolved.reconnectBackoffMax, jitter: resolved.reconnectJitter },
      },
      connect: (endpoint, signal) => this.openConnection(endpoint, signal),
      load: (entry) => this.loadOf(entry),
      lifetime: this.lifetime.signal,
      warn,
    });
    this.sessionWatch = new SessionWatch(registry, this.sessions, this.lifetime.signal, warn);
    this.pool = new ConnectionPool(
      {
        maxConnectionsPerDcc: resolved.maxConnectionsPerDcc,
        maxIdleTime: resolved.maxIdleTime,
        maxLifetime: resolved.maxLifetime,
        acquireTimeout: resolved.acquireTimeout,
      },
      (dccType, instanceId) => this.openPooled(dccType, instanceId),
    );
    this.cleaner = new Cleanup(
      { registry, sessions: this.sessions, pool: this.pool, onListed: (live) => (this.knownServices = live.length), warn },
      resolved.cleanupInterval,
    );
  }

  // ---------------------------------------------------------------- services

  /** Registers a service in the registry; returns its instance id. It is heartbeated until deregistered or shutdown. */
  async registerService(dccType: string, address: ServiceAddress, registration: ServiceRegistration = {}): Promise<string> {
    this.assertOpen();
    const entry = await this.registrations.register(dccType, toEndpoint(address), { ...registration });
    return entry.instanceId;
  }

  /** Removes a service row; false if it was not there. */
  async deregisterService(dccType: string, instanceId: string): Promise<boolean> {
    this.assertOpen();
    return this.registrations.deregister(dccType, instanceId);
  }

  /** Live instances of one DCC type (stale and dead rows never appear). */
  async listInstances(dccType: string): Promise<ServiceEntry[]> {
    this.assertOpen();
    return this.registry.listInstances(dccType);
  }

  /** Every live instance. */
  async listAllServices(): Promise<ServiceEntry[]> {
    this.assertOpen();
    const all = await this.registry.listAll();
    this.knownServices = all.length;
    return all;
  }

  /** Refreshes a row's heartbeat; false if the row is gone. */
  async heartbeat(dccType: string, instanceId: string): Promise<boolean> {
    this.assertOpen();
    return this.registry.heartbeat(dccType, instanceId);
  }

  /** Sets a row's status (available, busy, unreachable, shutting_down, …); false if the row is gone. */
  async setStatus(dccType: string, instanceId: string, status: ServiceStatus): Promise<boolean> {
    this.assertOpen();
    return this.registry.setStatus(dccType, instanceId, status);
  }

  /**
   * The live instances (of `dccType`, or all) as a snapshot, then every change in order:
   * up, status, down, expire (see RegistryEvent). The Redis registry follows its event
   * stream; a registry without watch() is polled every `registryHeartbeatInterval`.
   */
  watch(dccType?: string, options: WatchOptions = {}): AsyncIterable<RegistryEvent> {
    this.assertOpen();
    const signal = options.signal === undefined ? this.lifetime.signal : AbortSignal.any([options.signal, this.lifetime.signal]);
    if (this.registry.watch !== undefined) return this.registry.watch(dccType, { signal });
    return pollWatch(this.registry, dccType, { signal, intervalMs: this.options.registryHeartbeatInterval });
  }

  // ---------------------------------------------------------------- sessions

  /**
   * The session to an instance of `dccType`, created (and connected) if there is none.
   * `instanceId` (a full id or a unique prefix) pins the session to that instance;
   * without it the routing strategy picks one, and the session may move to another
   * live instance if its own dies. An idle session is woken up.
   */
  async getOrCreateSession<Remote = Contract>(dccType: string, instanceId?: string, route: RouteOptions = {}): Promise<Session<Remote>> {
    this.assertOpen();
    this.sessionWatch.ensure();
    return this.sessions.getOrCreate<Remote>(dccType, instanceId, route);
  }

  /** A snapshot of one session; undefined if there is none (closed sessions are forgotten). */
  getSession(sessionId: string): SessionInfo | undefined {
    return this.sessions.get(sessionId)?.info();
  }

  /** The live Session object, for calls. */
  findSession<Remote = Contract>(sessionId: string): Session<Remote> | undefined {
    return this.sessions.get(sessionId) as unknown as Session<Remote> | undefined;
  }

  listSessions(): SessionInfo[] {
    return this.sessions.list().map((s) => s.info());
  }

  sessionCount(): number {
    return this.sessions.size;
  }

  /** Same as sessionCount() (dcc-mcp-core's `len()`). */
  get size(): number {
    return this.sessions.size;
  }

  /** Closes a session (its in-flight calls may finish); false if there was none. */
  async closeSession(sessionId: string): Promise<boolean> {
    const session = this.sessions.get(sessionId);
    if (session === undefined) return false;
    await session.close();
    return true;
  }

  recordSuccess(sessionId: string, latencyMs: number): void {
    this.sessionOrThrow(sessionId).recordSuccess(latencyMs);
  }

  recordError(sessionId: string, latencyMs: number, error: unknown): void {
    this.sessionOrThrow(sessionId).recordError(latencyMs, error);
  }

  /** See Session.beginReconnect: counts an attempt, returns its backoff (ms), reconnects in the background. */
  beginReconnect(sessionId: string): number {
    return this.sessionOrThrow(sessionId).beginReconnect();
  }

  reconnectSuccess(sessionId: string): void {
    this.sessionOrThrow(sessionId).reconnectSuccess();
  }

  // ---------------------------------------------------------------- pool

  /**
   * A pooled connection to an instance of `dccType` (to `instanceId`, a full id or a
   * unique prefix, when given). Call `lease.release()` when done.
   */
  async acquireConnection<Remote = Contract>(dccType: string, instanceId?: string, options: AcquireOptions = {}): Promise<Lease<Remote>> {
    this.assertOpen();
    let wanted = instanceId;
    if (wanted !== undefined && !isFullId(wanted)) {
      wanted = matchInstanceId(dccType, await this.registry.listInstances(dccType), wanted).instanceId;
    }
    const lease = await this.pool.acquire(dccType, { ...options, ...(wanted === undefined ? {} : { instanceId: wanted }) });
    return lease as unknown as Lease<Remote>;
  }

  /** Pooled connections, leased or idle. */
  poolSize(): number {
    return this.pool.size();
  }

  /** Sessions, requests, the pool and the connections under them, read now (see TransportManagerStats). */
  stats(): TransportManagerStats {
    return managerStats(this.sessions.list(), this.sessions.retired, this.pool.stats(), this.pool.liveConnections());
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Prunes stale and dead registry rows, applies session idle timeouts and lifetimes,
   * evicts pooled connections. Also runs every `cleanupInterval` in the background.
   */
  cleanup(): Promise<CleanupResult> {
    if (this.shuttingDown !== undefined) return Promise.reject(new ShutdownError(SHUTDOWN_MESSAGE));
    return this.cleaner.run();
  }

  /**
   * Closes every session (in-flight calls may finish), drains the pool, deregisters
   * what this manager registered and stops its timers. Later mutating calls fail with
   * ShutdownError. Idempotent.
   */
  shutdown(): Promise<void> {
    if (this.shuttingDown !== undefined) return this.shuttingDown;
    this.cleaner.stop();
    const reason = new ShutdownError(SHUTDOWN_MESSAGE);
    this.lifetime.abort(reason);
    this.shuttingDown = (async () => {
      await this.sessions.closeAll(reason);
      await this.pool.close();
      await this.registrations.close();
      if (this.ownsRegistry) await this.registry.close();
    })();
    return this.shuttingDown;
  }

  isShutdown(): boolean {
    return this.shuttingDown !== undefined;
  }

  /** `TransportManager(services=N, sessions=N, pool=N)`; services as of the last registry listing or cleanup. */
  toString(): string {
    return `TransportManager(services=${this.knownServices}, sessions=${this.sessions.size}, pool=${this.pool.size()})`;
  }

  // ---------------------------------------------------------------- internals

  private assertOpen(): void {
    if (this.shuttingDown !== undefined) throw new ShutdownError(SHUTDOWN_MESSAGE);
  }

  private sessionOrThrow(sessionId: string): Session {
    this.assertOpen();
    const session = this.sessions.get(sessionId);
    if (session === undefined) throw new SessionNotFound(`no session ${sessionId}`);
    return session;
  }

  /** The pool's opener: the routed instance first, then the fallbacks. */
  private async openPooled(dccType: string, instanceId: string | undefined): Promise<OpenedConnection> {
    const live = await this.registry.listInstances(dccType);
    const route: RouteOptions = instanceId === undefined ? {} : { strategy: 'specific', instanceId };
    let lastError: unknown;
    for (const entry of this.router.order(dccType, live, route, (e) => this.loadOf(e))) {
      try {
        const endpoint = endpointOf(entry); // throws for a row we cannot connect to
        const connection = await this.openConnection(endpoint, this.lifetime.signal);
        return { connection, instanceId: entry.instanceId, endpoint: formatEndpoint(endpoint) };
      } catch (err) {
        if (this.lifetime.signal.aborted) throw new ShutdownError(SHUTDOWN_MESSAGE);
        lastError = err;
      }
    }
    throw lastError;
  }

  /** Calls in flight to one instance, through sessions and pooled connections (for least_busy). */
  private loadOf(entry: ServiceEntry): number {
    return this.sessions.loadOf(entry.dccType, entry.instanceId) + this.pool.loadOf(entry.dccType, entry.instanceId);
  }

  /**
   * The endpoint says whether to use TLS (a row registered with a tls:// endpoint gives
   * one): connectionOptions.tls supplies the CA and client certificate for those, and is
   * left out for the others, which are dialled plain.
   */
  private openConnection(endpoint: Endpoint, signal: AbortSignal): Promise<Connection> {
    const { tls, ...base } = this.connectionOptions ?? {};
    const useTls = endpoint.kind === 'tcp' && endpoint.tls === true && tls !== undefined;
    return connect(endpoint, {
      ...base,
      ...(useTls ? { tls } : {}),
      connectTimeout: this.options.connectTimeout,
      handshakeTimeout: base.handshakeTimeout ?? this.options.connectTimeout,
      heartbeatInterval: base.heartbeatInterval ?? this.options.heartbeatInterval,
      signal,
    });
  }
}

const FULL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isFullId(id: string): boolean {
  return FULL_ID.test(id);
}
