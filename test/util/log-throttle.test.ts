// LogThrottle (refused tokens and renegotiations, a push consumer's failures): at most one line per interval,
// the events held back counted into the next line, on whatever clock the caller reads.
import { expect, test } from 'vitest';
import { LogThrottle } from '../../src/util/log-throttle.js';

/** A throttle whose written lines land in `lines`, as the number held back before each. */
function make(intervalMs: number) {
  const throttle = new LogThrottle(intervalMs);
  const lines: number[] = [];
  const record = (heldBack: number): void => void lines.push(heldBack);
  return { throttle, lines, record };
}

test('the first event is written at once, whatever the clock reads', () => {
  const { throttle, lines, record } = make(1000);
  expect(throttle.maybeWrite(0, record)).toBe(true);
  expect(lines).toEqual([0]);
});

test('events within the interval of the last line are held back, and counted into the next line', () => {
  const { throttle, lines, record } = make(1000);
  throttle.maybeWrite(5000, record);
  for (const at of [5001, 5500, 5999]) expect(throttle.maybeWrite(at, record)).toBe(false);
  expect(lines).toEqual([0]);
  expect(throttle.maybeWrite(6000, record)).toBe(true);
  expect(throttle.maybeWrite(7000, record)).toBe(true);
  expect(lines).toEqual([0, 3, 0]);
});

test('the interval runs from the last line written, not from the last event held back', () => {
  const { throttle, lines, record } = make(1000);
  throttle.maybeWrite(0, record);
  for (let at = 100; at < 1000; at += 100) throttle.maybeWrite(at, record);
  expect(throttle.maybeWrite(1000, record)).toBe(true);
  expect(lines).toEqual([0, 9]);
});

test('write() goes out within the interval, takes the count held back, and starts the interval again', () => {
  const { throttle, lines, record } = make(1000);
  throttle.maybeWrite(0, record);
  throttle.maybeWrite(10, record);
  throttle.maybeWrite(20, record);
  throttle.write(500, record);
  expect(throttle.maybeWrite(1200, record)).toBe(false);
  expect(throttle.maybeWrite(1500, record)).toBe(true);
  expect(lines).toEqual([0, 2, 1]);
});
