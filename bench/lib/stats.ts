/**
 * Numbers and tables: latency recording, percentiles, medians across runs, and the
 * Markdown formatting shared by every group.
 */

/** One timed run of a scenario. */
export interface Sample {
  /** Operations completed (calls, notifications, frames, ...). */
  ops: number;
  /** Wall-clock seconds the operations took. */
  seconds: number;
  /** Payload bytes moved, when the scenario counts bytes. */
  bytes?: number;
  /** Per-operation latencies in µs, when the scenario measures them. */
  latencies?: LatencyRecorder;
}

/** What is kept of one run: rates and latency percentiles, no raw samples. */
export interface RunMetrics {
  ops: number;
  seconds: number;
  opsPerSec: number;
  mbPerSec?: number;
  p50Us?: number;
  p99Us?: number;
}

/** Grows like a vector but stores plain doubles: no boxing, no GC churn per call. */
export class LatencyRecorder {
  private data: Float64Array;
  private n = 0;

  constructor(initialCapacity = 1 << 14) {
    this.data = new Float64Array(initialCapacity);
  }

  get count(): number {
    return this.n;
  }

  push(us: number): void {
    if (this.n === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.n++] = us;
  }

  /** Sorted copy of what was recorded. */
  sorted(): Float64Array {
    return this.data.slice(0, this.n).sort();
  }
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function toMetrics(sample: Sample): RunMetrics {
  const m: RunMetrics = {
    ops: sample.ops,
    seconds: sample.seconds,
    opsPerSec: sample.seconds > 0 ? sample.ops / sample.seconds : 0,
  };
  if (sample.bytes !== undefined && sample.seconds > 0) m.mbPerSec = sample.bytes / sample.seconds / 1e6;
  if (sample.latencies !== undefined && sample.latencies.count > 0) {
    const s = sample.latencies.sorted();
    m.p50Us = percentile(s, 50);
    m.p99Us = percentile(s, 99);
  }
  return m;
}

/** The median of every metric across runs (each metric on its own). */
export function medianMetrics(runs: readonly RunMetrics[]): RunMetrics {
  const pick = (f: (r: RunMetrics) => number | undefined): number | undefined => {
    const values = runs.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v));
    return values.length === 0 ? undefined : median(values);
  };
  const m: RunMetrics = {
    ops: pick((r) => r.ops) ?? 0,
    seconds: pick((r) => r.seconds) ?? 0,
    opsPerSec: pick((r) => r.opsPerSec) ?? 0,
  };
  const mb = pick((r) => r.mbPerSec);
  const p50 = pick((r) => r.p50Us);
  const p99 = pick((r) => r.p99Us);
  if (mb !== undefined) m.mbPerSec = mb;
  if (p50 !== undefined) m.p50Us = p50;
  if (p99 !== undefined) m.p99Us = p99;
  return m;
}

/** (max − min) / median of a metric across runs: how much the runs disagree. */
export function spread(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const med = median(values);
  return med === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / med;
}

// ------------------------------------------------------------------ formatting

/** 1234567 → "1,234,567"; fractional values keep `digits` decimals. */
export function fmtNum(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Three significant digits, grouped: 0.0123 → "0.0123", 12.34 → "12.3", 123456 → "123,456". */
export function fmtSig(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return fmtNum(value, digits);
}

export function fmtPercent(fraction: number): string {
  return `${(fraction * 100).toFixed(fraction < 0.1 ? 1 : 0)}%`;
}

export function fmtBytes(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} B`;
}

export type Align = 'left' | 'right';

/** A GitHub-flavoured Markdown table with padded columns (readable as plain text too). */
export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[], align?: readonly Align[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length), 3));
  const al = (i: number): Align => align?.[i] ?? (i === 0 ? 'left' : 'right');
  const pad = (text: string, i: number): string => (al(i) === 'right' ? text.padStart(widths[i]!) : text.padEnd(widths[i]!));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => pad(c, i)).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (al(i) === 'right' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}
