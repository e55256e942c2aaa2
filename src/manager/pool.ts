/**
 * A pool of connections per DCC type, handed out as leases.
 *
 * At most `maxConnectionsPerDcc` connections exist per DCC type: leased, idle in the
 * pool, and being opened all count. When none can be had, `acquire` waits (callers are
 * served first come, first served) for up to `acquireTimeout`, then fails with
 * AcquireTimeout; with a timeout of 0 it fails at once with PoolExhausted.
 *
 * Idle connections are closed after `maxIdleTime`; every connection is retired after
 * `maxLifetime` (closed at once when idle, on release when leased). A connection that
 * broke is dropped instead of going back to the pool.
 */
import { AcquireTimeout, PoolExhausted, ShutdownError } from '../errors.js';
import type { Connection } from '../rpc/connection.js';
import type { Contract } from '../rpc/contract.js';

export interface PoolConfig {
  maxConnectionsPerDcc: number;
  /** ms an idle connection may stay in the pool. */
  maxIdleTime: number;
  /** ms a connection may live, idle or not. */
  maxLifetime: number;
  /** ms `acquire` waits for a connection when all are leased. */
  acquireTimeout: number;
}

/** A connection the opener made, and the instance it reaches. */
export interface OpenedConnection {
  connection: Connection;
  instanceId: string;
  /** Formatted endpoint of the instance. */
  endpoint: string;
}

/** The pool's part of TransportManager.stats(). */
export interface PoolStats {
  /** Pooled connections, leased or idle. */
  connections: number;
  leased: number;
  idle: number;
  /** Connections being opened. */
  opening: number;
  /** acquire() calls waiting for a connection. */
  waiters: number;
}

/** Makes a new connection for `dccType` (to `instanceId` when given). */
export type Opener = (dccType: string, instanceId: string | undefined) => Promise<OpenedConnection>;

export interface PoolAcquireOptions {
  /** Only a connection to this instance (a full instance id). */
  instanceId?: string;
  /** ms to wait when the pool is full; default the pool's acquireTimeout. 0: fail at once with PoolExhausted. */
  timeout?: number;
  /** Abort the wait; rejects with the signal's reason. */
  signal?: AbortSignal;
}

class Pooled {
  leased = true;
  /** Past maxLifetime while leased: close on release. */
  retired = false;
  readonly createdAt = Date.now();
  releasedAt = Date.now();

  constructor(
    readonly dccType: string,
    readonly instanceId: string,
    readonly endpoint: string,
    readonly connection: Connection,
  ) {}

  get healthy(): boolean {
    return this.connection.state === 'connected';
  }
}

/** One leased connection. Call `release()` when done (idempotent); the connection goes back to the pool. */
export class Lease<Remote = Contract> {
  private _released = false;

  constructor(
    private readonly item: Pooled,
    /** Hands the connection back to the pool that leased it. */
    private readonly giveBack: (item: Pooled) => void,
  ) {}

  get connection(): Connection<Remote> {
    return this.item.connection as Connection<Remote>;
  }

  get dccType(): string {
    return this.item.dccType;
  }

  get instanceId(): string {
    return this.item.instanceId;
  }

  get endpoint(): string {
    return this.item.endpoint;
  }

  get released(): boolean {
    return this._released;
  }

  release(): void {
    if (this._released) return;
    this._released = true;
    this.giveBack(this.item);
  }
}

interface Waiter {
  instanceId: string | undefined;
  resolve: (lease: Lease) => void;
  reject: (error: unknown) => void;
  cancel: () => void;
}

interface Bucket {
  readonly dccType: string;
  readonly items: Set<Pooled>;
  /** Connections being opened: they count against the limit. */
  opening: number;
  /** FIFO. */
  readonly waiters: Waiter[];
}

export class ConnectionPool {
  private readonly buckets = new Map<string, Bucket>();
  private closed = false;

  constructor(
    private readonly config: PoolConfig,
    private readonly open: Opener,
  ) {}

