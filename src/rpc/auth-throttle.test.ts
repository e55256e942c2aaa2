import { describe, expect, it } from 'vitest';
import { AuthThrottle, LOCAL_PEER } from './auth-throttle.js';
import { RefusalMeter } from './refusal-meter.js';

describe('AuthThrottle', () => {
  it('doubles the delay per failure up to maxDelay', () => {
    const t = new AuthThrottle({ baseDelay: 100, maxDelay: 1000, maxFailures: 100 });
    expect([1, 2, 3, 4, 5, 6].map(() => t.failed('10.0.0.1', 0))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('bans a network peer after maxFailures, for banTime, and only that peer', () => {
    const t = new AuthThrottle({ maxFailures: 3, banTime: 1000 });
    for (let i = 0; i < 3; i++) t.failed('10.0.0.1', 0);
    expect(t.bannedFor('10.0.0.1', 10)).toBe(990);
    expect(t.bannedFor('10.0.0.2', 10)).toBe(0);
    expect(t.bannedFor('10.0.0.1', 1000)).toBe(0);
  });

  it('never bans the local key', () => {
    const t = new AuthThrottle({ maxFailures: 2 });
    for (let i = 0; i < 10; i++) t.failed(LOCAL_PEER, 0);
    expect(t.bannedFor(LOCAL_PEER, 0)).toBe(0);
  });

  it('forgets failures older than banTime, and a success clears them', () => {
    const t = new AuthThrottle({ baseDelay: 10, banTime: 1000 });
    t.failed('a', 0);
    t.failed('a', 0);
    expect(t.failed('a', 5000)).toBe(10);
    t.failed('b', 0);
    t.passed('b');
    expect(t.failed('b', 1)).toBe(10);
  });

  it('remembers a bounded number of peers', () => {
    const t = new AuthThrottle({ maxFailures: 1, banTime: 60_000 });
    t.failed('first', 0);
    for (let i = 0; i < 10_000; i++) t.failed(`p${i}`, 0);
    expect(t.bannedFor('first', 1)).toBe(0);
    expect(t.bannedFor('p9999', 1)).toBeGreaterThan(0);
  });
});

describe('RefusalMeter', () => {
  it('passes the limit within one second, and starts again the next', () => {
    const m = new RefusalMeter(3);
    expect([0, 1, 2, 3].map((t) => m.note(1000 + t))).toEqual([false, false, false, true]);
    expect(m.note(2001)).toBe(false);
  });
});
