// Retry delays for push delivery (src/delivery/backoff.ts): exponential ceilings from the base, capped, with
// full jitter (a uniform pick below the ceiling). The random source is injected, so every bound is exact.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { backoffDelayMs, DEFAULT_BACKOFF, type BackoffPolicy } from '../../src/delivery/backoff.js';

/** The largest value Math.random() can return. */
const ALMOST_ONE = 1 - Number.EPSILON / 2;

describe('backoffDelayMs', () => {
  test('the default policy starts at 100 ms and is capped at 30 s', () => {
    expect(DEFAULT_BACKOFF).toEqual({ baseMs: 100, maxMs: 30_000 });
  });

  test('the ceiling doubles with each attempt from the base, then stays at the cap', () => {
    const ceilings = Array.from({ length: 12 }, (_, attempt) => backoffDelayMs(attempt, DEFAULT_BACKOFF, () => ALMOST_ONE));
    expect(ceilings).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000, 30_000]);
  });

  test('a random pick of 0 retries at once, whatever the attempt', () => {
    for (const attempt of [0, 1, 5, 20]) expect(backoffDelayMs(attempt, DEFAULT_BACKOFF, () => 0)).toBe(0);
  });

  test('full jitter: the delay is the random fraction of the ceiling', () => {
    expect(backoffDelayMs(0, DEFAULT_BACKOFF, () => 0.5)).toBe(50);
    expect(backoffDelayMs(3, DEFAULT_BACKOFF, () => 0.25)).toBe(200);
    expect(backoffDelayMs(20, DEFAULT_BACKOFF, () => 0.1)).toBe(3000);
  });

  test('very large attempt numbers stay at the cap instead of overflowing', () => {
    for (const attempt of [31, 100, 1024, Number.MAX_SAFE_INTEGER]) {
      const delay = backoffDelayMs(attempt, DEFAULT_BACKOFF, () => ALMOST_ONE);
      expect(delay, `attempt ${attempt}`).toBe(30_000);
    }
  });

  test('a custom policy is followed', () => {
    const policy: BackoffPolicy = { baseMs: 10, maxMs: 50 };
    expect([0, 1, 2, 3, 4].map((a) => backoffDelayMs(a, policy, () => ALMOST_ONE))).toEqual([10, 20, 40, 50, 50]);
  });

  test('for any attempt and random pick, the delay is a whole number of ms between 0 and min(cap, base * 2^attempt)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 10_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        (attempt, r, baseMs, extra) => {
          const policy = { baseMs, maxMs: baseMs + extra };
          const delay = backoffDelayMs(attempt, policy, () => r);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(Math.min(policy.maxMs, baseMs * 2 ** Math.min(attempt, 60)));
        },
      ),
    );
  });

  test('with the real random source, delays spread over the whole range below the ceiling', () => {
    const delays = Array.from({ length: 2000 }, () => backoffDelayMs(3));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(800);
    expect(Math.min(...delays)).toBeLessThan(80);
    expect(Math.max(...delays)).toBeGreaterThan(720);
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
    expect(mean).toBeGreaterThan(350);
    expect(mean).toBeLessThan(450);
  });
});
