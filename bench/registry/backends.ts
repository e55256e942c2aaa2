/**
 * The two registries under test, each pre-filled with N live instances of one DCC type,
 * plus a second client of the same registry for the watcher (another process would be
 * one). Only wirecall/manager's public API drives them; the file is pre-filled by hand
 * because N registrations would rewrite a growing services.json N times (quadratic).
 *
 * Leases and staleness are set to an hour: the cells run for minutes, and instances
 * that are not heartbeated must not expire under them (neither setting changes the cost
 * of an operation).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Endpoint } from '../../src/index.js';
import { FileRegistry, RedisRegistry, TransportManager, type RegisterOptions, type RegistryEvent, type ServiceRegistry } from '../../src/manager/index.js';
import { memoryUsage, usedMemory, type BenchRedis } from './redis-server.js';

export const DCC_TYPE = 'bench';
const HOUR_MS = 3_600_000;
/** A typical row: TCP on this host, a version, a scene and a little metadata. */
export const ROW_OPTIONS: RegisterOptions = { version: '2025.1', scene: '/shots/sq010/sh010/anim_v012.mb', metadata: { user: 'ana', project: 'bench', host: 'ws-042' } };
export const endpointFor = (i: number): Endpoint => ({ kind: 'tcp', host: '127.0.0.1', port: 20_000 + (i % 40_000) });

export type BackendName = 'file' | 'redis';

export interface Backend {
  readonly name: BackendName;
  /** The registry the cells drive. */
  readonly registry: ServiceRegistry;
  /** The pre-filled instances. */
  readonly ids: readonly string[];
  /** A watch of DCC_TYPE through a second client (its own registry object and manager). */
  watch(signal: AbortSignal): AsyncIterable<RegistryEvent>;
  close(): Promise<void>;
}

/** Runs `fn` over 0..n-1 with `width` in flight. */
export async function inParallel(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
}

function watcherOf(registry: ServiceRegistry): { watch: Backend['watch']; close: () => Promise<void> } {
  // cleanupInterval 0: no periodic prune of the registry behind the cells' back.
  const manager = new TransportManager({ registry, cleanupInterval: 0, registryHeartbeatInterval: 5000 });
  return { watch: (signal) => manager.watch(DCC_TYPE, { signal }), close: () => manager.shutdown() };
}

// ------------------------------------------------------------------------- file

