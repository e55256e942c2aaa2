/**
 * wirecall benchmark suite.
 *
 *   npm run bench                        everything: the spec suite of issue 4 (raw,
 *                                        wirecall, grpc-js, vscode-jsonrpc), the memory
 *                                        probe, then the extra groups
 *   npm run bench -- --quick --json r.json   the same in under 3 minutes, JSON to r.json
 *   node dist/bench/run.js --runs 9      more runs (the tables show the median)
 *   node dist/bench/run.js --filter spec/unix --filter memory
 *   node dist/bench/run.js --list        scenario ids, for --filter
 *
 * Markdown tables go to stdout, progress to stderr, the spec results to --json FILE, and
 * every raw result to .bench-results/<date>.json (unless --no-save or --out FILE).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connectionScenarios } from './connections.js';
import { implLabel, type BenchConfig, type Prepared, type Scenario } from './harness.js';
import { withTimeout } from './lib/loops.js';
import { measureMemory, type MemoryResult } from './memory.js';
import { microScenarios } from './micro.js';
import { notifyScenarios } from './notify.js';
import { payloadScenarios } from './payload.js';
import { ServerPool } from './servers.js';
import { detailTable, sideBySideTable, targetTable } from './cli/report.js';
import { runSpec, specIds, type SpecConfig, type SpecRow } from './spec/suite.js';
import { evaluateTargets } from './spec/targets.js';
import { headline } from './spec/scenarios.js';
import {
  fmtNum,
  fmtPercent,
  fmtSig,
  markdownTable,
  medianMetrics,
  spread,
  toMetrics,
  type RunMetrics,
} from './lib/stats.js';
import { unaryScenarios } from './unary.js';

interface Group {
  name: string;
  heading: string;
  /** Which rate leads the table. */
  primary: 'ops' | 'mb';
  scenarios: () => Scenario[];
}

const GROUPS: readonly Group[] = [
  { name: 'unary', heading: 'Unary calls (32 B argument, echoed)', primary: 'ops', scenarios: unaryScenarios },
  { name: 'payload', heading: 'Payload sizes (Buffer echo, server in a child process)', primary: 'mb', scenarios: payloadScenarios },
  { name: 'notify', heading: 'Notifications (fire-and-forget, counted by the server)', primary: 'ops', scenarios: notifyScenarios },
  { name: 'connections', heading: 'Many connections to one server', primary: 'ops', scenarios: connectionScenarios },
  { name: 'micro', heading: 'Micro-benchmarks (no sockets)', primary: 'ops', scenarios: microScenarios },
];

interface ScenarioResult {
  id: string;
  group: string;
  title: string;
  impl: string;
  server?: string;
  transport?: string;
  unit: string;
  compareKey?: string;
  params?: Record<string, string | number | boolean>;
  runs: RunMetrics[];
  median?: RunMetrics;
  /** (max − min) / median of ops/s across runs. */
  spread?: number;
  error?: string;
  /** 1-minute load average when the scenario started: high means other work shared the CPUs. */
  load1: number;
}

const USAGE = `usage: node dist/bench/run.js [--quick] [--json FILE] [--runs N] [--time MS] [--warmup MS] [--filter TEXT]... [--no-save] [--out FILE] [--list]

  --quick        the whole suite in under 3 minutes: spec suite with 3 runs of 400 ms,
                 the memory probe, and the extra groups as a smoke run (tiny budgets)
  --json FILE    write the spec results (issue 4's format: date, machine, node, results,
                 plus targets and memory) to FILE
  --runs N       measured runs per scenario; tables show the median (default 7 for the
                 spec suite, 5 for the extra groups; --quick: 3 and 1)
  --time MS      time budget of one measured run (default 1000; --quick: 400 / 25)
  --warmup MS    unmeasured warm-up run before the measured ones (default 1000; --quick: 300 / 10)
  --filter TEXT  only scenarios whose id contains TEXT (repeatable: any match); see --list.
                 Spec cells are spec/<unix|tcp>/<scenario>/<system>, the probe memory/unix/wirecall
  --no-save      do not write .bench-results/<date>.json
  --out FILE     write the raw JSON results (every run) to FILE instead
  --list         print the scenario ids and exit`;

interface Cli {
  config: BenchConfig;
  spec: SpecConfig;
  filters: string[];
  save: boolean;
  out?: string;
  json?: string;
  list: boolean;
}

