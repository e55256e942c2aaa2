/**
 * The suite of issue 4: raw, wirecall, grpc-js and vscode-jsonrpc side by side, over a
 * Unix socket and TCP, in the scenarios unary-c1, unary-c256, stream-small and
 * stream-64k, with the targets checked on ratios from the same run.
 *
 * Every system has its server in one process and its client in another
 * (bench/spec/client-process.ts); only one system runs at a time. For each transport and
 * scenario, every system first gets an unmeasured warm-up run, then the measured runs
 * are interleaved in rounds (round r runs the systems in an order rotated by r), so
 * slow drift of the machine's load touches every system alike. Tables show medians.
 */
import os from 'node:os';
import type { TransportKind } from './lib/sockets.js';
import { fmtNum, fmtPercent, fmtSig, markdownTable, medianMetrics, spread, type RunMetrics } from './lib/stats.js';
import { startClientProcess, type ClientProcess } from './spec/client-process.js';
import { SPEC_SCENARIOS, UNIT, headline, type SpecScenario } from './spec/scenarios.js';
import { SYSTEMS, type SystemName } from './systems/common.js';
import { startServerProcess } from './systems/index.js';

export interface SpecConfig {
  /** Measured runs per system and scenario (interleaved rounds); the median is reported. */
  rounds: number;
  /** Length of one measured run, ms. */
  runMs: number;
  /** Unmeasured run of each system before a scenario's rounds, ms (0: none). */
  warmupMs: number;
  /** Pipelined calls and a few streams on every fresh client/server pair, ms. */
  serverWarmupMs: number;
  /** Cap on operations in one run. */
  maxOps: number;
}

export interface SpecRow {
  system: SystemName;
  transport: TransportKind;
  scenario: SpecScenario;
  runs: RunMetrics[];
  median?: RunMetrics;
  spread?: number;
  /** The system cannot run this scenario, and why. */
  unsupported?: string;
  error?: string;
  /** 1-minute load average when the scenario started. */
  load1: number;
}

/** Unix first: the targets are judged there. */
const TRANSPORTS_ORDER: readonly TransportKind[] = ['unix', 'tcp'];

export const specId = (transport: TransportKind, scenario: SpecScenario, system: SystemName): string => `spec/${transport}/${scenario}/${system}`;

/** Every cell of the suite, as ids for --filter and --list. */
export function specIds(): string[] {
  const ids: string[] = [];
  for (const t of TRANSPORTS_ORDER) for (const s of SPEC_SCENARIOS) for (const sys of SYSTEMS) ids.push(specId(t, s, sys));
  return ids;
}

const loadNow = (): number => Number(os.loadavg()[0]!.toFixed(2));

/** Run the suite; `wanted` says which cells (system × transport × scenario) to run. */
export async function runSpec(config: SpecConfig, wanted: (id: string) => boolean, log: (line: string) => void): Promise<SpecRow[]> {
  const rows: SpecRow[] = [];
  const runLimit = (ms: number): number => ms + 60_000;
  for (const transport of TRANSPORTS_ORDER) {
    const scenarios = SPEC_SCENARIOS.filter((s) => SYSTEMS.some((sys) => wanted(specId(transport, s, sys))));
    const systems = SYSTEMS.filter((sys) => scenarios.some((s) => wanted(specId(transport, s, sys))));
    if (scenarios.length === 0) continue;
    const clients = new Map<SystemName, ClientProcess>();
    const failed = new Map<SystemName, string>();
    const stops: (() => Promise<void>)[] = [];
    try {
      // Start and warm up one system at a time, so start-up work does not overlap.
      for (const system of systems) {
        try {
          const server = await startServerProcess(system, transport);
          stops.push(server.close);
          const client = await startClientProcess(system, server.endpoint);
          stops.push(() => client.stop());
          if (config.serverWarmupMs > 0) await client.request({ op: 'warm', ms: config.serverWarmupMs }, runLimit(config.serverWarmupMs));
          clients.set(system, client);
        } catch (err) {
          failed.set(system, (err as Error)?.message ?? String(err));
          log(`[spec] ${transport} ${system}: FAILED to start: ${failed.get(system)}`);
        }
      }
      for (const scenario of scenarios) {
        const load1 = loadNow();
        const cells = new Map<SystemName, SpecRow>();
        for (const system of systems) {
          if (!wanted(specId(transport, scenario, system))) continue;
          const row: SpecRow = { system, transport, scenario, runs: [], load1 };
          if (failed.has(system)) row.error = failed.get(system)!;
          cells.set(system, row);
        }
        const active = (): SpecRow[] => [...cells.values()].filter((r) => r.error === undefined && r.unsupported === undefined);
        const runOnce = async (row: SpecRow, ms: number, measured: boolean): Promise<void> => {
          try {
            const reply = await clients.get(row.system)!.request({ op: 'run', scenario, ms, maxOps: config.maxOps }, runLimit(ms));
            if (reply.unsupported !== undefined) row.unsupported = reply.unsupported;
            else if (measured) {
              if (reply.metrics === undefined || reply.metrics.ops === 0) throw new Error('the run completed no operation');
              row.runs.push(reply.metrics);
            }
          } catch (err) {
            row.error = (err as Error)?.message ?? String(err);
          }
        };
        if (config.warmupMs > 0) for (const row of active()) await runOnce(row, config.warmupMs, false);
        for (let round = 0; round < config.rounds; round++) {
          const order = active();
          const shift = round % Math.max(1, order.length);
          for (const row of [...order.slice(shift), ...order.slice(0, shift)]) await runOnce(row, config.runMs, true);
        }
        for (const row of cells.values()) {
          if (row.error === undefined && row.unsupported === undefined && row.runs.length > 0) {
            row.median = medianMetrics(row.runs);
            row.spread = spread(row.runs.map((r) => headline(scenario, r) ?? 0));
          }
          rows.push(row);
          log(`[spec] ${transport} ${scenario} ${row.system}: ${describe(row)}`);
        }
      }
    } finally {
      for (const stop of stops.reverse()) await stop().catch(() => {});
    }
  }
  return rows;
}

