/**
 * The Redis service registry: the same ServiceRegistry as services.json, for services
 * on many hosts. Designed as etcd does it, in Redis terms (key layout and scripts in
 * scripts.ts):
 *
 * - each instance holds a lease: a hash with a TTL (PEXPIREAT at the server's now + ttl)
 *   and its score in its DCC type's sorted set; a heartbeat renews both, and a heartbeat
 *   that finds the lease gone answers false, so the owner registers again
 *   (registration.ts does);
 * - readers only see rows whose lease deadline is after the server's now, so an expired
 *   instance vanishes without any cleaner; the hash expires by itself, and the index
 *   entry is pruned (with an `expire` event) by the next register of that type, prune()
 *   or a watch;
 * - every change bumps a revision counter and appends to an event stream, atomically in
 *   one Lua script, and `watch()` (redis-watch.ts) follows that stream.
 *
 *   const registry = new RedisRegistry({ url: 'redis://redis.studio:6379/0' });
 *   new TransportManager({ registry });           // or registry: 'redis://…'
 */
import { InvalidOption, ServiceAlreadyRegistered, ShutdownError } from '../../errors.js';
import type { Endpoint } from '../../transport/endpoint.js';
import { newEntry } from '../registry/new-entry.js';
import {
  SERVICE_STATUSES,
  type RegisterOptions,
  type RegistryEvent,
  type ServiceEntry,
  type ServiceRegistry,
  type ServiceStatus,
  type WatchOptions,
} from '../registry/types.js';
import type { Liveness } from '../registry/liveness.js';
import { Commander, connectUrl, redactUrl, type RedisClientLike, type RedisReply } from './client.js';
import { DEFAULT_PREFIX, SCRIPTS, instanceKey, revKey } from './scripts.js';
import { entryOf, storedRow, type RedisSnapshot } from './rows.js';
import { watchRedis } from './redis-watch.js';

export interface RedisRegistryOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS); the registry makes, owns and closes the client. */
  url?: string;
  /** A node-redis client, Cluster or Sentinel (connected or not); the caller closes it. */
  client?: RedisClientLike;
  /** Key prefix, a hash tag so every key is in one Cluster slot. Default `{wirecall}`. */
  prefix?: string;
  /** Lease TTL (ms): an instance not heartbeated this long vanishes. Default 15 000 (3 heartbeats of 5 s). */
  ttlMs?: number;
  /** The event stream is trimmed to about this many entries (MAXLEN ~). Default 10 000. */
  streamMaxLen?: number;
  /** A watch blocks on the stream this long (ms) before pruning expired leases itself. Default 1000. */
  watchIntervalMs?: number;
  /** Where warnings go (connection errors, unreadable rows). Default process.emitWarning. */
  onWarning?: (message: string) => void;
}

export const DEFAULT_TTL_MS = 15_000;
export const DEFAULT_STREAM_MAXLEN = 10_000;
export const DEFAULT_WATCH_INTERVAL_MS = 1000;
/** Expired instances removed per DCC type by one prune script (it runs again next time). */
const PRUNE_LIMIT = 1000;

export type { RedisSnapshot };

export class RedisRegistry implements ServiceRegistry {
  readonly prefix: string;
  readonly ttlMs: number;
  readonly streamMaxLen: number;
  readonly watchIntervalMs: number;
  /** Where it points, for messages (the URL without a password, or 'a Redis client'). */
  readonly where: string;
  private readonly url: string | undefined;
  private readonly given: RedisClientLike | undefined;
  private commander: Promise<Commander> | undefined;
  private readonly warn: (message: string) => void;
  private readonly warned = new Set<string>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly watches = new Set<AbortController>();
  private closed = false;

