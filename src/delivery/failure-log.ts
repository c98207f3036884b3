// What a push consumer's failures say in the log: a refused port retried with backoff, or a webhook
// answering 500 to every message, fails again and again, and a line per attempt would drown the log. So:
// the first failure of a run is a warning (with the error), then one line per interval at most while it goes
// on (with how many failed since the last line), and one info line when the consumer takes deliveries
// again. A consumer that flaps (fails, recovers, fails...) is told about at most once per interval too: a run
// that begins within the interval of the last line is not announced, and neither is its end.
import type { Logger } from '../logger.js';
import { LogThrottle } from '../util/log-throttle.js';

export class FailureLog {
  readonly #log: Logger;
  readonly #now: () => number;
  /** Lines of this consumer, at most one per interval; the failures held back are counted into the next. */
  readonly #lines: LogThrottle;
  /** When the current run of failures began; undefined while delivering. */
  #failingSince: number | undefined;
  /** Whether a line told of the current run (so its end is told too). */
  #announced = false;
  /** Failures of the current run. */
  #failures = 0;

  constructor(logger: Logger, intervalMs: number, now: () => number) {
    this.#log = logger;
    this.#lines = new LogThrottle(intervalMs);
    this.#now = now;
  }

  failed(error: string): void {
    const now = this.#now();
    this.#failures++;
    if (this.#failingSince === undefined) {
      this.#failingSince = now;
      // Failures of runs that were not told of (a flapping consumer), counted in.
      this.#announced = this.#lines.maybeWrite(now, (untold) => {
        this.#log.warn('push consumer failing; retrying with backoff', { error, ...(untold > 0 ? { failures_since_last_line: untold + 1 } : {}) });
      });
      return;
    }
    const failingSince = this.#failingSince;
    const told = this.#lines.maybeWrite(now, (untold) => {
      this.#log.warn('push consumer still failing', { error, failures_since_last_line: untold + 1, failing_since: new Date(failingSince).toISOString() });
    });
    if (told) this.#announced = true;
  }

  /** A delivery (or for a connection-based consumer, a connection) went through. */
  succeeded(): void {
    if (this.#failingSince === undefined) return;
    const now = this.#now();
    if (this.#announced) {
      const failures = this.#failures;
      const failingMs = now - this.#failingSince;
      this.#lines.write(now, () => this.#log.info('push consumer delivering again', { failures, failing_ms: failingMs }));
    }
    this.#failingSince = undefined;
    this.#announced = false;
    this.#failures = 0;
  }
}
