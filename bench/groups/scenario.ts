/**
 * What a scenario of the extra groups is: an id, how its table row is labelled, and how
 * to prepare it; prepared, it runs within a budget and yields a sample.
 */
import { payload } from '../lib/inputs.js';
import type { RunBudget } from '../lib/loops.js';
import type { TransportKind } from '../lib/sockets.js';
import type { Sample } from '../lib/stats.js';
import type { Impl } from './echo.js';
import type { Placement, ServerPool } from './servers.js';

export interface GroupConfig {
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
  config: GroupConfig;
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

/** The "small" argument of every unary call and notification: 32 opaque bytes. */
export const SMALL = payload(32);
