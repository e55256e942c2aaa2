/**
 * TransportManager: dcc-mcp-core's transport facade over wirecall, with real
 * behaviour behind its bookkeeping. One object gives a process
 *
 * - service discovery through a ServiceRegistry (services.json by default),
 * - sessions: self-healing connections to one instance each (see session.ts),
 * - a connection pool with leases and a true per-DCC-type limit (see pool.ts),
 * - instance routing (see routing.ts),
 * - lifecycle: background cleanup, shutdown.
 */
import { ManagerError, ServiceAlreadyRegistered, SessionNotFound, ShutdownError } from '../errors.js';
import { connect } from '../rpc/client.js';
import type { Connection } from '../rpc/connection.js';
import type { Contract } from '../rpc/contract.js';
import { formatEndpoint, type Endpoint } from '../transport/endpoint.js';
import { resolveOptions, type ResolvedOptions, type TransportManagerOptions } from './options.js';
import { ConnectionPool, type Lease, type OpenedConnection } from './pool.js';
import { addressOf, endpointOf } from './registry/address.js';
import { FileRegistry } from './registry/file-registry.js';
import type { RegisterOptions, ServiceEntry, ServiceRegistry, ServiceStatus } from './registry/types.js';
import { Router, isRoutable, matchInstanceId, type RouteOptions } from './routing.js';
import { toEndpoint, type ServiceAddress } from './service-address.js';
import { Session, type SessionInfo, type SessionRef, type SessionTarget } from './session.js';

export interface ServiceRegistration {
  version?: string | null;
  scene?: string | null;
  metadata?: Record<string, unknown>;
  /** Re-register under a known id (after a restart) instead of a fresh UUID v4. */
  instanceId?: string;
  status?: ServiceStatus;
}

export interface CleanupResult {
  /** Stale and dead rows removed from the registry. */
  staleServices: number;
  /** Sessions closed because they reached maxSessionLifetime. */
  closedSessions: number;
  /** Pooled connections closed (idle too long, past their lifetime, or broken). */
  evictedConnections: number;
  /** Sessions that stayed on a restarted instance's endpoint and took its new instance id. */
  reboundSessions: number;
  /** Sessions that went idle (socket released) in this pass. */
  idledSessions: number;
}

export interface AcquireOptions {
  /** ms to wait when the pool is full; default `acquireTimeout`. */
  timeout?: number;
  signal?: AbortSignal;
}

const SHUTDOWN_MESSAGE = 'the transport manager is shut down';

export class TransportManager {
  readonly options: Readonly<ResolvedOptions>;
  readonly registry: ServiceRegistry;
  private readonly ownsRegistry: boolean;
  private readonly router: Router;
  private readonly pool: ConnectionPool;
  private readonly connectionOptions: TransportManagerOptions['connectionOptions'];
  private readonly warn: (message: string) => void;
  private readonly sessions = new Map<string, Session>();
  /** The live session of each (dccType, instanceId). */
  private readonly byInstance = new Map<string, Session>();
  /** Sessions being created, so two callers for one instance share one session. */
  private readonly creating = new Map<string, Promise<Session>>();
  /** How each unpinned session was routed, so a reconnect elsewhere follows the same rule. */
  private readonly routes = new Map<string, RouteOptions>();
  /** What this manager registered: heartbeated, and deregistered on shutdown. */
  private readonly registered = new Map<string, { dccType: string; endpoint: Endpoint; options: RegisterOptions }>();
  /** Aborted on shutdown: connection attempts in progress give up. */
  private readonly lifetime = new AbortController();
  private cleanupTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private cleaning: Promise<CleanupResult> | undefined;
  private shuttingDown: Promise<void> | undefined;
  private knownServices = 0;