function parseCli(): Cli {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        runs: { type: 'string' },
        filter: { type: 'string', multiple: true },
        quick: { type: 'boolean', default: false },
        time: { type: 'string' },
        warmup: { type: 'string' },
        'no-save': { type: 'boolean', default: false },
        out: { type: 'string' },
        json: { type: 'string' },
        list: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const int = (text: string | undefined, fallback: number, what: string, min = 1): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) {
      console.error(`${what} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
      process.exit(2);
    }
    return n;
  };
  const config: BenchConfig = {
    quick,
    runs: int(values.runs, quick ? 1 : 5, '--runs'),
    runMs: int(values.time, quick ? 25 : 1000, '--time'),
    serverWarmupMs: quick ? 0 : 3000,
    warmupMs: values.warmup === undefined ? (quick ? 10 : 1000) : int(values.warmup, 0, '--warmup', 0),
    maxOps: quick ? 200_000 : 5_000_000,
  };
  const spec: SpecConfig = {
    rounds: int(values.runs, quick ? 3 : 7, '--runs'),
    runMs: int(values.time, quick ? 400 : 1000, '--time'),
    warmupMs: values.warmup === undefined ? (quick ? 300 : 1000) : int(values.warmup, 0, '--warmup', 0),
    serverWarmupMs: quick ? 2000 : 3000,
    maxOps: 5_000_000,
  };
  const result: Cli = {
    config,
    spec,
    filters: values.filter ?? [],
    save: !(values['no-save'] ?? false),
    list: values.list ?? false,
  };
  if (values.out !== undefined) result.out = values.out;
  if (values.json !== undefined) result.json = values.json;
  return result;
}

/** The commit measured, and whether src/ differs from it ('+dirty'). */
function revision(root: string): string {
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', ':/src') === '' ? '' : '+dirty'}`;
  } catch {
    return process.env.WIRECALL_BENCH_REVISION ?? 'unknown';
  }
}

interface Machine {
  node: string;
  v8: string;
  platform: string;
  cpu: string;
  cpus: number;
  memoryGiB: number;
}

/** One line, for the JSON's `machine`. */
function machineText(m: Machine): string {
  return `${m.cpu}, ${m.cpus} vCPUs, ${m.memoryGiB} GiB, ${m.platform}`;
}

function machine(): Machine {
  const cpus = os.cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  };
}

function loadText(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
}

// ------------------------------------------------------------------ running

async function runScenario(s: Scenario, config: BenchConfig, servers: ServerPool): Promise<ScenarioResult> {
  const result: ScenarioResult = {
    id: s.id,
    group: s.group,
    title: s.title,
    impl: implLabel(s.impl),
    unit: s.unit,
    runs: [],
    load1: Number(os.loadavg()[0]!.toFixed(2)),
  };
  if (s.server !== undefined) result.server = s.server;
  if (s.transport !== undefined) result.transport = s.transport;
  if (s.compareKey !== undefined) result.compareKey = s.compareKey;
  if (s.params !== undefined) result.params = s.params;
  const ms = Math.max(5, Math.round(config.runMs * (s.timeScale ?? 1)));
  const budget = { ms, maxOps: config.maxOps };
  // Generous, but bounded: a wedged scenario fails instead of hanging the suite.
  const limit = ms + 20_000;
  let prepared: Prepared | undefined;
  try {
    prepared = await withTimeout(s.prepare({ config, servers }), 30_000, `${s.id}: prepare`);
    if (config.warmupMs > 0) {
      await withTimeout(prepared.run({ ms: config.warmupMs, maxOps: config.maxOps }), config.warmupMs + 20_000, `${s.id}: warm-up`);
    }
    for (let i = 0; i < config.runs; i++) {
      const sample = await withTimeout(prepared.run(budget), limit, `${s.id}: run ${i + 1}`);
      if (sample.ops === 0) throw new Error(`${s.id}: run ${i + 1} completed no operation`);
      result.runs.push(toMetrics(sample));
    }
    result.median = medianMetrics(result.runs);
    result.spread = spread(result.runs.map((r) => r.opsPerSec));
  } catch (err) {
    result.error = (err as Error)?.message ?? String(err);
  } finally {
    if (prepared !== undefined) await withTimeout(prepared.close(), 10_000, `${s.id}: close`).catch(() => {});
  }
  return result;
}

