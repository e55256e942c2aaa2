/**
 * Slows down handshakes that fail the token or `authenticate` check, per peer: each
 * failure holds the REJECT back for a delay that doubles (baseDelay, 2×, 4×… up to
 * maxDelay), so guessing a token costs seconds per guess instead of microseconds. A
 * network peer (keyed by IP address) that fails `maxFailures` times in a row is refused
 * at connect for `banTime`. Local peers (Unix sockets, pipes) share one key and are only
 * slowed, never banned: one local user must not be able to lock out all the others.
 * A success clears the peer's record; records of peers quiet for banTime are forgotten.
 */
export interface AuthThrottleOptions {
  /** Delay after the first failure, in ms; doubles with each further one. Default 100. */
  baseDelay?: number;
  /** Longest delay, in ms. Default 3000 (under the default handshake timeout). */
  maxDelay?: number;
  /** Failures in a row after which a network peer is refused at connect. Default 20. */
  maxFailures?: number;
  /** How long such a peer stays refused, and how long a record is kept, in ms. Default 60 000. */
  banTime?: number;
}

/** The key all local (Unix socket, named pipe) peers share. */
export const LOCAL_PEER = 'local';

/** Peers remembered at most; the least recently seen is forgotten first. */
const MAX_PEERS = 10_000;

interface PeerRecord {
  failures: number;
  lastFailure: number;
  bannedUntil: number;
}

export class AuthThrottle {
  private readonly baseDelay: number;
  private readonly maxDelay: number;
  private readonly maxFailures: number;
  private readonly banTime: number;
  private readonly peers = new Map<string, PeerRecord>();

  constructor(options: AuthThrottleOptions = {}) {
    this.baseDelay = options.baseDelay ?? 100;
    this.maxDelay = options.maxDelay ?? 3000;
    this.maxFailures = options.maxFailures ?? 20;
    this.banTime = options.banTime ?? 60_000;
  }

  /** Ms left of `peer`'s ban, or 0 when it may try. */
  bannedFor(peer: string, now = Date.now()): number {
    const record = this.peers.get(peer);
    return record === undefined ? 0 : Math.max(0, record.bannedUntil - now);
  }

  /** A failed handshake from `peer`: how many ms to hold its REJECT. */
  failed(peer: string, now = Date.now()): number {
    let record = this.peers.get(peer);
    if (record !== undefined && now - record.lastFailure > this.banTime) record = undefined;
    record ??= { failures: 0, lastFailure: now, bannedUntil: 0 };
    record.failures++;
    record.lastFailure = now;
    if (peer !== LOCAL_PEER && record.failures >= this.maxFailures) {
      record.bannedUntil = now + this.banTime;
      record.failures = 0;
    }
    // Re-insert: Map order is then least recently seen first.
    this.peers.delete(peer);
    this.peers.set(peer, record);
    if (this.peers.size > MAX_PEERS) this.peers.delete(this.peers.keys().next().value!);
    return Math.min(this.maxDelay, this.baseDelay * 2 ** Math.min(30, Math.max(0, record.failures - 1)));
  }

  /** A handshake from `peer` passed: its record goes. */
  passed(peer: string): void {
    const record = this.peers.get(peer);
    if (record !== undefined && record.bannedUntil === 0) this.peers.delete(peer);
    else if (record !== undefined) record.failures = 0;
  }
}
