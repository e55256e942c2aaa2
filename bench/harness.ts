/**
 * What a scenario of the extra groups is.
 */
import type { RunBudget } from './lib/loops.js';
import type { TransportKind } from './lib/sockets.js';
import type { Sample } from './lib/stats.js';
import type { ServerPool } from './servers.js';

/** Where the server runs: a separate Node process, or the benchmark's own event loop. */
export type Placement = 'child' | 'in-process';
/** What answers the calls. `raw` is a bare net echo server: the transport's floor. */
export type Impl = 'wirecall' | 'grpc-js' | 'raw';

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

// micro.ts still reaches these through here; they live in lib/ now.
export { batchLoop } from './lib/loops.js';
export { payload, rng } from './lib/inputs.js';
