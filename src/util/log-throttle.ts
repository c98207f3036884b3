// When a log line may be written, for events others decide the rate of (refused tokens, refused TLS
// renegotiations, a push consumer's failures): a line per event would let a client or a dead endpoint drown the
// log, so at most one goes out per interval and the others are counted into the next. The caller words its lines;
// the time comes in with each event, so the rule holds on any clock.

export class LogThrottle {
  readonly #intervalMs: number;
  #lastLineAt = -Infinity;
  #heldBack = 0;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /**
   * Writes a line through `write`, given how many were held back since the last one, unless a line went out
   * within the interval: then this one is held back and counted. Returns whether it was written.
   */
  maybeWrite(now: number, write: (heldBack: number) => void): boolean {
    if (now - this.#lastLineAt < this.#intervalMs) {
      this.#heldBack++;
      return false;
    }
    this.write(now, write);
    return true;
  }

  /** Writes a line whatever the interval (one that must not be lost, such as the end of what a line told of). */
  write(now: number, write: (heldBack: number) => void): void {
    write(this.#heldBack);
    this.#lastLineAt = now;
    this.#heldBack = 0;
  }
}
