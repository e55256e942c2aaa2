import { describe, expect, it } from 'vitest';
import { InvalidOption } from '../errors.js';
import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  it('without jitter: base × 2^(n-1), capped (dcc-mcp-core: 1000, 2000, 4000)', () => {
    const options = { base: 1000, max: 30_000, jitter: false };
    const delays = Array.from({ length: 8 }, (_, i) => backoffDelay(i + 1, options));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    // Far past the cap (2^(n-1) overflows to Infinity): still the cap.
    expect(backoffDelay(5000, options)).toBe(30_000);
  });

  it('with jitter: every delay within [d/2, d] of the un-jittered d, extremes included', () => {
    const base = { base: 100, max: 1000, jitter: false };
    for (let attempt = 1; attempt <= 10; attempt++) {
      const d = backoffDelay(attempt, base);
      expect(backoffDelay(attempt, { ...base, jitter: true, random: () => 0 })).toBe(d / 2);
      expect(backoffDelay(attempt, { ...base, jitter: true, random: () => 0.999_999 })).toBe(d);
      for (let i = 0; i < 200; i++) {
        const j = backoffDelay(attempt, { ...base, jitter: true });
        expect(j).toBeGreaterThanOrEqual(d / 2);
        expect(j).toBeLessThanOrEqual(d);
      }
    }
  });

  it('jitter actually spreads the delays', () => {
    const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(3, { base: 1000, max: 30_000, jitter: true })));
    expect(seen.size).toBeGreaterThan(1);
  });

  it('rejects attempt numbers below 1 or not integers', () => {
    const options = { base: 1000, max: 30_000, jitter: false };
    expect(() => backoffDelay(0, options)).toThrow(InvalidOption);
    expect(() => backoffDelay(1.5, options)).toThrow(InvalidOption);
  });
});
