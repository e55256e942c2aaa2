/** TransportManager.stats(): its sessions, its pool and the connections under both, read now. */
import type { Connection } from '../rpc/connection.js';
import { sumStats, type ConnectionTotals } from '../rpc/stats.js';
import type { PoolStats } from './pool.js';
import type { Session } from './session.js';
import { SESSION_STATES, type SessionState } from './session-state.js';

export interface TransportManagerStats {
  /** Sessions open now (closed ones are forgotten). */
  sessions: number;
  sessionsByState: Record<SessionState, number>;
  /** Calls and streams through sessions that finished, closed sessions included. */
  requests: number;
  /** Of those, the ones that failed. */
  requestErrors: number;
  /** Calls and streams through sessions in flight now. */
  requestsInFlight: number;
  /** Session calls waiting for their session to (re)connect. */
  waitingCalls: number;
  pool: PoolStats;
  /**
   * The connections of the sessions and the pool open now, their ConnectionStats summed:
   * totals since each was opened (a connection that closed no longer counts) and load now.
   */
  connections: ConnectionTotals & { open: number };
}

export function managerStats(sessions: readonly Session[], retired: { requests: number; errors: number }, pool: PoolStats, pooled: readonly Connection[]): TransportManagerStats {
  const sessionsByState = Object.fromEntries(SESSION_STATES.map((s) => [s, 0])) as Record<SessionState, number>;
  let { requests, errors: requestErrors } = retired;
  let requestsInFlight = 0;
  let waitingCalls = 0;
  const connections: Connection[] = [...pooled];
  for (const session of sessions) {
    const info = session.info();
    sessionsByState[info.state]++;
    requests += info.requestCount;
    requestErrors += info.errorCount;
    requestsInFlight += info.inFlight;
    waitingCalls += session.waitingCalls;
    const connection = session.connection;
    if (connection !== undefined) connections.push(connection as Connection);
  }
  const totals = sumStats(connections.map((c) => c.stats()));
  return { sessions: sessions.length, sessionsByState, requests, requestErrors, requestsInFlight, waitingCalls, pool, connections: { open: connections.length, ...totals } };
}
