/**
 * How many heartbeats per second one Redis sustains, for the paper estimate: many
 * heartbeats in flight from several registry clients (each its own connection), with
 * the server's CPU use over the run (a client-bound run still says what a whole core
 * would do) and the server's own time per script (INFO commandstats); and, as a
 * baseline without Node, redis-benchmark sending the very heartbeat script.
 */
import { spawn, spawnSync } from 'node:child_process';
import { RedisRegistry } from '../../src/manager/index.js';
import { LatencyRecorder, percentile } from '../lib/stats.js';
import { DCC_TYPE, type RedisBackend } from './backends.js';
import { info, serverCpuSeconds, type BenchRedis } from './redis-server.js';

export interface CapacityRun {
  what: string;
  clients: number;
  inFlight: number;
  ops: number;
  seconds: number;
  opsPerSec: number;
  p50Ms?: number;
  p99Ms?: number;
  /** redis-server's CPU over the run, in cores (1 = one core busy all the time). */
  serverCores: number;
  /** Server time per EVALSHA (µs), from INFO commandstats. */
  usecPerCall?: number;
}

/** Resets INFO commandstats and notes the server's CPU, before a run. */
async function startServerStats(redis: BenchRedis): Promise<() => Promise<{ serverCores: number; usecPerCall?: number }>> {
  await redis.admin.sendCommand(['CONFIG', 'RESETSTAT']);
  const cpu0 = await serverCpuSeconds(redis.admin);
  const t0 = performance.now();
  return async () => {
    const cores = (await serverCpuSeconds(redis.admin)) - cpu0;
    const wall = (performance.now() - t0) / 1000;
    const stat = (await info(redis.admin, 'commandstats')).get('cmdstat_evalsha');
    const perCall = stat === undefined ? undefined : Number(/usec_per_call=([\d.]+)/.exec(stat)?.[1]);
    return { serverCores: cores / wall, ...(perCall === undefined || Number.isNaN(perCall) ? {} : { usecPerCall: perCall }) };
  };
}

/** `clients` RedisRegistry objects, `inFlight` heartbeats each, over the pre-filled instances, for `ms`. */
export async function heartbeatCapacity(redis: BenchRedis, backend: RedisBackend, clients: number, inFlight: number, ms: number): Promise<CapacityRun> {
  const { ids } = backend;
  const registries = Array.from({ length: clients }, () => new RedisRegistry({ url: redis.url, ttlMs: 3_600_000 }));
  try {
    await Promise.all(registries.map((r) => r.heartbeat(DCC_TYPE, ids[0]!))); // connect first
    const lat = new LatencyRecorder();
    let next = 0;
    let failed = 0;
    const done = await startServerStats(redis);
    const start = performance.now();
    const deadline = start + ms;
    const worker = async (registry: RedisRegistry): Promise<void> => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        if (!(await registry.heartbeat(DCC_TYPE, ids[next++ % ids.length]!))) failed++;
        lat.push((performance.now() - t0) * 1000);
      }
    };
    await Promise.all(registries.flatMap((r) => Array.from({ length: inFlight }, () => worker(r))));
    const seconds = (performance.now() - start) / 1000;
    const server = await done();
    if (failed > 0) throw new Error(`${failed} heartbeats found their lease gone`);
    const sorted = lat.sorted();
    return { what: 'RedisRegistry.heartbeat', clients, inFlight, ops: lat.count, seconds, opsPerSec: lat.count / seconds, p50Ms: percentile(sorted, 50) / 1000, p99Ms: percentile(sorted, 99) / 1000, ...server };
  } finally {
    await Promise.allSettled(registries.map((r) => r.close()));
  }
}

/** The exact command a heartbeat sends (EVALSHA sha 1 key argv…), seen with MONITOR. */
async function heartbeatCommand(redis: BenchRedis, backend: RedisBackend): Promise<string[] | undefined> {
  const monitor = redis.admin.duplicate();
  monitor.on('error', () => undefined);
  await monitor.connect();
  let seen: string[] | undefined;
  try {
    await monitor.monitor((line: string) => {
      const args = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1'));
      if (args[0]?.toUpperCase() === 'EVALSHA' && args.includes(backend.ids[1] ?? backend.ids[0]!)) seen ??= args;
    });
    await backend.registry.heartbeat(DCC_TYPE, backend.ids[1] ?? backend.ids[0]!);
    for (let i = 0; i < 50 && seen === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  } finally {
    monitor.destroy();
  }
  return seen;
}

export function hasRedisBenchmark(): boolean {
  return spawnSync('redis-benchmark', ['--version'], { encoding: 'utf8' }).status === 0;
}

/** redis-benchmark sending the heartbeat script of one instance: `connections` clients, pipelined `pipeline` deep, `requests` in all. */
export async function benchmarkHeartbeat(redis: BenchRedis, backend: RedisBackend, connections: number, pipeline: number, requests: number): Promise<CapacityRun | string> {
  const command = await heartbeatCommand(redis, backend);
  if (command === undefined) return 'could not capture the heartbeat command with MONITOR';
  const done = await startServerStats(redis);
  const start = performance.now();
  const args = ['-h', '127.0.0.1', '-p', String(redis.port), '-c', String(connections), '-P', String(pipeline), '-n', String(requests), '--csv', ...command];
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('redis-benchmark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000); // bounded even if the server stalls
    child.stdout.on('data', (c: Buffer) => (text += c.toString()));
    child.stderr.on('data', (c: Buffer) => (text += c.toString()));
    child.once('error', reject);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
  const seconds = (performance.now() - start) / 1000;
  const server = await done();
  const row = out.split(/\r?\n/).find((l) => /^"EVALSHA/i.test(l));
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const fields = (row ?? '').split(',').map((f) => Number(f.replace(/"/g, '')));
  const rps = fields[1] ?? Number.NaN;
  if (!Number.isFinite(rps)) return `unexpected redis-benchmark output: ${out.slice(-300)}`;
  const latency = Number.isFinite(fields[4]) && Number.isFinite(fields[6]) ? { p50Ms: fields[4]!, p99Ms: fields[6]! } : {};
  return { what: 'redis-benchmark EVALSHA (heartbeat script)', clients: connections, inFlight: pipeline, ops: requests, seconds, opsPerSec: rps, ...latency, ...server };
}

export interface ListCost {
  instances: number;
  lists: number;
  /** listInstances in the client, from call to entries (ms, median). */
  clientMs: number;
  /** Server time per list script (ms, INFO commandstats): the server does nothing else meanwhile. */
  serverMs: number;
}

/** What a full list costs the server: one atomic script over every instance, so it blocks heartbeats while it runs. */
export async function listCost(redis: BenchRedis, backend: RedisBackend, ms: number): Promise<ListCost> {
  await backend.registry.listInstances(DCC_TYPE); // the script is loaded
  const done = await startServerStats(redis);
  const times: number[] = [];
  const deadline = performance.now() + ms;
  while (times.length < 50 && (times.length < 3 || performance.now() < deadline)) {
    const t0 = performance.now();
    await backend.registry.listInstances(DCC_TYPE);
    times.push(performance.now() - t0);
  }
  const server = await done();
  times.sort((a, b) => a - b);
  return { instances: backend.ids.length, lists: times.length, clientMs: times[times.length >> 1]!, serverMs: (server.usecPerCall ?? Number.NaN) / 1000 };
}
