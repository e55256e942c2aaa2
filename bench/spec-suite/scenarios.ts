/**
 * The scenarios of issue 4: what one operation of each is, the loop a client process
 * runs it in, and the value it is judged by.
 */
import { closedLoop, type RunBudget } from '../lib/loops.js';
import type { RunMetrics, Sample } from '../lib/stats.js';
import { CHUNK_SIZE, type StreamKind, type SystemClient } from '../systems/common.js';

/** The scenarios, by the names used in the JSON. */
export type SpecScenario = 'unary-c1' | 'unary-c256' | 'stream-small' | 'stream-64k';
export const SPEC_SCENARIOS: readonly SpecScenario[] = ['unary-c1', 'unary-c256', 'stream-small', 'stream-64k'];

export const UNIT: Record<SpecScenario, string> = {
  'unary-c1': 'calls/s',
  'unary-c256': 'calls/s',
  'stream-small': 'messages/s',
  'stream-64k': 'MB/s',
};

/** Messages per stream request: a run is a sequence of such streams. */
export const STREAM_COUNT: Record<StreamKind, number> = { small: 10_000, chunks: 128 };

/** The value a scenario is judged by: MB/s for stream-64k, operations/s otherwise. */
export function headline(scenario: SpecScenario, m: RunMetrics | undefined): number | undefined {
  if (m === undefined) return undefined;
  return scenario === 'stream-64k' ? m.mbPerSec : m.opsPerSec;
}

/** One run of `scenario` with a client of any system. */
export async function runScenario(client: SystemClient, scenario: SpecScenario, budget: RunBudget): Promise<Sample> {
  switch (scenario) {
    case 'unary-c1':
      return closedLoop([client.unary], 1, budget);
    case 'unary-c256':
      return closedLoop([client.unary], 256, budget);
    case 'stream-small':
      return streamLoop(client, 'small', budget);
    case 'stream-64k':
      return streamLoop(client, 'chunks', budget);
  }
}

/** Streams of `count` messages, one after another, until the budget is spent. */
async function streamLoop(client: SystemClient, kind: StreamKind, budget: RunBudget): Promise<Sample> {
  const count = STREAM_COUNT[kind];
  let messages = 0;
  const start = performance.now();
  const deadline = start + budget.ms;
  do {
    const n = await client.stream!(kind, count);
    if (n !== count) throw new Error(`stream ${kind}: received ${n} messages, expected ${count}`);
    messages += n;
  } while (performance.now() < deadline && messages < budget.maxOps);
  const sample: Sample = { ops: messages, seconds: (performance.now() - start) / 1000 };
  if (kind === 'chunks') sample.bytes = messages * CHUNK_SIZE;
  return sample;
}
