/**
 * The suite of issue 4: raw, wirecall, grpc-js and vscode-jsonrpc side by side, over a
 * Unix socket and TCP, in the scenarios unary-c1, unary-c256, stream-small and
 * stream-64k, with the targets checked on ratios from the same run.
 *
 * Every system has its server in one process and its client in another
 * (client-process.ts); only one system runs at a time. For each transport and scenario,
 * every system first gets an unmeasured warm-up run, then the measured runs are
 * interleaved in rounds (round r runs the systems in an order rotated by r), so slow
 * drift of the machine's load touches every system alike. Rows hold the medians.
 */
import os from 'node:os';
import type { TransportKind } from '../lib/sockets.js';
import { benchCerts } from '../lib/tls.js';
import { fmtNum, fmtPercent, fmtSig, medianMetrics, spread, type RunMetrics } from '../lib/stats.js';
import { SYSTEMS, type SystemName } from '../systems/common.js';
import { startServerProcess } from '../systems/index.js';
import { startClientProcess, type ClientProcess } from './client-process.js';
import { SPEC_SCENARIOS, headline, type SpecScenario } from './scenarios.js';

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

/** Unix first: the targets are judged there. TLS (mutual, over loopback TCP) last. */
export const SPEC_TRANSPORTS: readonly TransportKind[] = ['unix', 'tcp', 'tls'];

/**
 * The systems measured on a transport: all four on Unix and TCP; over TLS wirecall and
 * raw, a plain TLS socket carrying the same frames (issue 15's comparison).
 */
export function specSystems(transport: TransportKind): readonly SystemName[] {
  return transport === 'tls' ? ['raw', 'wirecall'] : SYSTEMS;
}

export const specId = (transport: TransportKind, scenario: SpecScenario, system: SystemName): string => `spec/${transport}/${scenario}/${system}`;

/** Every cell of the suite, as ids for --filter and --list. */
export function specIds(): string[] {
  const ids: string[] = [];
  for (const t of SPEC_TRANSPORTS) for (const s of SPEC_SCENARIOS) for (const sys of specSystems(t)) ids.push(specId(t, s, sys));
  return ids;
}

/** The row of one cell, if it ran. */
export function findRow(rows: readonly SpecRow[], transport: TransportKind, scenario: SpecScenario, system: SystemName): SpecRow | undefined {
  return rows.find((r) => r.transport === transport && r.scenario === scenario && r.system === system);
}

const loadNow = (): number => Number(os.loadavg()[0]!.toFixed(2));

/** Run the suite; `wanted` says which cells (system × transport × scenario) to run. */
export async function runSpec(config: SpecConfig, wanted: (id: string) => boolean, log: (line: string) => void): Promise<SpecRow[]> {
  const rows: SpecRow[] = [];
  const runLimit = (ms: number): number => ms + 60_000;
  for (const transport of SPEC_TRANSPORTS) {
    const scenarios = SPEC_SCENARIOS.filter((s) => specSystems(transport).some((sys) => wanted(specId(transport, s, sys))));
    const systems = specSystems(transport).filter((sys) => scenarios.some((s) => wanted(specId(transport, s, sys))));
    if (scenarios.length === 0) continue;
    // The certificates exist before the first child starts: the children read them (bench/lib/tls.ts).
    if (transport === 'tls') benchCerts();
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