  constructor(options: TransportManagerOptions = {}) {
    this.options = resolveOptions(options);
    this.warn = options.onWarning ?? ((message) => process.emitWarning(message, { type: 'TransportManagerWarning' }));
    this.connectionOptions = options.connectionOptions;
    if (options.registry !== undefined) {
      this.registry = options.registry;
      this.ownsRegistry = false;
    } else {
      const fileOptions: ConstructorParameters<typeof FileRegistry>[0] = {
        staleAfterMs: 3 * this.options.heartbeatInterval,
        onWarning: this.warn,
      };
      if (options.registryDir !== undefined) fileOptions.dir = options.registryDir;
      this.registry = new FileRegistry(fileOptions);
      this.ownsRegistry = true;
    }
    this.router = new Router({ strategy: this.options.routing });
    this.pool = new ConnectionPool(
      {
        maxConnectionsPerDcc: this.options.maxConnectionsPerDcc,
        maxIdleTime: this.options.maxIdleTime,
        maxLifetime: this.options.maxLifetime,
        acquireTimeout: this.options.acquireTimeout,
      },
      (dccType, instanceId) => this.openPooled(dccType, instanceId),
    );
    if (this.options.cleanupInterval > 0) {
      this.cleanupTimer = setInterval(() => {
        this.cleanup().catch((err: unknown) => this.warn(`background cleanup failed: ${message(err)}`));
      }, this.options.cleanupInterval);
      this.cleanupTimer.unref();
    }
  }

  // ---------------------------------------------------------------- services

  /** Registers a service in the registry; returns its instance id. It is heartbeated until deregistered or shutdown. */
  async registerService(dccType: string, address: ServiceAddress, registration: ServiceRegistration = {}): Promise<string> {
    this.assertOpen();
    const endpoint = toEndpoint(address);
    const options: RegisterOptions = { ...registration };
    const entry = await this.registry.register(dccType, endpoint, options);
    this.registered.set(key(dccType, entry.instanceId), { dccType, endpoint, options: { ...options, instanceId: entry.instanceId } });
    this.startHeartbeats();
    return entry.instanceId;
  }

