/**
 * What a run leaves behind besides the tables: the machine and commit it measured, the
 * spec results in issue 4's JSON format (--json), and files written for them.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MemoryResult } from '../groups/memory.js';
import { headline } from '../spec-suite/scenarios.js';
import type { SpecRow } from '../spec-suite/suite.js';
import { evaluateTargets } from '../spec-suite/targets.js';

/** The commit measured, and whether src/ differs from it ('+dirty'). */
export function revision(root: string): string {
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', ':/src') === '' ? '' : '+dirty'}`;
  } catch {
    return process.env.WIRECALL_BENCH_REVISION ?? 'unknown';
  }
}

export interface Machine {
  node: string;
  v8: string;
  platform: string;
  cpu: string;
  cpus: number;
  memoryGiB: number;
}

/** One line, for the JSON's `machine`. */
export function machineText(m: Machine): string {
  return `${m.cpu}, ${m.cpus} vCPUs, ${m.memoryGiB} GiB, ${m.platform}`;
}

export function machine(): Machine {
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

export function loadText(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
}

/** The spec results in issue 4's format. */
export function specJson(rows: readonly SpecRow[], memory: MemoryResult | undefined, extra: Record<string, unknown>): unknown {
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
    targets: [...evaluateTargets(rows, 'unix'), ...evaluateTargets(rows, 'tcp'), ...evaluateTargets(rows, 'tls')],
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

/** Write `value` as indented JSON, creating the directory if needed. */
export async function writeJson(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}
