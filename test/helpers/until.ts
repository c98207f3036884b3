// Waiting for a condition in a test: one polling helper for every wait (a row written, a count reached, a port
// answering again), so that a wait that never ends fails with what it waited for instead of the test timeout.
import { setTimeout as delay } from 'node:timers/promises';

// Well inside the 30 s test timeout, and long enough for a loaded 2-core machine.
export const UNTIL_TIMEOUT_MS = 10_000;
// Short enough that a test goes on within a few ms of the condition holding, long enough not to busy the loop.
export const UNTIL_INTERVAL_MS = 10;

/**
 * Waits for `what`: calls `probe` (sync or async) every `intervalMs` until it returns something other than
 * `undefined` or `false`, and resolves with that value. After `timeoutMs` it rejects with an Error naming
 * `what` and the timeout; a function `what` is read then, so it can tell the state at that moment. A probe
 * that throws ends the wait with its error.
 */
export async function until<T>(
  what: string | (() => string),
  probe: () => T | undefined | false | PromiseLike<T | undefined | false>,
  timeoutMs = UNTIL_TIMEOUT_MS,
  intervalMs = UNTIL_INTERVAL_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await delay(intervalMs);
  }
}
