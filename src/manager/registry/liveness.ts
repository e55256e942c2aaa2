/**
 * Is a row still worth routing to? Stale: no heartbeat for `staleAfterMs`. Dead: its
 * pid is gone — judged only for rows on this machine, since a pid means nothing on
 * another host.
 */
import { errorCode } from '../../util/error-code.js';
import { locality } from './address.js';
import type { ServiceEntry } from './types.js';

export type Liveness = 'live' | 'stale' | 'dead';

export function livenessOf(entry: ServiceEntry, now: number, staleAfterMs: number): Liveness {
  if (now - entry.lastHeartbeat > staleAfterMs) return 'stale';
  if (entry.pid !== undefined && locality(entry) < 2 && !isPidAlive(entry.pid)) return 'dead';
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
