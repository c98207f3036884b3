// What a push consumer's failures say in the log: a refused port retried with backoff, or a webhook
// answering 500 to every message, fails again and again, and a line per attempt would drown the log. So:
// the first failure of a run is a warning (with the error), then one line per interval at most while it goes
// on (with how many failed since the last line), and one info line when the consumer takes deliveries
// again. A consumer that flaps (fails, recovers, fails...) is told about at most once per interval too: a run
// that begins within the interval of the last line is not announced, and neither is its end.
import type { Logger } from '../logger.js';

export class FailureLog {
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #now: () => number;
  /** When the current run of failures began; undefined while delivering. */
  #failingSince: number | undefined;
  /** Whether a line told of the current run (so its end is told too). */
  #announced = false;
  /** Failures of the current run, and those not told of since the last line. */
  #failures = 0;
  #untold = 0;
  #lastLineAt = -Infinity;

  constructor(logger: Logger, intervalMs: number, now: () => number) {
    this.#log = logger;
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  failed(error: string): void {
    const now = this.#now();
    this.#failures++;
    const quiet = now - this.#lastLineAt < this.#intervalMs;
    if (this.#failingSince === undefined) {
      this.#failingSince = now;
      this.#announced = !quiet;
      if (quiet) this.#untold++;
      else {
        // Failures of runs that were not told of (a flapping consumer), counted in.
        const untold = this.#untold;
        this.#line(now, () => this.#log.warn('push consumer failing; retrying with backoff', { error, ...(untold > 0 ? { failures_since_last_line: untold + 1 } : {}) }));
      }
      return;
    }
    if (quiet) {
      this.#untold++;
      return;
    }
    const failures = this.#untold + 1;
    const since = new Date(this.#failingSince).toISOString();
    this.#announced = true;
    this.#line(now, () => this.#log.warn('push consumer still failing', { error, failures_since_last_line: failures, failing_since: since }));
  }

  /** A delivery (or for a connection-based consumer, a connection) went through. */
  succeeded(): void {
    if (this.#failingSince === undefined) return;
    const now = this.#now();
    if (this.#announced) {
      const failures = this.#failures;
      const failingMs = now - this.#failingSince;
      this.#line(now, () => this.#log.info('push consumer delivering again', { failures, failing_ms: failingMs }));
    }
    this.#failingSince = undefined;
    this.#announced = false;
    this.#failures = 0;
  }

  #line(now: number, write: () => void): void {
    write();
    this.#lastLineAt = now;
    this.#untold = 0;
  }
}
