/**
 * Runs the scenarios of one group: each is prepared, warmed up and measured `runs`
 * times, every step with a time limit, so a wedged scenario fails instead of hanging the
 * suite. The group's servers start on first use and close when the group ends.
 */
import os from 'node:os';
import { withTimeout } from '../lib/loops.js';
import { medianMetrics, spread, toMetrics, type RunMetrics } from '../lib/stats.js';
import { implLabel } from './echo.js';
import type { GroupConfig, Prepared, Scenario } from './scenario.js';
import { ServerPool } from './servers.js';

export interface ScenarioResult {
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

/** Run `scenarios` one after the other; `done` hears of each result as it comes. */
export async function runGroup(scenarios: readonly Scenario[], config: GroupConfig, done: (result: ScenarioResult) => void): Promise<ScenarioResult[]> {
  const servers = new ServerPool(config.serverWarmupMs);
  const results: ScenarioResult[] = [];
  try {
    for (const s of scenarios) {
      const r = await runScenario(s, config, servers);
      results.push(r);
      done(r);
    }
  } finally {
    await servers.closeAll();
  }
  return results;
}

async function runScenario(s: Scenario, config: GroupConfig, servers: ServerPool): Promise<ScenarioResult> {
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
