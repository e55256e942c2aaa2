/** A call's deadline, computed once; and why a peer's CANCEL ended a call of ours. */
import { describe, expect, it } from 'vitest';
import { CallCancelled, DeadlineExceeded, InvalidArgument } from '../errors.js';
import { callDeadline, cancelReason } from './deadline.js';

describe('callDeadline', () => {
  it('an absolute deadline wins over a timeout, which wins over the default; none or Infinity: no deadline', () => {
    const now = Date.now();
    expect(callDeadline({ deadline: now + 1000, timeout: 5 }, 7)!.at).toBe(now + 1000);
    const t = callDeadline({ timeout: 250 }, 7)!;
    expect(t.wireMs).toBe(250);
    expect(t.at).toBeGreaterThanOrEqual(now + 250);
    expect(callDeadline({}, 40)!.wireMs).toBe(40);
    expect(callDeadline(undefined, undefined)).toBeUndefined();
    expect(callDeadline({ timeout: Infinity }, 40)).toBeUndefined();
    expect(() => callDeadline({ timeout: -1 }, undefined)).toThrow(InvalidArgument);
  });
});

describe('cancelReason', () => {
  it("a CANCEL at (or just before) our own deadline is the deadline: the caller's timer fired", () => {
    expect(cancelReason(Date.now() - 1, 'render')).toBeInstanceOf(DeadlineExceeded);
    expect(cancelReason(Date.now() + 2, 'render')).toBeInstanceOf(DeadlineExceeded);
    expect(cancelReason(Date.now() - 1, 'render').message).toBe('deadline of render passed');
  });

  it('a CANCEL well before the deadline, or for a call without one, is the caller cancelling', () => {
    expect(cancelReason(Date.now() + 10_000, 'render')).toBeInstanceOf(CallCancelled);
    expect(cancelReason(0, 'render')).toBeInstanceOf(CallCancelled);
  });
});