/** services.json in a temp dir with n rows of another process, whose sentinels a child holds. */
export async function fileBackend(n: number, warn: (m: string) => void): Promise<Backend> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wirecall-bench-registry-'));
  const registry = new FileRegistry({ dir, staleAfterMs: HOUR_MS, onWarning: warn });
  let holder: ChildProcess | undefined;
  let watcher: ReturnType<typeof watcherOf> | undefined;
  const second = new FileRegistry({ dir, staleAfterMs: HOUR_MS, onWarning: warn });
  try {
    // One row written by the registry itself is the template: the rows are the real format.
    const template = await registry.register(DCC_TYPE, endpointFor(0), ROW_OPTIONS);
    const file = path.join(dir, 'services.json');
    const [row0] = JSON.parse(await fs.readFile(file, 'utf8')) as Array<Record<string, unknown>>;
    holder = fork(fileURLToPath(new URL('./sentinel-holder.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ids = Array.from({ length: n }, () => randomUUID());
    const rows = ids.map((id, i) => {
      const port = 20_001 + (i % 40_000);
      const address = { ...(row0!['transport_address'] as Record<string, unknown>), port };
      return { ...row0, instance_id: id, port, transport_address: address, pid: holder!.pid, sentinel_path: path.join(dir, 'locks', `bench-${id}.lock`) };
    });
    await holdSentinels(holder, rows.map((r) => r.sentinel_path));
    await fs.writeFile(`${file}.prefill`, JSON.stringify([...rows, row0], null, 2) + '\n');
    await fs.rename(`${file}.prefill`, file);
    await registry.deregister(DCC_TYPE, template.instanceId);
    const live = await registry.listInstances(DCC_TYPE);
    if (live.length !== n) throw new Error(`file pre-fill: ${live.length} live rows, expected ${n}`);
    watcher = watcherOf(second);
    const w = watcher;
    const child = holder;
    return {
      name: 'file',
      registry,
      ids,
      watch: w.watch,
      close: async () => {
        await w.close();
        await Promise.allSettled([registry.close(), second.close()]);
        child.kill();
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await watcher?.close();
    await Promise.allSettled([registry.close(), second.close()]);
    holder?.kill();
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function holdSentinels(child: ChildProcess, files: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('message', (m: { held?: number; error?: string }) => (m.error === undefined ? resolve() : reject(new Error(`sentinel holder: ${m.error}`))));
    child.once('exit', (code) => reject(new Error(`sentinel holder exited (${String(code)})`)));
    child.send({ files });
  });
}

// ------------------------------------------------------------------------ redis

/** Where the memory of n instances went (bytes), measured right after the pre-fill. */
export interface RedisMemory {
  instances: number;
  /** INFO used_memory after FLUSHALL and after the pre-fill. */
  usedBefore: number;
  usedAfter: number;
  /** MEMORY USAGE (SAMPLES 0) of the keys under the prefix, by kind: inst (mean per key), idx, events… (totals). */
  instKeyMean: number;
  instKeysSampled: number;
  byKind: Record<string, number>;
  /** Entries in the event stream (trimmed to about streamMaxLen). */
  streamLength: number;
}

export interface RedisBackend extends Backend {
  readonly memory: RedisMemory;
  readonly url: string;
  readonly prefix: string;
}

export async function redisBackend(redis: BenchRedis, n: number, warn: (m: string) => void): Promise<RedisBackend> {
  await redis.admin.sendCommand(['FLUSHALL', 'SYNC']);
  const usedBefore = await usedMemory(redis.admin);
  const registry = new RedisRegistry({ url: redis.url, ttlMs: HOUR_MS, onWarning: warn });
  const second = new RedisRegistry({ url: redis.url, ttlMs: HOUR_MS, onWarning: warn });
  const ids = Array.from({ length: n }, () => randomUUID());
  try {
    await inParallel(n, 64, (i) => registry.register(DCC_TYPE, endpointFor(i + 1), { ...ROW_OPTIONS, instanceId: ids[i]! }));
    const usedAfter = await usedMemory(redis.admin);
    const memory = await keyMemory(redis, registry.prefix, n, usedBefore, usedAfter);
    const w = watcherOf(second);
    return {
      name: 'redis',
      registry,
      ids,
      memory,
      url: redis.url,
      prefix: registry.prefix,
      watch: w.watch,
      close: async () => {
        await w.close();
        await Promise.allSettled([registry.close(), second.close()]);
      },
    };
  } catch (err) {
    await Promise.allSettled([registry.close(), second.close()]);
    throw err;
  }
}

/** Keys found by SCAN under the prefix (the layout is the registry's business: grouped by the word after the prefix). */
async function keyMemory(redis: BenchRedis, prefix: string, n: number, usedBefore: number, usedAfter: number): Promise<RedisMemory> {
  const byKind: Record<string, number> = {};
  const inst: string[] = [];
  let cursor = '0';
  let streamKey: string | undefined;
  do {
    const [next, keys] = (await redis.admin.sendCommand(['SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', '1000'])) as [string, string[]];
    cursor = next;
    for (const key of keys) {
      const kind = key.slice(prefix.length + 1).split(':')[0] ?? '?';
      if (kind === 'inst') {
        if (inst.length < 200) inst.push(key); // a sample is enough: the rows are alike
        continue;
      }
      byKind[kind] = (byKind[kind] ?? 0) + (await memoryUsage(redis.admin, key));
      if (kind === 'events') streamKey = key;
    }
  } while (cursor !== '0');
  let sum = 0;
  for (const key of inst) sum += await memoryUsage(redis.admin, key);
  const streamLength = streamKey === undefined ? 0 : Number(await redis.admin.sendCommand(['XLEN', streamKey]));
  return { instances: n, usedBefore, usedAfter, instKeyMean: inst.length === 0 ? 0 : sum / inst.length, instKeysSampled: inst.length, byKind, streamLength };
}
