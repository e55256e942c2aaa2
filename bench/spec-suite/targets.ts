/**
 * Issue 4's targets: wirecall's speed as a multiple of another system's, judged on the
 * medians of the same run over the Unix socket (and shown for TCP).
 */
import type { TransportKind } from '../lib/sockets.js';
import type { SystemName } from '../systems/common.js';
import { headline, type SpecScenario } from './scenarios.js';
import { findRow, type SpecRow } from './suite.js';

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

/** Issue 15: wirecall over mutual TLS against a plain TLS socket carrying the same frames. */
export const TLS_TARGETS: readonly Target[] = [
  { scenario: 'unary-c256', versus: 'raw', min: 0.8 },
  { scenario: 'stream-64k', versus: 'raw', min: 0.8 },
];

/** The targets judged on `transport`: issue 4's, or issue 15's over TLS. */
export const targetsFor = (transport: TransportKind): readonly Target[] => (transport === 'tls' ? TLS_TARGETS : TARGETS);

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

export function ratio(rows: readonly SpecRow[], transport: TransportKind, scenario: SpecScenario, versus: SystemName): number | undefined {
  const w = headline(scenario, findRow(rows, transport, scenario, 'wirecall')?.median);
  const o = headline(scenario, findRow(rows, transport, scenario, versus)?.median);
  return w === undefined || o === undefined || o === 0 ? undefined : w / o;
}

/** `system` over TLS ÷ the same system over plain TCP: what TLS costs it. */
export function tlsOverTcp(rows: readonly SpecRow[], scenario: SpecScenario, system: SystemName): number | undefined {
  const secure = headline(scenario, findRow(rows, 'tls', scenario, system)?.median);
  const plain = headline(scenario, findRow(rows, 'tcp', scenario, system)?.median);
  return secure === undefined || plain === undefined || plain === 0 ? undefined : secure / plain;
}

/** wirecall ÷ `versus` round by round (empty unless both ran every round). */
function roundRatios(rows: readonly SpecRow[], transport: TransportKind, scenario: SpecScenario, versus: SystemName): number[] {
  const w = findRow(rows, transport, scenario, 'wirecall');
  const o = findRow(rows, transport, scenario, versus);
  if (w?.median === undefined || o?.median === undefined || w.runs.length !== o.runs.length) return [];
  return w.runs.map((run, i) => (headline(scenario, run) ?? 0) / (headline(scenario, o.runs[i]) ?? 1));
}

export function evaluateTargets(rows: readonly SpecRow[], transport: TransportKind = TARGET_TRANSPORT): TargetResult[] {
  return targetsFor(transport).map((t) => {
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
      const w = findRow(rows, transport, t.scenario, 'wirecall');
      const o = findRow(rows, transport, t.scenario, t.versus);
      const why = (row: SpecRow | undefined, name: string): string | undefined =>
        row === undefined ? `${name} not run` : row.unsupported !== undefined ? `${name}: n/a (${row.unsupported})` : row.error !== undefined ? `${name} failed` : undefined;
      result.note = why(w, 'wirecall') ?? why(o, t.versus) ?? 'no data';
    }
    return result;
  });
}