  /** Removes a service row; false if it was not there. */
  async deregisterService(dccType: string, instanceId: string): Promise<boolean> {
    this.assertOpen();
    this.registered.delete(key(dccType, instanceId));
    return this.registry.deregister(dccType, instanceId);
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

  // ---------------------------------------------------------------- sessions

  /**
   * The session to an instance of `dccType`, created (and connected) if there is none.
   * `instanceId` (a full id or a unique prefix) pins the session to that instance;
   * without it the routing strategy picks one, and the session may move to another
   * live instance if its own dies. An idle session is woken up.
   */
  async getOrCreateSession<Remote = Contract>(dccType: string, instanceId?: string, route: RouteOptions = {}): Promise<Session<Remote>> {
    this.assertOpen();
    const pinned = instanceId !== undefined;
    const request: RouteOptions = pinned ? { ...route, strategy: 'specific', instanceId } : route;
    const live = await this.registry.listInstances(dccType);
    const candidates = this.router.order(dccType, live, request, (e) => this.loadOf(e));
    let lastError: unknown;
    // Bounded by the candidate list: the chosen instance first, then the fallbacks.
    for (const entry of candidates) {
      const existing = this.byInstance.get(key(dccType, entry.instanceId));
      if (existing !== undefined) {
        await existing.wake();
        return existing as unknown as Session<Remote>;
      }
      try {
        return (await this.createSession(entry, pinned, route)) as unknown as Session<Remote>;
      } catch (err) {
        if (err instanceof ShutdownError) throw err;
        lastError = err;
      }
    }
    throw lastError;
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
    return [...this.sessions.values()].map((s) => s.info());
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

  // ---------------------------------------------------------------- lifecycle

  /**
   * Prunes stale and dead registry rows, applies session idle timeouts and lifetimes,
   * evicts pooled connections. Also runs every `cleanupInterval` in the background.
   */
  cleanup(): Promise<CleanupResult> {
    if (this.shuttingDown !== undefined) return Promise.reject(new ShutdownError(SHUTDOWN_MESSAGE));
    // The background timer and a caller share one pass rather than overlap.
    this.cleaning ??= this.runCleanup().finally(() => (this.cleaning = undefined));
    return this.cleaning;
  }

  private async runCleanup(): Promise<CleanupResult> {
    const now = Date.now();
    let closedSessions = 0;
    let idledSessions = 0;
    for (const session of [...this.sessions.values()]) {
      const done = session.sweep(now);
      if (done === 'closed') closedSessions++;
      else if (done === 'idled') idledSessions++;
    }
    const evictedConnections = this.pool.evict(now);
    const staleServices = await this.registry.prune();
    const live = await this.registry.listAll();
    this.knownServices = live.length;
    const reboundSessions = this.rebindRestarted(live);
    return { staleServices, closedSessions, evictedConnections, reboundSessions, idledSessions };
  }

  /**
   * A session whose instance is no longer listed, while a live row of its DCC type has
   * the endpoint it uses, reaches that row's process: the server restarted there (see
   * reconnectTarget's last-endpoint fallback). Give the session that row's id, unless
   * the caller pinned the old one or another session already owns the new one.
   */
  private rebindRestarted(live: readonly ServiceEntry[]): number {
    let rebound = 0;
    const listed = new Set(live.map((e) => key(e.dccType, e.instanceId)));
    for (const session of this.sessions.values()) {
      if (session.pinned || session.state === 'closed' || listed.has(key(session.dccType, session.instanceId))) continue;
      const here = formatEndpoint(session.endpoint);
      const row = live.find((e) => e.dccType === session.dccType && sameEndpoint(e, here));
      if (row === undefined || this.byInstance.has(key(row.dccType, row.instanceId))) continue;
      session.retarget(targetOf(row));
      rebound++;
    }
    return rebound;
  }

  /**
   * Closes every session (in-flight calls may finish), drains the pool, deregisters
   * what this manager registered and stops its timers. Later mutating calls fail with
   * ShutdownError. Idempotent.
   */
  shutdown(): Promise<void> {
    if (this.shuttingDown !== undefined) return this.shuttingDown;
    clearInterval(this.cleanupTimer);
    clearInterval(this.heartbeatTimer);
    const reason = new ShutdownError(SHUTDOWN_MESSAGE);
    this.lifetime.abort(reason);
    this.shuttingDown = (async () => {
      await Promise.allSettled([...this.sessions.values()].map((s) => s.close(reason)));
      await this.pool.close();
      const registered = [...this.registered.values()];
      this.registered.clear();
      const results = await Promise.allSettled(
        registered.map((r) => this.registry.deregister(r.dccType, r.options.instanceId!)),
      );
      for (const r of results) if (r.status === 'rejected') this.warn(`deregistering on shutdown failed: ${message(r.reason)}`);
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

  private createSession(entry: ServiceEntry, pinned: boolean, route: RouteOptions): Promise<Session> {
    const k = key(entry.dccType, entry.instanceId);
    const pending = this.creating.get(k);
    if (pending !== undefined) return pending;
    const creation = (async () => {
      const target = targetOf(entry);
      const connection = await this.openConnection(target.endpoint, this.lifetime.signal);
      if (this.shuttingDown !== undefined) {
        void connection.close();
        throw new ShutdownError(SHUTDOWN_MESSAGE);
      }
      const session = new Session({
        dccType: entry.dccType,
        target,
        pinned,
        connection,
        config: {
          idleTimeout: this.options.idleTimeout,
          maxLifetime: this.options.maxSessionLifetime,
          reconnectMaxRetries: this.options.reconnectMaxRetries,
          backoff: {
            base: this.options.reconnectBackoffBase,
            max: this.options.reconnectBackoffMax,
            jitter: this.options.reconnectJitter,
          },
        },
        hooks: {
          connect: (endpoint, signal) => this.openConnection(endpoint, signal),
          resolve: (ref) => this.reconnectTarget(ref),
        },
      });
      this.track(session, route);
      return session;
    })();
    this.creating.set(k, creation);
    const forget = (): void => void this.creating.delete(k);
    creation.then(forget, forget);
    return creation;
  }

  private track(session: Session, route: RouteOptions): void {
    this.sessions.set(session.id, session);
    this.byInstance.set(key(session.dccType, session.instanceId), session);
    if (!session.pinned) this.routes.set(session.id, { ...route });
    session.on('rebind', (previous) => {
      const old = key(session.dccType, previous);
      if (this.byInstance.get(old) === session) this.byInstance.delete(old);
      const now = key(session.dccType, session.instanceId);
      const other = this.byInstance.get(now);
      if (other !== undefined && other !== session) {
        // Another session reached that instance first: one live session per instance.
        void session.close(new ManagerError(`session ${session.id} moved to ${session.instanceId}, which already has session ${other.id}`));
        return;
      }
      this.byInstance.set(now, session);
    });
    session.once('close', () => {
      this.sessions.delete(session.id);
      this.routes.delete(session.id);
      const k = key(session.dccType, session.instanceId);
      if (this.byInstance.get(k) === session) this.byInstance.delete(k);
    });
  }

  /**
   * Where a reconnecting session goes: its own instance while the registry lists it as
   * live and routable; else, unless pinned, another live instance without a session;
   * else its last endpoint (the server may be restarting there).
   */
  private async reconnectTarget(ref: SessionRef): Promise<SessionTarget> {
    const fallback: SessionTarget = { instanceId: ref.instanceId, endpoint: ref.endpoint, ...hostPort(ref.endpoint) };
    let live: ServiceEntry[];
    try {
      live = await this.registry.listInstances(ref.dccType);
    } catch (err) {
      this.warn(`session ${ref.id}: registry unavailable while reconnecting (${message(err)}); trying its last endpoint`);
      return fallback;
    }
    const same = live.find((e) => e.instanceId === ref.instanceId);
    if (same !== undefined && isRoutable(same)) {
      try {
        return targetOf(same);
      } catch (err) {
        // A row we cannot connect to (say, a named pipe on POSIX): keep the last endpoint.
        this.warn(`session ${ref.id}: unusable registry row for ${ref.instanceId} (${message(err)})`);
        return fallback;
      }
    }
    if (ref.pinned) return fallback;
    const free = live.filter((e) => {
      const owner = this.byInstance.get(key(ref.dccType, e.instanceId));
      return owner === undefined || owner.id === ref.id;
    });
    try {
      return targetOf(this.router.pick(ref.dccType, free, this.routes.get(ref.id) ?? {}, (e) => this.loadOf(e)));
    } catch {
      return fallback;
    }
  }

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

  private openConnection(endpoint: Endpoint, signal: AbortSignal): Promise<Connection> {
    const base = this.connectionOptions ?? {};
    return connect(endpoint, {
      ...base,
      connectTimeout: this.options.connectTimeout,
      handshakeTimeout: base.handshakeTimeout ?? this.options.connectTimeout,
      heartbeatInterval: base.heartbeatInterval ?? this.options.heartbeatInterval,
      signal,
    });
  }

  /** Calls in flight to one instance, through sessions and pooled connections. */
  private loadOf(entry: ServiceEntry): number {
    const session = this.byInstance.get(key(entry.dccType, entry.instanceId));
    return (session?.load ?? 0) + this.pool.loadOf(entry.dccType, entry.instanceId);
  }

  private startHeartbeats(): void {
    if (this.heartbeatTimer !== undefined) return;
    this.heartbeatTimer = setInterval(() => void this.heartbeatRegistered(), this.options.heartbeatInterval);
    this.heartbeatTimer.unref();
  }

  /** Heartbeats what we registered; a row that vanished (pruned while we were stalled) is registered again. */
  private async heartbeatRegistered(): Promise<void> {
    for (const [k, r] of [...this.registered]) {
      const instanceId = r.options.instanceId!;
      try {
        if (await this.registry.heartbeat(r.dccType, instanceId)) continue;
        if (!this.registered.has(k) || this.shuttingDown !== undefined) continue;
        await this.registry.register(r.dccType, r.endpoint, r.options);
      } catch (err) {
        if (err instanceof ShutdownError || err instanceof ServiceAlreadyRegistered) continue;
        this.warn(`heartbeat of ${r.dccType} ${instanceId} failed: ${message(err)}`);
      }
    }
  }
}

function key(dccType: string, instanceId: string): string {
  return `${dccType}\u0000${instanceId}`;
}

const FULL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isFullId(id: string): boolean {
  return FULL_ID.test(id);
}

function targetOf(entry: ServiceEntry): SessionTarget {
  return { instanceId: entry.instanceId, endpoint: endpointOf(entry), host: entry.host, port: entry.port };
}

/** Does `entry` name the endpoint `formatted` (rows we cannot connect to never do)? */
function sameEndpoint(entry: ServiceEntry, formatted: string): boolean {
  try {
    return formatEndpoint(endpointOf(entry)) === formatted;
  } catch {
    return false;
  }
}

function hostPort(endpoint: Endpoint): { host: string; port: number } {
  const { host, port } = addressOf(endpoint);
  return { host, port };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