function progressLine(r: ScenarioResult): string {
  if (r.error !== undefined) return `FAILED: ${r.error}`;
  const m = r.median!;
  const parts = [`${fmtNum(m.opsPerSec)} ${r.unit}`];
  if (m.mbPerSec !== undefined) parts.push(`${fmtSig(m.mbPerSec)} MB/s`);
  if (m.p50Us !== undefined) parts.push(`p50 ${fmtSig(m.p50Us)} µs`, `p99 ${fmtSig(m.p99Us)} µs`);
  parts.push(`spread ${fmtPercent(r.spread ?? 0)}`);
  return parts.join(', ');
}

// ------------------------------------------------------------------ tables

/** Drop columns whose every cell is empty. */
function table(headers: string[], rows: string[][]): string {
  const keep = headers.map((_, i) => rows.some((r) => r[i] !== '–' && r[i] !== ''));
  const pick = <T>(xs: T[]): T[] => xs.filter((_, i) => keep[i]);
  return markdownTable(pick(headers), rows.map(pick));
}

function groupTable(group: Group, results: ScenarioResult[]): string {
  if (group.name === 'micro') {
    const rows = results.map((r) => {
      const m = r.median;
      return [
        r.title,
        r.error !== undefined ? `FAILED: ${r.error}` : fmtNum(m!.opsPerSec),
        r.unit.replace('/s', ''),
        m ? fmtSig(1e9 / m.opsPerSec) : '–',
        fmtSig(m?.mbPerSec),
        m ? fmtPercent(r.spread ?? 0) : '–',
      ];
    });
    return table(['Benchmark', 'ops/s', 'op', 'ns/op', 'MB/s', 'spread'], rows);
  }
  const units = new Set(results.map((r) => r.unit));
  const unit = units.size === 1 ? [...units][0]! : 'ops/s';
  const rows = results.map((r) => {
    const m = r.median;
    const rate = r.error !== undefined ? `FAILED: ${r.error}` : fmtNum(m!.opsPerSec);
    const mb = fmtSig(m?.mbPerSec);
    return [
      r.title,
      r.transport ?? '–',
      r.server ?? '–',
      r.impl,
      ...(group.primary === 'mb' ? [mb, rate] : [rate, mb]),
      fmtSig(m?.p50Us),
      fmtSig(m?.p99Us),
      m ? fmtPercent(r.spread ?? 0) : '–',
    ];
  });
  const rates = group.primary === 'mb' ? ['MB/s', unit] : [unit, 'MB/s'];
  return table(['Scenario', 'Transport', 'Server', 'Impl', ...rates, 'p50 µs', 'p99 µs', 'spread'], rows);
}

/** wirecall and grpc-js side by side, wherever both ran the same scenario. */
function comparisonTable(results: ScenarioResult[]): string | undefined {
  const byKey = new Map<string, { w?: ScenarioResult; g?: ScenarioResult }>();
  for (const r of results) {
    if (r.compareKey === undefined || r.median === undefined) continue;
    const entry = byKey.get(r.compareKey) ?? {};
    if (r.impl === 'wirecall') entry.w = r;
    if (r.impl === 'grpc-js') entry.g = r;
    byKey.set(r.compareKey, entry);
  }
  const rows: string[][] = [];
  for (const { w, g } of byKey.values()) {
    if (w === undefined || g === undefined) continue;
    const wm = w.median!;
    const gm = g.median!;
    rows.push([
      `${w.group}: ${w.title}`,
      w.transport ?? '–',
      fmtNum(wm.opsPerSec),
      fmtNum(gm.opsPerSec),
      `${(wm.opsPerSec / gm.opsPerSec).toFixed(2)}×`,
      fmtSig(wm.p50Us),
      fmtSig(gm.p50Us),
      fmtSig(wm.p99Us),
      fmtSig(gm.p99Us),
    ]);
  }
  if (rows.length === 0) return undefined;
  return table(
    ['Scenario', 'Transport', 'wirecall calls/s', 'grpc-js calls/s', 'wirecall ÷ grpc-js', 'wirecall p50 µs', 'grpc-js p50 µs', 'wirecall p99 µs', 'grpc-js p99 µs'],
    rows,
  );
}

// ------------------------------------------------------------------ main

const MEMORY_ID = 'memory/unix/wirecall';

