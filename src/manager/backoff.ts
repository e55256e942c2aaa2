/**
 * Reconnect delays: exponential from `base`, doubling per attempt, capped at `max`.
 *
 * Without jitter attempt n waits exactly min(max, base × 2^(n-1)): 1000, 2000, 4000 ms
 * with the defaults, as dcc-mcp-core's begin_reconnect. With jitter ("equal jitter") it
 * waits a uniformly random time in [d/2, d] for that d: clients that lost the same
 * server at the same moment spread out, yet the delay still grows with each attempt.
 */
import { InvalidOption } from '../errors.js';

export interface BackoffOptions {
  /** Delay of the first attempt, in ms. */
  base: number;
  /** No delay exceeds this, in ms. */
  max: number;
  /** Spread each delay over [d/2, d]. */
  jitter: boolean;
  /** Source of randomness in [0, 1); Math.random by default. */
  random?: () => number;
}

/** Delay in ms before reconnect attempt `attempt` (1-based). */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new InvalidOption(`attempt must be an integer >= 1, got ${attempt}`);
  // 2^(n-1) overflows to Infinity for huge n; min() keeps the cap either way.
  const full = Math.min(options.max, options.base * 2 ** (attempt - 1));
  if (!options.jitter) return full;
  const random = options.random ?? Math.random;
  return Math.round(full / 2 + random() * (full / 2));
}
