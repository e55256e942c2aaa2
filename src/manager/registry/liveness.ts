/**
 * Is a row still worth routing to? Dead: its owner is gone — for rows on this machine
 * that name a sentinel (sentinel.ts), the sentinel says so first: free (we could lock
 * it) → dead, held → the owner lives, whatever its pid says (a pid may have been
 * reused); a missing sentinel, or one we cannot judge, falls back to the pid. Stale: no
 * heartbeat for `staleAfterMs`, whatever the sentinel says (a live owner that stopped
 * heartbeating is hung or stopped: not worth routing to; dcc-mcp-core's Rust registry
 * also removes rows by heartbeat age). Sentinels and pids are judged only for rows on
 * this machine, since they mean nothing on another host.
 */
import { errorCode } from '../../util/error-code.js';
import { locality } from './address.js';
import type { SentinelState } from './sentinel.js';
import type { ServiceEntry } from './types.js';

export type Liveness = 'live' | 'stale' | 'dead';

/** Probes a sentinel file (sentinel.ts probeSentinel with the native lock bound). */
export type SentinelProbe = (file: string) => SentinelState;

export function livenessOf(entry: ServiceEntry, now: number, staleAfterMs: number, probe?: SentinelProbe): Liveness {
  const local = locality(entry) < 2;
  const sentinel = probe !== undefined && entry.sentinelPath !== undefined && local ? probe(entry.sentinelPath) : 'unknown';
  if (sentinel === 'free') return 'dead';
  if (now - entry.lastHeartbeat > staleAfterMs) return 'stale';
  if (sentinel === 'held') return 'live';
  if (entry.pid !== undefined && local && !isPidAlive(entry.pid)) return 'dead';
  return 'live';
}

/** Signal 0 probes without signalling: ESRCH = no such process; EPERM = exists, not ours. */
export function isPidAlive(pid: number): boolean {
  // 0 and negative pids address process groups: never probe them.
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) !== 'ESRCH';
  }
}
