/**
 * The Redis client under the registry: node-redis (`redis` on npm, an optional peer
 * dependency), loaded with `await import('redis')` only when a Redis registry is first
 * used, so `wirecall` and `wirecall/manager` load none of it. A caller may pass its own
 * client instead: standalone (`createClient`), Cluster (`createCluster`) or Sentinel
 * (`createSentinel`); the three send raw commands differently, which `Commander` hides.
 */
import { InvalidOption, ManagerError } from '../../errors.js';
import { errorMessage } from '../../util/error-message.js';
import type { Script } from './scripts.js';

/**
 * The parts of a node-redis client, Cluster or Sentinel the registry uses (structural, so
 * no type of the `redis` package appears in wirecall's own types).
 */
export interface RedisClientLike {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  sendCommand(...args: any[]): Promise<unknown>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  duplicate(...args: any[]): RedisClientLike;
  connect(): Promise<unknown>;
  readonly isOpen?: boolean;
  on?(event: 'error', listener: (err: unknown) => void): unknown;
  close?(): Promise<void>;
  destroy?(): unknown;
}

export type RedisReply = string | number | null | RedisReply[];

/** Raw commands and scripts, whatever the client kind. */
export class Commander {
  private readonly kind: 'standalone' | 'cluster' | 'sentinel';

  constructor(
    readonly client: RedisClientLike,
    /** A key in the registry's hash slot (routes Cluster commands). */
    private readonly slotKey: string,
  ) {
    if ('masters' in client) this.kind = 'cluster';
    else if (typeof (client as { acquire?: unknown }).acquire === 'function') this.kind = 'sentinel';
    else this.kind = 'standalone';
  }

  send(args: Array<string | number>, readonly = false): Promise<RedisReply> {
    const strings = args.map(String);
    switch (this.kind) {
      case 'cluster':
        return this.client.sendCommand(this.slotKey, readonly, strings) as Promise<RedisReply>;
      case 'sentinel':
        return this.client.sendCommand(readonly, strings) as Promise<RedisReply>;
      default:
        return this.client.sendCommand(strings) as Promise<RedisReply>;
    }
  }

  /** EVALSHA, falling back to EVAL when the server does not have the script (NOSCRIPT: new or restarted server). */
  async run(script: Script, keys: string[], argv: Array<string | number>): Promise<RedisReply> {
    const tail = [keys.length, ...keys, ...argv];
    try {
      return await this.send(['EVALSHA', script.sha, ...tail]);
    } catch (err) {
      if (!errorMessage(err).startsWith('NOSCRIPT')) throw err;
      return this.send(['EVAL', script.source, ...tail]);
    }
  }

  /** A second connection of the same kind, for blocking reads (XREAD BLOCK would stall this one). */
  async duplicate(onError: (err: unknown) => void): Promise<Commander> {
    const copy = this.client.duplicate();
    copy.on?.('error', onError);
    await copy.connect();
    return new Commander(copy, this.slotKey);
  }

  async close(): Promise<void> {
    try {
      if (this.client.close !== undefined) await this.client.close();
      else this.client.destroy?.();
    } catch {
      this.client.destroy?.();
    }
  }

  destroy(): void {
    try {
      this.client.destroy?.();
    } catch {
      // already gone
    }
  }
}

/** Is `url` a Redis URL (redis:// or rediss://, for TLS)? */
export function isRedisUrl(url: string): boolean {
  return /^rediss?:\/\//i.test(url);
}

/** Does `value` look like a node-redis client, Cluster or Sentinel? */
export function isRedisClient(value: unknown): value is RedisClientLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RedisClientLike).sendCommand === 'function' &&
    typeof (value as RedisClientLike).duplicate === 'function'
  );
}

/**
 * A connected standalone client for `url`, made with node-redis. Commands fail at once
 * while it is disconnected (no offline queue): a heartbeat that fails is retried at the
 * next one, and node-redis reconnects in the background.
 */
export async function connectUrl(url: string, onError: (err: unknown) => void): Promise<RedisClientLike> {
  let redis: { createClient(options: Record<string, unknown>): unknown };
  try {
    redis = (await import('redis')) as unknown as typeof redis;
  } catch (err) {
    throw new InvalidOption(`a Redis registry (${url}) needs the optional peer dependency 'redis' (npm install redis): ${errorMessage(err)}`);
  }
  let connected = false;
  // The first connection fails at once (a wrong URL should not hang); once up, it reconnects with a capped backoff.
  const reconnectStrategy = (retries: number, cause: Error): number | Error => (connected ? Math.min(100 * 2 ** retries, 2000) : cause);
  const client = redis.createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy, connectTimeout: 5000 } }) as RedisClientLike;
  client.on?.('error', (err) => {
    if (connected) onError(err);
  });
  try {
    await client.connect();
    connected = true;
  } catch (err) {
    client.destroy?.();
    throw new ManagerError(`cannot connect to the Redis registry at ${redactUrl(url)}: ${errorMessage(err)}`, { cause: err });
  }
  return client;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