  /** A leased connection for `dccType`: an idle one if there is one, else a new one if the limit allows, else wait. */
  acquire(dccType: string, options: PoolAcquireOptions = {}): Promise<Lease> {
    if (this.closed) return Promise.reject(new ShutdownError('the connection pool is closed'));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const bucket = this.bucket(dccType);
    // Nobody jumps the queue: with waiters present, a new caller waits behind them.
    if (bucket.waiters.length === 0) {
      const granted = this.grant(bucket, options.instanceId);
      if (granted !== undefined) return granted;
    }
    const timeout = options.timeout ?? this.config.acquireTimeout;
    if (!(timeout > 0)) {
      return Promise.reject(
        new PoolExhausted(`all ${this.config.maxConnectionsPerDcc} connections to ${dccType} are in use`),
      );
    }
    return new Promise<Lease>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiter.cancel();
        reject(
          new AcquireTimeout(
            `no connection to ${dccType} became free within ${timeout} ms (limit ${this.config.maxConnectionsPerDcc}, all in use)`,
          ),
        );
      }, timeout);
      const onAbort = (): void => {
        waiter.cancel();
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        instanceId: options.instanceId,
        resolve,
        reject,
        cancel: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const i = bucket.waiters.indexOf(waiter);
          if (i >= 0) bucket.waiters.splice(i, 1);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      bucket.waiters.push(waiter);
    });
  }

  /** Connections in the pool, leased or idle, across all DCC types. */
  size(): number {
    let n = 0;
    for (const bucket of this.buckets.values()) n += bucket.items.size;
    return n;
  }

  stats(): PoolStats {
    const out: PoolStats = { connections: 0, leased: 0, idle: 0, opening: 0, waiters: 0 };
    for (const bucket of this.buckets.values()) {
      out.connections += bucket.items.size;
      for (const item of bucket.items) out[item.leased ? 'leased' : 'idle']++;
      out.opening += bucket.opening;
      out.waiters += bucket.waiters.length;
    }
    return out;
  }

  /** Every pooled connection, leased or idle. */
  liveConnections(): Connection[] {
    const out: Connection[] = [];
    for (const bucket of this.buckets.values()) for (const item of bucket.items) out.push(item.connection);
    return out;
  }

  /** Connections to `dccType`, leased or idle, plus those being opened. */
  sizeOf(dccType: string): number {
    const bucket = this.buckets.get(dccType);
    return bucket === undefined ? 0 : bucket.items.size + bucket.opening;
  }

  /** Calls in flight on pooled connections to one instance (for least-busy routing). */
  loadOf(dccType: string, instanceId: string): number {
    let n = 0;
    for (const item of this.buckets.get(dccType)?.items ?? []) {
      if (item.instanceId === instanceId) n += item.connection.pendingCalls;
    }
    return n;
  }

  /** Closes idle connections past maxIdleTime and connections past maxLifetime; returns how many it closed. */
  evict(now = Date.now()): number {
    let evicted = 0;
    for (const bucket of this.buckets.values()) {
      for (const item of [...bucket.items]) {
        const expired = now - item.createdAt >= this.config.maxLifetime;
        if (item.leased) {
          if (expired) item.retired = true;
        } else if (expired || !item.healthy || now - item.releasedAt >= this.config.maxIdleTime) {
          this.discard(bucket, item);
          evicted++;
        }
      }
      this.dispatch(bucket);
    }
    return evicted;
  }

  /** Fails every waiter with ShutdownError and closes every connection (leased ones drain their calls). */
  async close(): Promise<void> {
    this.closed = true;
    const closing: Promise<void>[] = [];
    for (const bucket of this.buckets.values()) {
      for (const waiter of bucket.waiters.splice(0)) {
        waiter.cancel();
        waiter.reject(new ShutdownError('the connection pool was closed'));
      }
      for (const item of bucket.items) closing.push(item.connection.close());
      bucket.items.clear();
    }
    this.buckets.clear();
    await Promise.all(closing);
  }

  // ---------------------------------------------------------------- internals

  private bucket(dccType: string): Bucket {
    let bucket = this.buckets.get(dccType);
    if (bucket === undefined) {
      bucket = { dccType, items: new Set(), opening: 0, waiters: [] };
      this.buckets.set(dccType, bucket);
    }
    return bucket;
  }

  /** A lease for `instanceId` (or any instance) if one can be had right now, else undefined. */
  private grant(bucket: Bucket, instanceId: string | undefined): Promise<Lease> | undefined {
    let idle: Pooled | undefined;
    let victim: Pooled | undefined;
    for (const item of bucket.items) {
      if (item.leased || !item.healthy) continue;
      if (instanceId === undefined || item.instanceId === instanceId) {
        // The most recently released: its socket is the warmest.
        if (idle === undefined || item.releasedAt >= idle.releasedAt) idle = item;
      } else if (victim === undefined || item.releasedAt < victim.releasedAt) {
        victim = item;
      }
    }
    if (idle !== undefined) {
      idle.leased = true;
      return Promise.resolve(this.lease(idle));
    }
    if (bucket.items.size + bucket.opening >= this.config.maxConnectionsPerDcc) {
      // Full, but an idle connection to another instance can make room.
      if (victim === undefined) return undefined;
      this.discard(bucket, victim);
    }
    return this.openFor(bucket, instanceId);
  }

  private async openFor(bucket: Bucket, instanceId: string | undefined): Promise<Lease> {
    bucket.opening++;
    let opened: OpenedConnection;
    try {
      opened = await this.open(bucket.dccType, instanceId);
    } catch (err) {
      bucket.opening--;
      this.dispatch(bucket); // the slot it held is free again
      throw err;
    }
    bucket.opening--;
    if (this.closed) {
      void opened.connection.close();
      throw new ShutdownError('the connection pool was closed');
    }
    const item = new Pooled(bucket.dccType, opened.instanceId, opened.endpoint, opened.connection);
    bucket.items.add(item);
    opened.connection.once('close', () => {
      // An idle connection that broke leaves the pool now; a leased one on release.
      if (!item.leased && bucket.items.delete(item)) this.dispatch(bucket);
    });
    return this.lease(item);
  }

  private lease(item: Pooled): Lease {
    return new Lease(item, (leased) => this.release(leased));
  }

  private release(item: Pooled): void {
    const bucket = this.buckets.get(item.dccType);
    item.leased = false;
    item.releasedAt = Date.now();
    if (bucket === undefined || !bucket.items.has(item)) {
      // The pool was closed meanwhile: the connection is already closing.
      return;
    }
    if (!item.healthy || item.retired) this.discard(bucket, item);
    this.dispatch(bucket);
  }

  private discard(bucket: Bucket, item: Pooled): void {
    bucket.items.delete(item);
    void item.connection.close();
  }

  /** Serves waiters in order while connections can be had. */
  private dispatch(bucket: Bucket): void {
    while (bucket.waiters.length > 0 && !this.closed) {
      const waiter = bucket.waiters[0]!;
      const granted = this.grant(bucket, waiter.instanceId);
      if (granted === undefined) return;
      waiter.cancel();
      granted.then(waiter.resolve, waiter.reject);
    }
  }
}
