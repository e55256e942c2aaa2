/**
 * A call's deadline, computed once where the call or stream is made, then passed along:
 * the absolute time our timer fires (TimerQueue `dueAt`) and the relative value the
 * peer receives, which becomes the absolute `ctx.deadline` on its side.
 */
import { CallCancelled, DeadlineExceeded, InvalidArgument } from '../errors.js';
import { wireTimeout } from '../wire/encode.js';

export interface Deadline {
  /** `Date.now()` ms at which the call expires here. */
  readonly at: number;
  /** The timeout the peer receives (uint32 ms). */
  readonly wireMs: number;
}

/**
 * From a call's options: an absolute `deadline` wins over a relative `timeout`, which
 * falls back to the connection's default. None (or Infinity): undefined. A negative or
 * NaN value is the caller's mistake.
 */
export function callDeadline(options: { timeout?: number; deadline?: number } | undefined, defaultTimeout: number | undefined): Deadline | undefined {
  const absolute = options?.deadline;
  // The clock is read only for a call that has a deadline: most have none.
  if (absolute === undefined && options?.timeout === undefined && defaultTimeout === undefined) return undefined;
  const now = Date.now();
  let timeout = absolute !== undefined ? Math.max(0, absolute - now) : (options?.timeout ?? defaultTimeout)!;
  if (timeout === Infinity) return undefined;
  if (!(timeout >= 0)) throw new InvalidArgument(`timeout must be >= 0 ms, got ${timeout}`);
  timeout = Math.min(timeout, Number.MAX_SAFE_INTEGER);
  return { at: now + timeout, wireMs: wireTimeout(timeout)! };
}

/** The absolute deadline of a call that arrived with `timeoutMs` (nil: none). */
export function deadlineFromWire(timeoutMs: number | null): number | undefined {
  return timeoutMs === null ? undefined : Date.now() + timeoutMs;
}

/**
 * How close to our own deadline a peer's CANCEL may arrive and still be taken for it: the
 * caller's timer fires first (its deadline started before ours, by the transit time), so
 * a CANCEL sent by the caller's deadline arrives just before or after ours would fire.
 */
const DEADLINE_CANCEL_SLACK_MS = 5;

/**
 * Why a peer's CANCEL ends a call or stream of ours that has deadline `dueAt` (0: none):
 * its deadline when that is due or all but due, else the caller's cancellation.
 */
export function cancelReason(dueAt: number, method: string): CallCancelled | DeadlineExceeded {
  if (dueAt !== 0 && Date.now() >= dueAt - DEADLINE_CANCEL_SLACK_MS) return new DeadlineExceeded(`deadline of ${method} passed`);
  return new CallCancelled('cancelled by the caller');
}
