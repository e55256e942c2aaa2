/**
 * What a scenario is, how long it may run, and the closed-loop driver every call
 * benchmark uses. Every loop here is bounded twice: by a time budget and by a count.
 */
import type { ServerPool } from './servers.js';
import { LatencyRecorder, type Sample } from './stats.js';

export type TransportKind = 'tcp' | 'unix';
/** Where the server runs: a separate Node process, or the benchmark's own event loop. */
export type Placement = 'child' | 'in-process';
/** What answers the calls. `raw` is a bare net echo server: the transport's floor. */
export type Impl = 'wirecall' | 'grpc-js' | 'raw';

export const TRANSPORTS: readonly TransportKind[] = ['tcp', 'unix'];

export interface BenchConfig {
  quick: boolean;
  /** Measured runs per scenario; the tables show the median. */
  runs: number;
  /** Time budget of one measured run, ms. */
  runMs: number;
  /** One unmeasured run of this many ms before the measured ones. */
  warmupMs: number;
  /** A freshly started server first gets this many ms of pipelined echo calls. */
  serverWarmupMs: number;
  /** Hard cap on operations in one run, whatever the time budget says. */
  maxOps: number;
}

export interface RunBudget {
  ms: number;
  maxOps: number;
}

export interface ScenarioContext {
  config: BenchConfig;
  servers: ServerPool;
}

/** A scenario ready to run: connections open, inputs built. */
export interface Prepared {
  run(budget: RunBudget): Promise<Sample>;
  close(): Promise<void>;
}

export interface Scenario {
  /** Unique; what `--filter` matches, e.g. `unary/latency/tcp/child/wirecall`. */
  id: string;
  group: string;
  /** Row label in the table, e.g. `sequential (1 in flight)`. */
  title: string;
  impl: Impl;
  server?: Placement;
  transport?: TransportKind;
  /** Unit of `ops` in the table header, e.g. `calls/s`. */
  unit: string;
  /** Scenarios with the same key compare wirecall with grpc-js in the summary. */
  compareKey?: string;
  /** Free-form parameters, kept in the JSON. */
  params?: Record<string, string | number | boolean>;
  /** Scale the time budget (e.g. 0.5 for the many payload rows). */
  timeScale?: number;
  prepare(ctx: ScenarioContext): Promise<Prepared>;
}

export function implLabel(impl: Impl): string {
  return impl === 'raw' ? 'raw bytes' : impl;
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

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Deterministic PRNG (mulberry32) so every run feeds the micro-benchmarks the same input. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Buffer of `size` bytes with a recognisable, non-constant pattern. */
export function payload(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}
