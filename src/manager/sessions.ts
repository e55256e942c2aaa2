/**
 * The manager's session table: at most one live session per (DCC type, instance), the
 * creations in progress (two callers for one instance share one), how each unpinned
 * session was routed, and where a session goes when it reconnects or when its instance
 * restarted under a new id.
 */
import { ManagerError, ShutdownError } from '../errors.js';
import type { Connection } from '../rpc/connection.js';
import type { Contract } from '../rpc/contract.js';
import { errorMessage } from '../util/error-message.js';
import { formatEndpoint, type Endpoint } from '../transport/endpoint.js';
import { addressOf, endpointOf } from './registry/address.js';
import type { ServiceEntry, ServiceRegistry } from './registry/types.js';
import { isRoutable, type RouteOptions, type Router } from './routing.js';
import { Session, type SessionConfig } from './session.js';
import type { SessionRef, SessionTarget } from './session-reconnect.js';

export interface SessionTableParts {
  registry: ServiceRegistry;
  router: Router;
  config: SessionConfig;
  /** Opens a connection (handshake done); aborts with `signal`. */
  connect(endpoint: Endpoint, signal: AbortSignal): Promise<Connection>;
  /** Calls in flight to an instance, through sessions and anything else (for least_busy). */
  load(entry: ServiceEntry): number;
  /** Aborted on shutdown: connection attempts in progress give up. */
  lifetime: AbortSignal;
  warn(message: string): void;
}

export class SessionTable {
  private readonly sessions = new Map<string, Session>();
  /** The live session of each (dccType, instanceId). */
  private readonly byInstance = new Map<string, Session>();
  /** Sessions being created, so two callers for one instance share one session. */
  private readonly creating = new Map<string, Promise<Session>>();
  /** How each unpinned session was routed, so a reconnect elsewhere follows the same rule. */
  private readonly routes = new Map<string, RouteOptions>();
  /** Requests and errors of the sessions already closed (stats()). */
  readonly retired = { requests: 0, errors: 0 };

  constructor(private readonly parts: SessionTableParts) {}

  /**
   * The session to an instance of `dccType`, created (and connected) if there is none;
   * an idle one is woken up. `instanceId` (a full id or a unique prefix) pins it.
   */
  async getOrCreate<Remote = Contract>(dccType: string, instanceId: string | undefined, route: RouteOptions): Promise<Session<Remote>> {
    const pinned = instanceId !== undefined;
    const request: RouteOptions = pinned ? { ...route, strategy: 'specific', instanceId } : route;
    const live = await this.parts.registry.listInstances(dccType);
    const candidates = this.parts.router.order(dccType, live, request, this.parts.load);
    let lastError: unknown;
    // Bounded by the candidate list: the chosen instance first, then the fallbacks.
    for (const entry of candidates) {
      const existing = this.byInstance.get(key(dccType, entry.instanceId));
      if (existing !== undefined) {
        await existing.wake();
        return existing as unknown as Session<Remote>;
      }
      try {
        return (await this.create(entry, pinned, route)) as unknown as Session<Remote>;
      } catch (err) {
        if (err instanceof ShutdownError) throw err;
        lastError = err;
      }
    }
    throw lastError;
  }

  get(sessionId: string): Session | undefined {
    return this.sessions.get(sessionId);
  }

  list(): Session[] {
    return [...this.sessions.values()];
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Calls in flight through the session to one instance. */
  loadOf(dccType: string, instanceId: string): number {
    return this.byInstance.get(key(dccType, instanceId))?.load ?? 0;
  }

  /** Applies idle timeouts and lifetimes at time `now`; counts what it did. */
  sweep(now: number): { closed: number; idled: number } {
    const done = { closed: 0, idled: 0 };
    for (const session of this.list()) {
      const what = session.sweep(now);
      if (what !== undefined) done[what]++;
    }
    return done;
  }

  /**
   * A session whose instance is no longer listed, while a live row of its DCC type has
   * the endpoint it uses, reaches that row's process: the server restarted there (see
   * reconnectTarget's last-endpoint fallback). Give the session that row's id, unless
   * the caller pinned the old one or another session already owns the new one.
   */
  rebindRestarted(live: readonly ServiceEntry[]): number {
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

  /** Closes every session with `reason` (in-flight calls may finish). */
  async closeAll(reason: Error): Promise<void> {
    await Promise.allSettled(this.list().map((s) => s.close(reason)));
  }

  // ---------------------------------------------------------------- internals

  private create(entry: ServiceEntry, pinned: boolean, route: RouteOptions): Promise<Session> {
    const k = key(entry.dccType, entry.instanceId);
    const pending = this.creating.get(k);
    if (pending !== undefined) return pending;
    const creation = (async () => {
      const target = targetOf(entry);
      const { lifetime } = this.parts;
      const connection = await this.parts.connect(target.endpoint, lifetime);
      if (lifetime.aborted) {
        void connection.close();
        throw lifetime.reason;
      }
      const session = new Session({
        dccType: entry.dccType,
        target,
        pinned,
        connection,
        config: this.parts.config,
        hooks: {
          connect: (endpoint, signal) => this.parts.connect(endpoint, signal),
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
      const { requestCount, errorCount } = session.info();
      this.retired.requests += requestCount;
      this.retired.errors += errorCount;
      this.sessions.delete(session.id);
      this.routes.delete(session.id);
      const k = key(session.dccType, session.instanceId);
      if (this.byInstance.get(k) === session) this.byInstance.delete(k);
    });
  }

  /**
   * Where a reconnecting session goes: its own instance while the registry lists it as
   * live and routable; else, unless pinned, another live instance without a session;
   * else its last endpoint (the server may be restarting there). Never throws.
   */
  private async reconnectTarget(ref: SessionRef): Promise<SessionTarget> {
    const fallback: SessionTarget = { instanceId: ref.instanceId, endpoint: ref.endpoint, ...hostPort(ref.endpoint) };
    let live: ServiceEntry[];
    try {
      live = await this.parts.registry.listInstances(ref.dccType);
    } catch (err) {
      this.parts.warn(`session ${ref.id}: registry unavailable while reconnecting (${errorMessage(err)}); trying its last endpoint`);
      return fallback;
    }
    const same = live.find((e) => e.instanceId === ref.instanceId);
    if (same !== undefined && isRoutable(same)) {
      try {
        return targetOf(same);
      } catch (err) {
        // A row we cannot connect to (say, a named pipe on POSIX): keep the last endpoint.
        this.parts.warn(`session ${ref.id}: unusable registry row for ${ref.instanceId} (${errorMessage(err)})`);
        return fallback;
      }
    }
    if (ref.pinned) return fallback;
    const free = live.filter((e) => {
      const owner = this.byInstance.get(key(ref.dccType, e.instanceId));
      return owner === undefined || owner.id === ref.id;
    });
    try {
      return targetOf(this.parts.router.pick(ref.dccType, free, this.routes.get(ref.id) ?? {}, this.parts.load));
    } catch {
      return fallback;
    }
  }
}

function key(dccType: string, instanceId: string): string {
  return `${dccType}\u0000${instanceId}`;
}

/** Throws for a row we cannot connect to (say, a named pipe on POSIX). */
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
