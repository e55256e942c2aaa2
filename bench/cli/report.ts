/**
 * The report: the Markdown tables run.ts prints on stdout, and the progress lines of the
 * extra groups on stderr.
 */
import type { Group } from '../groups/index.js';
import type { MemoryResult } from '../groups/memory.js';
import type { ScenarioResult } from '../groups/runner.js';
import { fmtNum, fmtPercent, fmtSig, markdownTable } from '../lib/stats.js';
import { SPEC_SCENARIOS, UNIT, headline } from '../spec-suite/scenarios.js';
import { SPEC_TRANSPORTS, findRow, specSystems, type SpecRow } from '../spec-suite/suite.js';
import { evaluateTargets, ratio, tlsOverTcp } from '../spec-suite/targets.js';
import { SYSTEMS } from '../systems/common.js';

// ------------------------------------------------------------------ the spec suite

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
  for (const transport of SPEC_TRANSPORTS) {
    for (const scenario of SPEC_SCENARIOS) {
      if (!rows.some((r) => r.transport === transport && r.scenario === scenario)) continue;
      body.push([
        scenario,
        transport,
        UNIT[scenario],
        ...SYSTEMS.map((s) => (specSystems(transport).includes(s) ? cell(findRow(rows, transport, scenario, s)) : '–')),
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

/** Issue 15's TLS targets, and what TLS costs each system against itself over plain TCP. */
export function tlsTargetTable(rows: readonly SpecRow[]): string {
  const body = evaluateTargets(rows, 'tls').map((t) => [
    `${t.scenario}: wirecall ÷ ${t.wirecall_vs}, both over TLS${t.metric === 'mb_per_s' ? ' (MB/s)' : ''}`,
    `≥ ${t.required}`,
    t.ratio === null ? '–' : `${t.ratio.toFixed(2)}×`,
    t.round_ratios === undefined ? '–' : `${t.round_ratios.min.toFixed(2)}–${t.round_ratios.max.toFixed(2)}×`,
    t.pass === null ? `n/a (${t.note})` : t.pass ? 'PASS' : 'FAIL',
    fmtRatio(tlsOverTcp(rows, t.scenario, 'wirecall')),
    fmtRatio(tlsOverTcp(rows, t.scenario, 'raw')),
  ]);
  return markdownTable(['Target', 'Required', 'TLS (judged)', 'round by round', 'Result', 'wirecall: TLS ÷ TCP', 'raw: TLS ÷ TCP'], body);
}

// ------------------------------------------------------------------ the memory probe

export function memoryTable(m: MemoryResult): string {
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

// ------------------------------------------------------------------ the extra groups

/** One line on stderr per finished scenario. */
export function progressLine(r: ScenarioResult): string {
  if (r.error !== undefined) return `FAILED: ${r.error}`;
  const m = r.median!;
  const parts = [`${fmtNum(m.opsPerSec)} ${r.unit}`];
  if (m.mbPerSec !== undefined) parts.push(`${fmtSig(m.mbPerSec)} MB/s`);
  if (m.p50Us !== undefined) parts.push(`p50 ${fmtSig(m.p50Us)} µs`, `p99 ${fmtSig(m.p99Us)} µs`);
  parts.push(`spread ${fmtPercent(r.spread ?? 0)}`);
  return parts.join(', ');
}

/** Drop columns whose every cell is empty. */
function table(headers: string[], rows: string[][]): string {
  const keep = headers.map((_, i) => rows.some((r) => r[i] !== '–' && r[i] !== ''));
  const pick = <T>(xs: T[]): T[] => xs.filter((_, i) => keep[i]);
  return markdownTable(pick(headers), rows.map(pick));
}

export function groupTable(group: Group, results: ScenarioResult[]): string {
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
export function comparisonTable(results: ScenarioResult[]): string | undefined {
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
