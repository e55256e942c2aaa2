/**
 * The registry benchmark of issue 15: the file registry (services.json) against
 * RedisRegistry (a redis-server this bench starts on a free port and stops after), with
 * 10, 1,000 and 10,000 instances registered: register, heartbeat (one instance; many at
 * once from one process), list and watch latency and ops/s; then what one Redis holds
 * at a 5 s heartbeat (memory per instance, heartbeats/s it sustains).
 *
 *   npm run bench:registry                       the full run (about 1.5 minutes)
 *   npm run bench:registry -- --quick            a smoke run (10 and 1,000; short cells)
 *   node dist/bench/registry-bench.js --json r.json --sizes 10,1000 --backends redis
 *
 * Markdown to stdout, progress to stderr. Every cell is bounded by time (2 s of issuing,
 * 0.2 s with --quick) and by an op count; the `ops` columns say how many were done.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadText, machine, machineText, revision } from './cli/results.js';
import { fmtNum, fmtSig, markdownTable } from './lib/stats.js';
import { fileBackend, redisBackend, type Backend, type BackendName, type RedisBackend, type RedisMemory } from './registry/backends.js';
import { benchmarkHeartbeat, hasRedisBenchmark, heartbeatCapacity, listCost, type CapacityRun, type ListCost } from './registry/capacity.js';
import { measureBackend, type Budget, type Cell } from './registry/cells.js';
import { estimate, estimateMarkdown, type Estimate } from './registry/estimate.js';
import { redisVersion, startRedis, type BenchRedis } from './registry/redis-server.js';

interface Row extends Cell {
  backend: BackendName;
  instances: number;
  load: string;
}

const USAGE = 'usage: node dist/bench/registry-bench.js [--quick] [--json FILE] [--sizes 10,1000,10000] [--backends file,redis]';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean' }, json: { type: 'string' }, sizes: { type: 'string' }, backends: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  const quick = values.quick === true;
  const sizes = (values.sizes ?? (quick ? '10,1000' : '10,1000,10000')).split(',').map(Number);
  const wanted = (values.backends ?? 'file,redis').split(',') as BackendName[];
  if (sizes.some((n) => !Number.isSafeInteger(n) || n < 1) || wanted.some((b) => b !== 'file' && b !== 'redis')) {
    console.error(USAGE);
    return 2;
  }
  const budget: Budget = quick ? { ms: 200, maxOps: 500, manyInFlight: 32 } : { ms: 2000, maxOps: 100_000, manyInFlight: 32 };
  const progress = (m: string): void => void process.stderr.write(`${m}\n`);
  const warnings: string[] = [];
  const warn = (m: string): void => void warnings.push(m);

  const startedAt = new Date();
  const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
  const info = { ...machine(), revision: revision(root), redis: redisVersion() ?? 'not installed' };
  const loadStart = loadText();
  console.log(`# wirecall registry benchmark — ${startedAt.toISOString()}\n`);
  console.log(`wirecall ${info.revision}; ${machineText(info)}, Node ${info.node}, redis-server ${info.redis}`);
  console.log(`Load average (1/5/15 min) at start: ${loadStart}.${quick ? ' Quick run: cells of 0.2 s, not for publishing.' : ''}\n`);

  let redis: BenchRedis | undefined;
  if (wanted.includes('redis')) {
    if (info.redis === 'not installed') console.log('Redis: skipped, redis-server is not installed (`npm run setup:redis`).\n');
    else redis = await startRedis();
  }
  const rows: Row[] = [];
  const memories: RedisMemory[] = [];
  let capacity: CapacityRun[] = [];
  let list: ListCost | undefined;
  try {
    for (const n of sizes) {
      for (const name of wanted) {
        if (name === 'redis' && redis === undefined) continue;
        const load = loadText();
        progress(`${name}, ${fmtNum(n)} instances (load ${load}): pre-filling`);
        const backend: Backend = name === 'file' ? await fileBackend(n, warn) : await redisBackend(redis!, n, warn);
        try {
          const cells = await measureBackend(backend, budget, (op) => progress(`  ${name} ${fmtNum(n)}: ${op}`));
          rows.push(...cells.map((c) => ({ ...c, backend: name, instances: n, load })));
          if (name === 'redis') memories.push((backend as RedisBackend).memory);
          if (name === 'redis' && n === Math.max(...sizes)) {
            capacity = await measureCapacity(redis!, backend as RedisBackend, quick, progress);
            list = await listCost(redis!, backend as RedisBackend, quick ? 300 : 2000);
          }
        } finally {
          await backend.close();
        }
      }
    }
  } finally {
    await redis?.stop();
  }
  const loadEnd = loadText();

  console.log('## Latency and throughput\n');
  console.log('Latencies in ms. Sequential loops (in flight 1): ops/s = 1 / mean latency; register and deregister alternate, so the count stays at N. "Many at once": that many heartbeats of distinct instances in flight from one process. Watch: from calling register/deregister to the event reaching a watcher (a second client), one change at a time.\n');
  console.log(resultsTable(rows, wanted));
  const failed = rows.filter((r) => r.failed > 0);
  if (failed.length > 0) console.log(`\nUnexpected answers: ${failed.map((r) => `${r.backend} ${r.instances} ${r.op}: ${r.failed}`).join('; ')}.`);

  let est: Estimate | undefined;
  const memory = memories.find((m) => m.instances === Math.max(...sizes));
  if (memory !== undefined) {
    console.log('\n## Redis capacity\n');
    console.log(`Heartbeats/s with ${fmtNum(memory.instances)} instances present; server CPU from INFO cpu over the run, in cores; µs per call from INFO commandstats (script execution only).\n`);
    console.log(capacityTable(capacity));
    est = estimate(memory, capacity);
    console.log('\n## Estimate: instances one Redis holds at a 5 s heartbeat\n');
    console.log(estimateMarkdown(est, memory, list));
  }
  console.log(`\nLoad average at end: ${loadEnd}.${warnings.length > 0 ? ` Registry warnings: ${warnings.length} (first: ${warnings[0]}).` : ''}`);
  if (values.json !== undefined) {
    const out = { startedAt: startedAt.toISOString(), machine: info, loadStart, loadEnd, quick, budget, rows, memory: memories, capacity, list, estimate: est, warnings: warnings.slice(0, 20) };
    await writeFile(values.json, JSON.stringify(out, null, 2) + '\n');
    progress(`results written to ${values.json}`);
  }
  return failed.length > 0 ? 1 : 0;
}

async function measureCapacity(redis: BenchRedis, backend: RedisBackend, quick: boolean, progress: (m: string) => void): Promise<CapacityRun[]> {
  const runs: CapacityRun[] = [];
  const ms = quick ? 300 : 3000;
  for (const clients of [1, 4]) {
    progress(`  redis capacity: ${clients} client(s) × 64 heartbeats in flight`);
    runs.push(await heartbeatCapacity(redis, backend, clients, 64, ms));
  }
  if (hasRedisBenchmark()) {
    progress('  redis capacity: redis-benchmark');
    const r = await benchmarkHeartbeat(redis, backend, 32, 8, quick ? 20_000 : 300_000);
    if (typeof r === 'string') progress(`  redis-benchmark: ${r}`);
    else runs.push(r);
  }
  return runs;
}

function resultsTable(rows: readonly Row[], backends: readonly BackendName[]): string {
  const present = backends.filter((b) => rows.some((r) => r.backend === b));
  const headers = ['op', 'N', 'in flight', ...present.flatMap((b) => [`${b} p50`, `${b} p99`, `${b} ops/s`, `${b} ops`])];
  const keys = [...new Set(rows.map((r) => `${r.op}\u0000${r.instances}`))];
  const ops = [...new Set(rows.map((r) => r.op))];
  keys.sort((a, b) => {
    const [opA, nA] = a.split('\u0000');
    const [opB, nB] = b.split('\u0000');
    return ops.indexOf(opA!) - ops.indexOf(opB!) || Number(nA) - Number(nB);
  });
  const table = keys.map((k) => {
    const [op, n] = k.split('\u0000');
    const cells = present.map((b) => rows.find((r) => r.backend === b && r.op === op && String(r.instances) === n));
    const inFlight = [...new Set(cells.map((c) => c?.inFlight).filter((v) => v !== undefined))].join('/');
    return [op!, fmtNum(Number(n)), inFlight, ...cells.flatMap((c) => (c === undefined ? ['–', '–', '–', '–'] : [fmtSig(c.p50Ms), fmtSig(c.p99Ms), fmtSig(c.opsPerSec), fmtNum(c.ops)]))];
  });
  return markdownTable(headers, table);
}

function capacityTable(runs: readonly CapacityRun[]): string {
  return markdownTable(
    ['run', 'connections', 'in flight each', 'ops', 'heartbeats/s', 'p50 ms', 'p99 ms', 'server CPU (cores)', 'µs/call (server)'],
    runs.map((r) => [r.what, String(r.clients), String(r.inFlight), fmtNum(r.ops), fmtNum(r.opsPerSec), fmtSig(r.p50Ms), fmtSig(r.p99Ms), fmtSig(r.serverCores), fmtSig(r.usecPerCall)]),
  );
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