function memoryTable(m: MemoryResult): string {
  return markdownTable(
    ['Calls pending on one connection', 'Transport', 'Caller heap before', 'with all pending', 'Added', 'Per call', 'Outside the heap', 'Server heap added', 'Target'],
    [
      [
        fmtNum(m.calls),
        m.transport,
        `${fmtSig(m.client_heap_before_mb)} MB`,
        `${fmtSig(m.client_heap_pending_mb)} MB`,
        `${fmtSig(m.heap_delta_mb)} MB`,
        `${fmtNum(m.bytes_per_call)} B`,
        `${fmtSig(m.external_delta_mb)} MB`,
        `${fmtSig(m.server_heap_delta_mb)} MB`,
        m.heap_delta_mb < 100 ? '< 100 MB: PASS' : '< 100 MB: FAIL',
      ],
    ],
  );
}

/** The spec results in issue 4's format. */
function specJson(rows: readonly SpecRow[], memory: MemoryResult | undefined, extra: Record<string, unknown>): unknown {
  const results = rows
    .filter((r) => r.median !== undefined)
    .map((r) => {
      const m = r.median!;
      const out: Record<string, string | number> = {
        system: r.system,
        transport: r.transport,
        scenario: r.scenario,
        ops_per_s: Math.round(m.opsPerSec),
      };
      if (m.mbPerSec !== undefined) out.mb_per_s = Number(m.mbPerSec.toFixed(1));
      if (m.p50Us !== undefined) out.p50_us = Number(m.p50Us.toFixed(1));
      if (m.p99Us !== undefined) out.p99_us = Number(m.p99Us.toFixed(1));
      return out;
    });
  return {
    ...extra,
    results,
    not_measured: rows
      .filter((r) => r.median === undefined)
      .map((r) => ({ system: r.system, transport: r.transport, scenario: r.scenario, reason: r.unsupported ?? r.error ?? 'no data' })),
    targets: [...evaluateTargets(rows, 'unix'), ...evaluateTargets(rows, 'tcp')],
    memory: memory ?? null,
    runs: rows.map((r) => ({
      system: r.system,
      transport: r.transport,
      scenario: r.scenario,
      load1: r.load1,
      spread: r.spread === undefined ? null : Number(r.spread.toFixed(3)),
      values: r.runs.map((m) => Number((headline(r.scenario, m) ?? 0).toFixed(1))),
    })),
  };
}

