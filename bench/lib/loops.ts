/**
 * The loops every measurement runs in, each bounded twice (by a time budget and by a
 * count), and a time limit for anything that might hang.
 */
import { LatencyRecorder, type Sample } from './stats.js';

/** How long one run may take, and how many operations it may do at most. */
export interface RunBudget {
  ms: number;
  maxOps: number;
}

/**
 * Closed loop: `concurrency` workers per op function, each issuing its next call as soon
 * as the previous one settles, until the time budget or the op count runs out. With one
 * op and concurrency 1 this is a plain sequential `await` loop.
 */
export async function closedLoop(
  ops: readonly (() => Promise<unknown>)[],
  concurrency: number,
  budget: RunBudget,
  bytesPerOp?: number,
): Promise<Sample> {
  const latencies = new LatencyRecorder();
  let issued = 0;
  let failure: unknown;
  const start = performance.now();
  const deadline = start + budget.ms;
  const worker = async (op: () => Promise<unknown>): Promise<void> => {
    while (issued < budget.maxOps && failure === undefined) {
      const t0 = performance.now();
      if (t0 >= deadline) break;
      issued++;
      try {
        await op();
      } catch (err) {
        failure ??= err;
        return;
      }
      latencies.push((performance.now() - t0) * 1000);
    }
  };
  const workers: Promise<void>[] = [];
  for (const op of ops) for (let i = 0; i < concurrency; i++) workers.push(worker(op));
  await Promise.all(workers);
  if (failure !== undefined) throw failure;
  const seconds = (performance.now() - start) / 1000;
  const sample: Sample = { ops: latencies.count, seconds, latencies };
  if (bytesPerOp !== undefined) sample.bytes = latencies.count * bytesPerOp;
  return sample;
}

/**
 * Repeat a synchronous batch (e.g. 1 000 decodes) until the budget is spent; for
 * micro-benchmarks, where timing every single operation would cost more than the
 * operation itself.
 */
export function batchLoop(batch: () => { ops: number; bytes?: number }, budget: RunBudget): Sample {
  let ops = 0;
  let bytes = 0;
  let counted = false;
  const start = performance.now();
  const deadline = start + budget.ms;
  do {
    const r = batch();
    ops += r.ops;
    if (r.bytes !== undefined) {
      bytes += r.bytes;
      counted = true;
    }
  } while (ops < budget.maxOps && performance.now() < deadline);
  const sample: Sample = { ops, seconds: (performance.now() - start) / 1000 };
  if (counted) sample.bytes = bytes;
  return sample;
}

/** Reject with a clear message if `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
