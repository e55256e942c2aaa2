/**
 * The manager's housekeeping pass: prune stale and dead registry rows, apply session
 * idle timeouts and lifetimes, evict pooled connections, give sessions on a restarted
 * instance its new id (the only reason it lists the registry, so only with sessions). Run on demand and every `cleanupInterval` on an unref'd timer;
 * a caller and the timer share one pass rather than overlap.
 */
import { errorMessage } from '../util/error-message.js';
import type { ConnectionPool } from './pool.js';
import type { ServiceEntry, ServiceRegistry } from './registry/types.js';
import type { SessionTable } from './sessions.js';

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

export interface CleanupParts {
  registry: ServiceRegistry;
  sessions: SessionTable;
  pool: ConnectionPool;
  /** Told the live rows when a pass reads them (passes with sessions). */
  onListed(live: readonly ServiceEntry[]): void;
  warn(message: string): void;
}

export class Cleanup {
  private readonly timer: NodeJS.Timeout | undefined;
  private running: Promise<CleanupResult> | undefined;

  /** `interval` 0: no timer, passes run only when asked. */
  constructor(
    private readonly parts: CleanupParts,
    interval: number,
  ) {
    if (interval > 0) {
      this.timer = setInterval(() => {
        this.run().catch((err: unknown) => parts.warn(`background cleanup failed: ${errorMessage(err)}`));
      }, interval);
      this.timer.unref();
    }
  }

  /** One pass; joins the pass in progress if there is one. */
  run(): Promise<CleanupResult> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async pass(): Promise<CleanupResult> {
    const now = Date.now();
    const { registry, sessions, pool } = this.parts;
    const swept = sessions.sweep(now);
    const evictedConnections = pool.evict(now);
    const staleServices = await registry.prune();
    // Listing is O(rows) (a Redis list holds the server for all of it): only when a
    // session may have to follow a restarted instance.
    let reboundSessions = 0;
    if (sessions.size > 0) {
      const live = await registry.listAll();
      this.parts.onListed(live);
      reboundSessions = sessions.rebindRestarted(live);
    }
    return { staleServices, closedSessions: swept.closed, evictedConnections, reboundSessions, idledSessions: swept.idled };
  }
}
