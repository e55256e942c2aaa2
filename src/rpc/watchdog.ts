/**
 * The timers that watch the peer, apart from the protocol: heartbeats (a peer silent
 * for 3 × max(ours, its) interval since its last byte is dead), round-trip pings, a
 * frame that started arriving and never finishes (frameTimeout), and our replies left
 * unread over the high-water mark (slowPeerTimeout). None runs per call.
 */
import { ConnectionLost, DeadlineExceeded, LimitExceeded, type TransportError } from '../errors.js';
import { MAX_UINT32 } from '../wire/native.js';
import type { Frames } from './frames.js';

/** The limits the watchdog enforces (the connection's options). */
export interface WatchdogLimits {
  readonly heartbeatInterval: number;
  readonly frameTimeout: number;
  readonly slowPeerTimeout: number;
}

/** What the watchdog needs from its connection. */
export interface WatchdogLink {
  /** The peer's announced interval (0 before the handshake). */
  readonly peerHeartbeatMs: number;
  /** We stopped reading: silence and unfinished frames are then ours, not the peer's. */
  readonly readingPaused: boolean;
  /** Bytes of the frame now arriving, 0 between frames. */
  readonly partialFrameBytes: number;
  /** Unsent bytes. */
  readonly unsentBytes: number;
  /** Grows each time the peer read some of what we sent (Outbox.drains). */
  readonly drains: number;
  /** The connection is ending: timers that fire now do nothing. */
  readonly ending: boolean;
  readonly frames: Frames;
  write(frame: Buffer): void;
  /** Cut the peer with `error`, telling it why if `tellPeer`. */
  cut(error: TransportError, tellPeer: boolean): void;
}

interface PingWaiter {
  start: number;
  resolve: (ms: number) => void;
  reject: (e: unknown) => void;
}

export class Watchdog {
  /** When bytes last arrived from the peer. */
  private lastHeard = Date.now();
  /** When the frame now partly received began to arrive. */
  private partialSince = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private frameTimer: NodeJS.Timeout | undefined;
  private slowPeerTimer: NodeJS.Timeout | undefined;
  /** `drains` when the slow-peer timer was (re)armed. */
  private drainsAtArm = 0;
  private pingNonce = 0;
  private readonly pings = new Map<number, PingWaiter>();

  constructor(
    private readonly link: WatchdogLink,
    private readonly limits: WatchdogLimits,
  ) {}

  /** Bytes arrived (one clock read per chunk, not per frame). */
  heard(now: number): void {
    this.lastHeard = now;
  }

  /** A frame began to arrive and did not complete in its chunk. */
  frameStarted(now: number, armTimer: boolean): void {
    this.partialSince = now;
    if (this.frameTimer === undefined && armTimer) this.armFrameTimer(this.limits.frameTimeout);
  }

  /** Start the heartbeat (once the handshake is done). */
  start(): void {
    const interval = this.limits.heartbeatInterval;
    if (interval <= 0) return;
    this.lastHeard = Date.now();
    this.scheduleHeartbeat(interval);
  }

  /** Our writes went over the high-water mark (true) or back under it. */
  pressure(high: boolean): void {
    if (high) {
      this.armSlowPeerTimer();
    } else {
      clearTimeout(this.slowPeerTimer);
      this.slowPeerTimer = undefined;
    }
  }

  /** Round-trip time in ms, measured with a PING/PONG pair. */
  ping(options: { timeout?: number; signal?: AbortSignal }): Promise<number> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const nonce = (this.pingNonce = this.pingNonce >= MAX_UINT32 ? 1 : this.pingNonce + 1);
    return new Promise<number>((resolve, reject) => {
      const timeout = options.timeout ?? 10_000;
      const settle = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.pings.delete(nonce);
      };
      const onAbort = (): void => {
        settle();
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        settle();
        reject(new DeadlineExceeded(`no pong within ${timeout} ms`));
      }, timeout);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pings.set(nonce, {
        start: performance.now(),
        resolve: (ms) => {
          settle();
          resolve(ms);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      });
      this.link.write(this.link.frames.ping(nonce));
    });
  }

  /** A PONG arrived. */
  onPong(nonce: number): void {
    const waiter = this.pings.get(nonce);
    // Whole microseconds: what a clock read costs is noise below that.
    if (waiter !== undefined) waiter.resolve(Math.round((performance.now() - waiter.start) * 1000) / 1000);
  }

  /** The connection is over: every timer stops, pending pings fail with `error`. */
  stop(error: unknown): void {
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.frameTimer);
    clearTimeout(this.slowPeerTimer);
    for (const waiter of [...this.pings.values()]) waiter.reject(error);
    this.pings.clear();
  }

  private scheduleHeartbeat(delay: number): void {
    this.heartbeatTimer = setTimeout(this.onHeartbeat, delay);
    this.heartbeatTimer.unref();
  }

  /**
   * Ping every interval; the peer is dead after exactly 3 × max(ours, its) ms without a
   * byte from it. The tick that would pass that moment is brought forward to it, so
   * detection does not wait for the next whole interval.
   */
  private readonly onHeartbeat = (): void => {
    const link = this.link;
    const now = Date.now();
    if (link.readingPaused) this.lastHeard = now;
    const interval = this.limits.heartbeatInterval;
    // A peer may announce a longer interval (a DCC app that blocks its event loop
    // for seconds, say); the longer of the two wins.
    const allowed = 3 * Math.max(interval, link.peerHeartbeatMs);
    const silent = now - this.lastHeard;
    if (silent >= allowed) {
      link.cut(new ConnectionLost(`peer silent for ${silent} ms (3 heartbeat intervals of ${allowed / 3} ms)`), false);
      return;
    }
    link.write(link.frames.heartbeat());
    this.scheduleHeartbeat(Math.min(interval, allowed - silent));
  };

  private armFrameTimer(delay: number): void {
    this.frameTimer = setTimeout(this.onFrameTimer, delay);
    this.frameTimer.unref();
  }

  private readonly onFrameTimer = (): void => {
    this.frameTimer = undefined;
    const link = this.link;
    if (link.partialFrameBytes === 0 || link.ending) return;
    const now = Date.now();
    // While we are not reading, the frame cannot complete; that is ours to wait for.
    if (link.readingPaused) this.partialSince = now;
    const left = this.partialSince + this.limits.frameTimeout - now;
    if (left > 0) {
      this.armFrameTimer(left);
      return;
    }
    link.cut(
      new LimitExceeded(`a frame was not completed within ${this.limits.frameTimeout} ms (frameTimeout; ${link.partialFrameBytes} bytes of it arrived)`),
      true,
    );
  };

  private armSlowPeerTimer(): void {
    this.drainsAtArm = this.link.drains;
    this.slowPeerTimer = setTimeout(this.onSlowPeer, this.limits.slowPeerTimeout);
    this.slowPeerTimer.unref();
  }

  /** Over the mark for slowPeerTimeout: cut the peer, unless it read something meanwhile (a slow link). */
  private readonly onSlowPeer = (): void => {
    if (this.link.ending) return;
    if (this.link.drains !== this.drainsAtArm) return this.armSlowPeerTimer();
    const { slowPeerTimeout } = this.limits;
    this.link.cut(
      new LimitExceeded(
        `peer read none of the ${this.link.unsentBytes} bytes waiting for it for ${slowPeerTimeout} ms (over the high-water mark and no progress for slowPeerTimeout)`,
      ),
      true,
    );
  };
}