function describe(row: SpecRow): string {
  if (row.error !== undefined) return `FAILED: ${row.error}`;
  if (row.unsupported !== undefined) return `n/a (${row.unsupported})`;
  const m = row.median!;
  const parts = [`${fmtNum(m.opsPerSec)} ${row.scenario.startsWith('stream') ? 'messages/s' : 'calls/s'}`];
  if (m.mbPerSec !== undefined) parts.push(`${fmtSig(m.mbPerSec)} MB/s`);
  if (m.p50Us !== undefined) parts.push(`p50 ${fmtSig(m.p50Us)} µs`, `p99 ${fmtSig(m.p99Us)} µs`);
  parts.push(`spread ${fmtPercent(row.spread ?? 0)}`, `load ${row.load1}`);
  return parts.join(', ');
}

// ------------------------------------------------------------------ targets

export interface Target {
  scenario: SpecScenario;
  versus: SystemName;
  /** wirecall ÷ versus must be at least this. */
  min: number;
}

/** Issue 4, judged over the Unix socket. */
export const TARGETS: readonly Target[] = [
  { scenario: 'unary-c1', versus: 'raw', min: 0.85 },
  { scenario: 'unary-c1', versus: 'grpc-js', min: 4 },
  { scenario: 'unary-c256', versus: 'raw', min: 0.6 },
  { scenario: 'unary-c256', versus: 'grpc-js', min: 20 },
  { scenario: 'unary-c256', versus: 'vscode-jsonrpc', min: 5 },
  { scenario: 'stream-small', versus: 'raw', min: 0.5 },
  { scenario: 'stream-64k', versus: 'raw', min: 0.8 },
];
export const TARGET_TRANSPORT: TransportKind = 'unix';

export interface TargetResult {
  scenario: SpecScenario;
  transport: TransportKind;
  wirecall_vs: SystemName;
  metric: 'ops_per_s' | 'mb_per_s';
  required: number;
  /** wirecall ÷ the other system, from the medians of the same run; null if either is missing. */
  ratio: number | null;
  pass: boolean | null;
  /**
   * wirecall ÷ the other system within each round (runs of the same round follow each
   * other): the lowest and highest. Shows how far one run's noise moves a ratio; the
   * target is judged on `ratio` (medians) alone.
   */
  round_ratios?: { min: number; max: number };
  /** Why there is no ratio. */
  note?: string;
}

function find(rows: readonly SpecRow[], transport: TransportKind, scenario: SpecScenario, system: SystemName): SpecRow | undefined {
  return rows.find((r) => r.transport === transport && r.scenario === scenario && r.system === system);
}

export function ratio(rows: readonly SpecRow[], transport: TransportKind, scenario: SpecScenario, versus: SystemName): number | undefined {
  const w = headline(scenario, find(rows, transport, scenario, 'wirecall')?.median);
  const o = headline(scenario, find(rows, transport, scenario, versus)?.median);
  return w === undefined || o === undefined || o === 0 ? undefined : w / o;
}

/** wirecall ÷ `versus` round by round (empty unless both ran every round). */
function roundRatios(rows: readonly SpecRow[], transport: TransportKind, scenario: SpecScenario, versus: SystemName): number[] {
  const w = find(rows, transport, scenario, 'wirecall');
  const o = find(rows, transport, scenario, versus);
  if (w?.median === undefined || o?.median === undefined || w.runs.length !== o.runs.length) return [];
  return w.runs.map((run, i) => (headline(scenario, run) ?? 0) / (headline(scenario, o.runs[i]) ?? 1));
}

