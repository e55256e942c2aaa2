/**
 * The report: the Markdown tables run.ts prints.
 */
import { fmtNum, fmtPercent, fmtSig, markdownTable } from '../lib/stats.js';
import { SPEC_SCENARIOS, UNIT, headline } from '../spec/scenarios.js';
import { SPEC_TRANSPORTS, findRow, type SpecRow } from '../spec/suite.js';
import { evaluateTargets, ratio } from '../spec/targets.js';
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
        ...SYSTEMS.map((s) => cell(findRow(rows, transport, scenario, s))),
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