async function main(): Promise<number> {
  const { config, spec, filters, save, out, json, list } = parseCli();
  const matchesId = (id: string): boolean => filters.length === 0 || filters.some((f) => id.includes(f));
  const matches = (s: Scenario): boolean => matchesId(s.id);
  const plan = GROUPS.map((g) => ({ group: g, scenarios: g.scenarios().filter(matches) })).filter((p) => p.scenarios.length > 0);
  const specCells = specIds().filter(matchesId);
  const runMemory = matchesId(MEMORY_ID);
  if (list) {
    for (const id of specIds()) console.log(id);
    console.log(MEMORY_ID);
    for (const { scenarios } of plan) for (const s of scenarios) console.log(s.id);
    return 0;
  }
  const total = plan.reduce((n, p) => n + p.scenarios.length, 0);
  if (total === 0 && specCells.length === 0 && !runMemory) {
    console.error(`no scenario matches ${filters.map((f) => JSON.stringify(f)).join(' or ')}; see --list`);
    return 2;
  }

  const startedAt = new Date();
  const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
  const info = { ...machine(), revision: revision(root) };
  const loadStart = loadText();
  console.log(`# wirecall benchmarks — ${startedAt.toISOString()}\n`);
  console.log(`wirecall ${info.revision}; ${info.cpu}, ${info.cpus} CPUs, ${info.memoryGiB} GiB, ${info.platform}, Node ${info.node}`);
  console.log(`Load average at start: ${loadStart}.\n`);

  // ---- the spec suite (issue 4) and the memory probe
  let specRows: SpecRow[] = [];
  let memory: MemoryResult | undefined;
  let memoryError: string | undefined;
  if (specCells.length > 0) {
    console.log(
      `## raw vs wirecall vs grpc-js vs vscode-jsonrpc\n\n` +
        `${config.quick ? 'QUICK run: short runs, read the ratios with care. ' : ''}` +
        `Median of ${spec.rounds} interleaved run(s) of ${spec.runMs} ms per system, after a ${spec.warmupMs} ms warm-up run each` +
        ` and ${spec.serverWarmupMs} ms of pipelined calls on every fresh client/server pair. Each server and each client in a process of its own.\n`,
    );
    const wanted = new Set(specCells);
    specRows = await runSpec(spec, (id) => wanted.has(id), (line) => console.error(line));
    console.log(`${sideBySideTable(specRows)}\n`);
    console.log(`### Targets (issue 4)\n\n${targetTable(specRows)}\n`);
    console.log(`### Every row\n\n${detailTable(specRows)}\n`);
  }
  if (runMemory) {
    try {
      memory = await measureMemory('unix');
      console.error(`[memory] ${memory.calls} pending calls: +${memory.heap_delta_mb} MB heap (${memory.bytes_per_call} B per call)`);
      console.log(`### Memory: calls in flight\n\n${memoryTable(memory)}\n`);
    } catch (err) {
      memoryError = (err as Error)?.message ?? String(err);
      console.log(`### Memory: calls in flight\n\nFAILED: ${memoryError}\n`);
    }
  }

  // ---- the extra groups
  const all: ScenarioResult[] = [];
  if (total > 0) {
    console.log(
      `## Extra groups\n\n` +
        `${config.quick ? 'QUICK smoke run (numbers are not meaningful). ' : ''}` +
        `Median of ${config.runs} run(s) of ${config.runMs} ms each (payload rows: half), after a ${config.warmupMs} ms warm-up` +
        `${config.serverWarmupMs > 0 ? ` (and ${config.serverWarmupMs} ms of echo calls for every freshly started server)` : ''}.\n`,
    );
  }
  let done = 0;
  for (const { group, scenarios } of plan) {
    const servers = new ServerPool(config.serverWarmupMs);
    const results: ScenarioResult[] = [];
    try {
      for (const s of scenarios) {
        const r = await runScenario(s, config, servers);
        results.push(r);
        all.push(r);
        console.error(`[${++done}/${total}] ${s.id}: ${progressLine(r)}`);
      }
    } finally {
      await servers.closeAll();
    }
    console.log(`### ${group.heading}\n\n${groupTable(group, results)}\n`);
  }
  const comparison = comparisonTable(all);
  if (comparison !== undefined) console.log(`### wirecall vs grpc-js (Buffer echo, both servers in a child process)\n\n${comparison}\n`);

  const failed = all.filter((r) => r.error !== undefined);
  const specFailed = specRows.filter((r) => r.error !== undefined);
  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  const loadEnd = loadText();
  console.log(
    `${specRows.length} spec rows, ${all.length} extra scenarios in ${seconds.toFixed(1)} s` +
      `${failed.length + specFailed.length > 0 ? `, ${failed.length + specFailed.length} FAILED` : ''}. Load average at the end: ${loadEnd}.`,
  );

  if (json !== undefined) {
    const file = path.resolve(json);
    const doc = specJson(specRows, memory, {
      date: startedAt.toISOString(),
      machine: machineText(info),
      node: info.node,
      commit: info.revision,
      quick: config.quick,
      seconds: Number(seconds.toFixed(1)),
      load: { start: loadStart, end: loadEnd },
      config: spec,
      ...(memoryError === undefined ? {} : { memory_error: memoryError }),
    });
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify(doc, null, 2)}\n`);
    console.error(`spec results: ${path.relative(process.cwd(), file) || file}`);
  }
  if (save || out !== undefined) {
    const stamp = startedAt.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
    const file = out !== undefined ? path.resolve(out) : path.join(root, '.bench-results', `${stamp}${config.quick ? '-quick' : ''}.json`);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(
      file,
      `${JSON.stringify({ date: startedAt.toISOString(), machine: info, config, spec, filters, specRows, memory, results: all }, null, 2)}\n`,
    );
    console.error(`raw results: ${path.relative(process.cwd(), file) || file}`);
  }
  for (const f of specFailed) console.error(`FAILED spec/${f.transport}/${f.scenario}/${f.system}: ${f.error}`);
  for (const f of failed) console.error(`FAILED ${f.id}: ${f.error}`);
  if (memoryError !== undefined) console.error(`FAILED ${MEMORY_ID}: ${memoryError}`);
  return failed.length > 0 || specFailed.length > 0 || memoryError !== undefined ? 1 : 0;
}

main().then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