export function evaluateTargets(rows: readonly SpecRow[], transport: TransportKind = TARGET_TRANSPORT): TargetResult[] {
  return TARGETS.map((t) => {
    const r = ratio(rows, transport, t.scenario, t.versus);
    const result: TargetResult = {
      scenario: t.scenario,
      transport,
      wirecall_vs: t.versus,
      metric: t.scenario === 'stream-64k' ? 'mb_per_s' : 'ops_per_s',
      required: t.min,
      ratio: r === undefined ? null : Number(r.toFixed(3)),
      pass: r === undefined ? null : r >= t.min,
    };
    const perRound = roundRatios(rows, transport, t.scenario, t.versus);
    if (perRound.length > 0) {
      result.round_ratios = { min: Number(Math.min(...perRound).toFixed(3)), max: Number(Math.max(...perRound).toFixed(3)) };
    }
    if (r === undefined) {
      const w = find(rows, transport, t.scenario, 'wirecall');
      const o = find(rows, transport, t.scenario, t.versus);
      const why = (row: SpecRow | undefined, name: string): string | undefined =>
        row === undefined ? `${name} not run` : row.unsupported !== undefined ? `${name}: n/a (${row.unsupported})` : row.error !== undefined ? `${name} failed` : undefined;
      result.note = why(w, 'wirecall') ?? why(o, t.versus) ?? 'no data';
    }
    return result;
  });
}

// ------------------------------------------------------------------ tables

const fmtRatio = (r: number | undefined): string => (r === undefined ? '–' : `${r.toFixed(2)}×`);

function cell(row: SpecRow | undefined): string {
  if (row === undefined) return '–';
  if (row.error !== undefined) return 'FAILED';
  if (row.unsupported !== undefined) return 'n/a';
  const v = headline(row.scenario, row.median);
  return row.scenario === 'stream-64k' ? fmtSig(v) : fmtNum(v);
}

/** The four systems side by side, with wirecall's ratios; one row per transport and scenario. */
export function sideBySideTable(rows: readonly SpecRow[]): string {
  const body: string[][] = [];
  for (const transport of TRANSPORTS_ORDER) {
    for (const scenario of SPEC_SCENARIOS) {
      if (!rows.some((r) => r.transport === transport && r.scenario === scenario)) continue;
      body.push([
        scenario,
        transport,
        UNIT[scenario],
        ...SYSTEMS.map((s) => cell(find(rows, transport, scenario, s))),
        ...(['raw', 'grpc-js', 'vscode-jsonrpc'] as const).map((o) => fmtRatio(ratio(rows, transport, scenario, o))),
      ]);
    }
  }
  return markdownTable(['Scenario', 'Transport', 'Unit', ...SYSTEMS, 'wirecall ÷ raw', 'wirecall ÷ grpc-js', 'wirecall ÷ vscode-jsonrpc'], body);
}

/** Every row in full: rates, latency, spread, load. */
export function detailTable(rows: readonly SpecRow[]): string {
  const body = rows.map((r) => {
    const m = r.median;
    const status = r.error !== undefined ? `FAILED: ${r.error.split('\n')[0]}` : r.unsupported !== undefined ? `n/a: ${r.unsupported}` : undefined;
    return [
      r.scenario,
      r.transport,
      r.system,
      status ?? fmtNum(m?.opsPerSec),
      fmtSig(m?.mbPerSec),
      fmtSig(m?.p50Us),
      fmtSig(m?.p99Us),
      m ? `${r.runs.length}` : '–',
      m ? fmtPercent(r.spread ?? 0) : '–',
      r.load1.toFixed(2),
    ];
  });
  return markdownTable(['Scenario', 'Transport', 'System', 'ops/s', 'MB/s', 'p50 µs', 'p99 µs', 'runs', 'spread', 'load'], body);
}

export function targetTable(rows: readonly SpecRow[]): string {
  const unix = evaluateTargets(rows, 'unix');
  const tcp = evaluateTargets(rows, 'tcp');
  const body = unix.map((t, i) => {
    const other = tcp[i]!;
    return [
      `${t.scenario}: wirecall ÷ ${t.wirecall_vs}${t.metric === 'mb_per_s' ? ' (MB/s)' : ''}`,
      `≥ ${t.required}`,
      t.ratio === null ? '–' : `${t.ratio.toFixed(2)}×`,
      t.round_ratios === undefined ? '–' : `${t.round_ratios.min.toFixed(2)}–${t.round_ratios.max.toFixed(2)}×`,
      t.pass === null ? `n/a (${t.note})` : t.pass ? 'PASS' : 'FAIL',
      other.ratio === null ? '–' : `${other.ratio.toFixed(2)}×${other.pass === false ? ' (below)' : ''}`,
    ];
  });
  return markdownTable(['Target', 'Required', 'Unix (judged)', 'Unix, round by round', 'Result', 'TCP (for information)'], body);
}