  constructor(options: RedisRegistryOptions) {
    if ((options.url === undefined) === (options.client === undefined)) throw new InvalidOption('RedisRegistry needs one of url or client');
    this.url = options.url;
    this.given = options.client;
    this.where = options.url === undefined ? 'a Redis client' : redactUrl(options.url);
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    if (!/\{[^}]+\}/.test(this.prefix)) throw new InvalidOption(`prefix must hold a hash tag like {wirecall}, got ${JSON.stringify(this.prefix)}`);
    this.ttlMs = positive('ttlMs', options.ttlMs ?? DEFAULT_TTL_MS);
    this.streamMaxLen = positive('streamMaxLen', options.streamMaxLen ?? DEFAULT_STREAM_MAXLEN);
    this.watchIntervalMs = positive('watchIntervalMs', options.watchIntervalMs ?? DEFAULT_WATCH_INTERVAL_MS);
    this.warn = options.onWarning ?? ((message) => process.emitWarning(message, { type: 'RegistryWarning' }));
  }

  register(dccType: string, endpoint: Endpoint, options: RegisterOptions = {}): Promise<ServiceEntry> {
    return this.op(async (redis) => {
      const entry = newEntry(dccType, endpoint, options);
      const row = storedRow(rowWithoutTimes(entry));
      const reply = await this.script(redis, 'register', [entry.dccType, entry.instanceId, row, entry.status, Math.ceil(this.ttlMs)]);
      if (!Array.isArray(reply) || reply[0] !== 1) {
        throw new ServiceAlreadyRegistered(`${entry.dccType} instance ${entry.instanceId} is already registered (its lease in ${this.where} is live)`);
      }
      entry.registeredAt = entry.lastHeartbeat = Number(reply[2]);
      return entry;
    });
  }

  deregister(dccType: string, instanceId: string): Promise<boolean> {
    return this.op(async (redis) => (await this.script(redis, 'deregister', [dccType, instanceId])) === 1);
  }

  heartbeat(dccType: string, instanceId: string): Promise<boolean> {
    return this.op(async (redis) => {
      const reply = await this.script(redis, 'heartbeat', [dccType, instanceId, Math.ceil(this.ttlMs)]);
      return Array.isArray(reply) && reply[0] === 1;
    });
  }

  setStatus(dccType: string, instanceId: string, status: ServiceStatus): Promise<boolean> {
    if (!SERVICE_STATUSES.includes(status)) {
      return Promise.reject(new InvalidOption(`unknown service status ${JSON.stringify(status)}; expected one of ${SERVICE_STATUSES.join(', ')}`));
    }
    return this.op(async (redis) => Number(await this.script(redis, 'setStatus', [dccType, instanceId, status])) > 0);
  }

  /** Removes the index entries of expired leases (an `expire` event each); returns how many. */
  prune(): Promise<number> {
    return this.op(async (redis) => Number(await this.script(redis, 'prune', [PRUNE_LIMIT])));
  }

  async listInstances(dccType: string): Promise<ServiceEntry[]> {
    return (await this.snapshot(dccType)).entries;
  }

  async listAll(): Promise<ServiceEntry[]> {
    return (await this.snapshot()).entries;
  }

  /** Every row with its liveness, as FileRegistry gives it to the CLI: here all are live (expired ones are gone). */
  async listWithLiveness(): Promise<Array<{ entry: ServiceEntry; liveness: Liveness }>> {
    return (await this.listAll()).map((entry) => ({ entry, liveness: 'live' as const }));
  }

  /** The live rows (of one DCC type, or all) and the revision they are current at, in one atomic read. */
  snapshot(dccType?: string): Promise<RedisSnapshot> {
    return this.op(async (redis) => this.readSnapshot(redis, dccType));
  }

  get(dccType: string, instanceId: string): Promise<ServiceEntry | undefined> {
    return this.op(async (redis) => {
      const h = await redis.send(['HMGET', instanceKey(this.prefix, dccType, instanceId), 'row', 'status', 'reg', 'hb'], true);
      if (!Array.isArray(h) || h[0] === null) return undefined;
      return entryOf(h[0]!, h[1]!, h[2]!, h[3]!);
    });
  }

  /**
   * A consistent snapshot, then every change in order (up, status, down, expire); a new
   * snapshot (resync) when the trimmed stream no longer holds what the watch missed, or
   * the server lost its data. It reads on a connection of its own and prunes expired
   * leases itself every `watchIntervalMs`, so expiries are reported without any cleaner.
   */
  watch(dccType?: string, options: WatchOptions = {}): AsyncIterable<RegistryEvent> {
    if (this.closed) throw new ShutdownError(`the registry at ${this.where} is closed`);
    const stop = new AbortController();
    const outer = options.signal;
    const forward = (): void => stop.abort(outer?.reason);
    if (outer?.aborted) stop.abort(outer.reason);
    else outer?.addEventListener('abort', forward, { once: true });
    this.watches.add(stop);
    const done = (): void => {
      this.watches.delete(stop);
      outer?.removeEventListener('abort', forward);
    };
    return watchRedis({
      connect: async () => (await this.ready()).duplicate((err) => this.warnOnce(`Redis registry watch (${this.where}): ${String(err)}`)),
      snapshot: (redis) => this.readSnapshot(redis, dccType),
      prune: (redis) => this.script(redis, 'prune', [PRUNE_LIMIT]),
      prefix: this.prefix,
      dccType,
      blockMs: this.watchIntervalMs,
      signal: stop.signal,
      warn: (message) => this.warnOnce(message),
      done,
    });
  }

  /** Waits for pending operations, ends the watches, closes the client if the registry made it. Nothing is deregistered. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches) w.abort(new ShutdownError('registry closed'));
    await Promise.allSettled([...this.inFlight]);
    if (this.url !== undefined && this.commander !== undefined) {
      const redis = await this.commander.catch(() => undefined);
      await redis?.close();
    }
  }

  // ---- internals ------------------------------------------------------------

  private ready(): Promise<Commander> {
    this.commander ??= (async () => {
      const slot = revKey(this.prefix);
      const onError = (err: unknown): void => this.warnOnce(`Redis registry ${this.where}: ${String(err)}`);
      if (this.given !== undefined) {
        if (this.given.isOpen === false) await this.given.connect();
        return new Commander(this.given, slot);
      }
      return new Commander(await connectUrl(this.url!, onError), slot);
    })().catch((err: unknown) => {
      this.commander = undefined; // try again next time
      throw err;
    });
    return this.commander;
  }

  private op<T>(fn: (redis: Commander) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new ShutdownError(`the registry at ${this.where} is closed`));
    const run = this.ready().then(fn);
    this.inFlight.add(run);
    const forget = (): void => void this.inFlight.delete(run);
    run.then(forget, forget);
    return run;
  }

  private script(redis: Commander, name: keyof typeof SCRIPTS, args: Array<string | number>): Promise<RedisReply> {
    return redis.run(SCRIPTS[name], [revKey(this.prefix)], [this.prefix, this.streamMaxLen, ...args]);
  }

  private async readSnapshot(redis: Commander, dccType?: string): Promise<RedisSnapshot> {
    const reply = await this.script(redis, 'list', [dccType ?? '']);
    const [revision, now, rows, epoch] = Array.isArray(reply) ? reply : [];
    const entries: ServiceEntry[] = [];
    for (const r of Array.isArray(rows) ? rows : []) {
      if (!Array.isArray(r)) continue;
      const entry = entryOf(r[2]!, r[3]!, r[4]!, r[5]!);
      if (entry === undefined) {
        this.warnOnce(`skipping an unreadable row in ${this.where}: ${String(r[0])} ${String(r[1])}`);
        continue;
      }
      entries.push(entry);
    }
    entries.sort((a, b) => a.registeredAt - b.registeredAt);
    return { revision: Number(revision ?? 0), now: Number(now ?? 0), entries, epoch: String(epoch ?? '') };
  }

  private warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    if (this.warned.size >= 1000) this.warned.clear();
    this.warned.add(message);
    this.warn(message);
  }
}

/** The stored row: registered_at and last_heartbeat come from the hash (the server's clock). */
function rowWithoutTimes(entry: ServiceEntry): ServiceEntry {
  return { ...entry, registeredAt: 0, lastHeartbeat: 0 };
}

function positive(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOption(`${name} must be a positive number, got ${String(value)}`);
  }
  return value;
}
